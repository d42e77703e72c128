"""The draw scenario runs the draw in a process of its own: its figures come back from that
process, and a run stopped meanwhile stops that process too."""

import asyncio
import os
from pathlib import Path

import pytest

from fanfare_bench.scenarios import draw as scenario
from fanfare_bench.stack import Stack, open_stack

# A process started and a draw seeded for each test: a few seconds.
pytestmark = pytest.mark.slow


async def seeded_draw(stack: Stack, entries: int, winners: int) -> tuple[str, str]:
    tenant = await stack.tenant()
    draw = await scenario._make_draw(stack, tenant, winners)
    await scenario._seed(stack, tenant, draw, entries)
    return tenant.organization_id, draw


def children() -> set[int]:
    """The processes this one started that are still running."""
    found: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            listed = (task / "children").read_text()
        except FileNotFoundError:  # the thread ended since the listing; the kernel hands
            continue  # its children to another thread of the process
        found.update(int(pid) for pid in listed.split())
    return found


@pytest.mark.usefixtures("session_servers")
async def test_the_draw_runs_in_its_own_process_and_records_its_result(tmp_path: Path) -> None:
    async with open_stack(tmp_path, pin_cores=False) as stack:
        organization_id, draw = await seeded_draw(stack, entries=300, winners=7)
        before = children()
        seconds, steps = await scenario._draw_elsewhere(stack, organization_id, draw)
        assert children() == before  # it ended
        result = await scenario._service(stack.pool, []).proof(organization_id, draw)
    assert (result.entry_count, len(result.winners), len(result.backups)) == (300, 7, 7)
    assert 0 < steps["total"] <= seconds
    assert {"read", "select", "winners", "result"} <= set(steps)


@pytest.mark.usefixtures("session_servers")
async def test_a_run_stopped_during_the_draw_stops_the_draws_process(tmp_path: Path) -> None:
    async with open_stack(tmp_path, pin_cores=False) as stack:
        organization_id, draw = await seeded_draw(stack, entries=50, winners=3)
        before = children()
        async with stack.pool.connection() as conn:
            # The draw's own lock, held here: the draw's process waits for it.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (draw,))
            drawing = asyncio.create_task(scenario._draw_elsewhere(stack, organization_id, draw))
            for _ in range(600):  # up to 30 s
                if await waiting_for_the_lock(stack):
                    break
                await asyncio.sleep(0.05)
            else:
                pytest.fail("the draw's process never came to wait for the lock")
            started = children() - before
            assert len(started) == 1
            drawing.cancel()
            with pytest.raises(asyncio.CancelledError):
                await drawing
            assert not children() & started
            await conn.rollback()
        async with stack.pool.connection() as conn:
            cur = await conn.execute("SELECT 1 FROM draw_results WHERE draw_id = %s", (draw,))
            assert await cur.fetchone() is None  # nothing was drawn


async def waiting_for_the_lock(stack: Stack) -> bool:
    async with stack.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND wait_event = 'advisory'"
        )
        row = await cur.fetchone()
    return row is not None and row[0] > 0
