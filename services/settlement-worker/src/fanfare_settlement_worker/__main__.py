"""``python -m fanfare_settlement_worker``: the settlement worker."""

from __future__ import annotations

import uvloop

from fanfare_core.events.catalogue import SETTLEMENT_CONSUMER
from fanfare_core.settings import service_settings
from fanfare_core.worker import run_worker
from fanfare_settlement_worker.loop import run_settlement_worker


def main() -> None:
    settings = service_settings("settlement-worker", default_port=8083)
    # The loop the APIs run on too. Relaying a crowd's events is I/O on three servers:
    # beside the enter benchmark the relaying worker used 30-34 % of a core on asyncio's
    # own loop, 19-30 % on uvloop.
    uvloop.run(run_worker(settings, SETTLEMENT_CONSUMER, run_settlement_worker))


if __name__ == "__main__":
    main()
