"""``python -m fanfare_settlement_worker``: the settlement worker."""

from __future__ import annotations

import asyncio

from fanfare_core.events.catalogue import SETTLEMENT_CONSUMER
from fanfare_core.settings import service_settings
from fanfare_core.worker import run_worker
from fanfare_settlement_worker.loop import run_settlement_worker


def main() -> None:
    settings = service_settings("settlement-worker", default_port=8083)
    asyncio.run(run_worker(settings, SETTLEMENT_CONSUMER, run_settlement_worker))


if __name__ == "__main__":
    main()
