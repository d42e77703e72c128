"""The scheduler's two scenarios run end to end at smoke size and account for every queue.

Timings are never asserted (a test machine's figures mean nothing); what is checked is that
every scheduled transition and every update was measured, and that nothing opened early.
"""

from pathlib import Path

import pytest

from fanfare_bench.results import Result, Size
from fanfare_bench.scenarios import event_path, scheduler
from fanfare_bench.stack import open_stack

# Two scenarios with real waits (queues due over two seconds, processes started): ~15 s.
pytestmark = pytest.mark.slow


def by_name(results: list[Result]) -> dict[str, Result]:
    return {result.scenario: result for result in results}


@pytest.mark.usefixtures("session_servers")
async def test_the_scheduler_scenarios_measure_every_transition_and_update(
    tmp_path: Path,
) -> None:
    async with open_stack(tmp_path) as stack:
        lateness = by_name(await scheduler.run(stack, Size.SMOKE))
        path = by_name(await event_path.run(stack, Size.SMOKE))

    assert set(lateness) == {"scheduler baseline", "scheduler lateness"}
    assert "at the same 20 instants" in lateness["scheduler baseline"].figures
    # Every one of the 20 queues opened (the scenario raises otherwise), none before openAt.
    assert lateness["scheduler lateness"].figures.startswith("20 queue openings over 2 s:")
    assert "early 0;" in lateness["scheduler lateness"].figures
    assert lateness["scheduler lateness"].target == "p99 lateness ≤ 100 ms"

    assert set(path) == {"event path baseline", "event path"}
    assert path["event path"].figures.startswith("20 updates, 200 → scheduler applied:")
    assert path["event path"].target == "p99 ≤ 50 ms"
    # Smoke sizes say nothing about targets.
    assert all(result.met is None for result in [*lateness.values(), *path.values()])
