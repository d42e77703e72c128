"""The settlement worker starts, declares its durable work-queue consumer, answers probes,
and stops on SIGTERM."""

from pathlib import Path

from fanfare_core.settings import Settings
from fanfare_testing import check_worker_lifecycle


async def test_settlement_worker_is_ready_with_its_consumer_and_stops_cleanly(
    settings: Settings, tmp_path: Path
) -> None:
    await check_worker_lifecycle(
        "settlement-worker", settings, tmp_path, "FANFARE_SETTLEMENT", "settlement-worker"
    )
