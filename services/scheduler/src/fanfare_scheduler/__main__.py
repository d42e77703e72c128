"""``python -m fanfare_scheduler``: the scheduler worker."""

from __future__ import annotations

import asyncio

from fanfare_core.events.catalogue import SCHEDULER_CONSUMER
from fanfare_core.settings import service_settings
from fanfare_core.worker import run_worker
from fanfare_scheduler.loop import run_scheduler


def main() -> None:
    settings = service_settings("scheduler", default_port=8082)
    asyncio.run(run_worker(settings, SCHEDULER_CONSUMER, run_scheduler))


if __name__ == "__main__":
    main()
