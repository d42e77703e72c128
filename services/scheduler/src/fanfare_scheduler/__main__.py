"""``python -m fanfare_scheduler``: the scheduler worker."""

from __future__ import annotations

import uvloop

from fanfare_core.events.catalogue import SCHEDULER_CONSUMER
from fanfare_core.settings import service_settings
from fanfare_core.worker import run_worker
from fanfare_scheduler.loop import run_scheduler


def main() -> None:
    settings = service_settings("scheduler", default_port=8082)
    # The loop the APIs run on too. Relaying a crowd's events is I/O on three servers:
    # beside the enter benchmark the relaying worker used 30-34 % of a core on asyncio's
    # own loop, 19-30 % on uvloop.
    uvloop.run(run_worker(settings, SCHEDULER_CONSUMER, run_scheduler))


if __name__ == "__main__":
    main()
