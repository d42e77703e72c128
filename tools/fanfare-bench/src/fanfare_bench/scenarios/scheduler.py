"""Scheduler lateness: many queues due to open within a minute, and how late each opens.

A scheduler process runs against the stack; ``FULL`` schedules 1,000 queues to open spread
over 60 s (``SMOKE``: 20 over 2 s). A queue's lateness is its transition's own timestamp
(``updated_at``, the scheduler's clock at the start of the pass that opened it) minus its
``openAt``; polling for the outcome therefore blurs nothing.

The baseline runs in this process over the same instants, at the same time: an asyncio
timer that sleeps until each instant and then makes one ``SELECT 1`` round trip. That is
the floor for any timer kept in PostgreSQL on this machine right now (the scheduler too
wakes from an asyncio wait and checks its lease with one query before it reads the clock),
so the figure is also given as a ratio to it.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from fanfare_bench.results import Result, Size, percentile
from fanfare_bench.stack import Stack
from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.clock import SystemClock
from fanfare_core.domain.distributions import DistributionChanges, Kind
from fanfare_core.service_layer.distributions import create_distribution
from fanfare_testing import Tenant

TARGET_MS = 100.0
# (transitions, spread in seconds) per size.
SIZES = {Size.FULL: (1_000, 60.0), Size.SMOKE: (20, 2.0)}
# Creating one queue takes a few milliseconds; the first instant lies this far ahead of the
# start, plus a margin per queue, so every queue exists before it is due.
LEAD_SECONDS = 2.0
LEAD_PER_QUEUE = 0.01
# How long after the last instant the scheduler may take before the run counts as failed.
GRACE_SECONDS = 30.0


async def run(stack: Stack, size: Size) -> list[Result]:
    """Schedule the queues, let a scheduler open them, report the lateness percentiles."""
    transitions, spread = SIZES[size]
    tenant = await stack.tenant()
    scheduler = stack.start("scheduler")
    try:
        start = datetime.now(UTC) + timedelta(seconds=LEAD_SECONDS + LEAD_PER_QUEUE * transitions)
        instants = [start + timedelta(seconds=spread * i / transitions) for i in range(transitions)]
        due = await _schedule(stack, tenant, instants)
        baseline = await _timer_with_query(stack, instants)
        until_last = max(0.0, (instants[-1] - datetime.now(UTC)).total_seconds())
        opened = await wait_opened(stack, list(due), until_last + GRACE_SECONDS)
    finally:
        stack.stop(scheduler)
    if len(opened) != transitions:
        raise RuntimeError(f"only {len(opened)} of {transitions} queues opened")
    late = [(opened[queue] - instant).total_seconds() * 1000 for queue, instant in due.items()]
    floor = percentile(baseline, 0.99)
    p99 = percentile(late, 0.99)
    return [
        Result(
            "scheduler baseline",
            f"asyncio timer + SELECT 1 at the same {transitions:,} instants: "
            f"p50 {percentile(baseline, 0.5):.1f} ms, p99 {floor:.1f} ms, "
            f"max {max(baseline):.1f} ms",
        ),
        Result(
            "scheduler lateness",
            f"{transitions:,} queue openings over {spread:.0f} s: "
            f"p50 {percentile(late, 0.5):.1f} ms, p99 {p99:.1f} ms, max {max(late):.1f} ms, "
            f"early {sum(1 for v in late if v < 0)}; p99 = {ratio(p99, floor)} baseline p99",
            target=f"p99 lateness ≤ {TARGET_MS:.0f} ms",
            met=None if size is Size.SMOKE else p99 <= TARGET_MS,
        ),
    ]


async def _schedule(stack: Stack, tenant: Tenant, instants: list[datetime]) -> dict[str, datetime]:
    """One queue per instant; raise if one was created only after it was due."""
    due: dict[str, datetime] = {}
    for instant in instants:
        made = await create_distribution(
            UnitOfWork(stack.pool), SystemClock(), tenant.principal, Kind.QUEUE,
            sequence_id=tenant.sequence_id,
            changes=DistributionChanges(open_at=instant.isoformat()),
        )  # fmt: skip
        if datetime.now(UTC) >= instant:
            raise RuntimeError("creating the queues took longer than the lead time")
        due[made.id] = instant
    return due


async def _timer_with_query(stack: Stack, instants: list[datetime]) -> list[float]:
    """Sleep until each instant, then ``SELECT 1``; return each's lateness in ms."""
    late: list[float] = []
    async with stack.pool.connection() as conn:
        for instant in instants:
            wait = (instant - datetime.now(UTC)).total_seconds()
            if wait > 0:
                await asyncio.sleep(wait)
            await conn.execute("SELECT 1")
            late.append((datetime.now(UTC) - instant).total_seconds() * 1000)
    return late


async def wait_opened(stack: Stack, ids: list[str], seconds: float) -> dict[str, datetime]:
    """Poll until every one of these queues is open, for ``seconds`` at most; return when
    each that did opened (its ``updated_at``)."""
    deadline = time.monotonic() + seconds
    while True:
        async with stack.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT id, updated_at FROM distributions WHERE id = ANY(%s) AND status = 'OPEN'",
                (ids,),
            )
            opened = {row[0]: row[1] for row in await cur.fetchall()}
        if len(opened) == len(ids) or time.monotonic() >= deadline:
            return opened
        await asyncio.sleep(0.2)


def ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.1f}x" if baseline > 0 else "n/a x"
