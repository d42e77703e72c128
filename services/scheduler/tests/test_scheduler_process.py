"""The scheduler starts, declares its durable consumer, answers probes, stops on SIGTERM."""

from pathlib import Path

from fanfare_core.settings import Settings
from fanfare_testing import check_worker_lifecycle


async def test_scheduler_is_ready_with_its_consumer_and_stops_cleanly(
    settings: Settings, tmp_path: Path
) -> None:
    await check_worker_lifecycle("scheduler", settings, tmp_path, "FANFARE_EVENTS", "scheduler")
