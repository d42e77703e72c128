"""A draw with a million entries: ``DrawService.run_draw`` end to end, its loser pass,
then its proof.

``FULL`` seeds 1,000,000 ENTERED entries (``SMOKE``: 2,000) into one draw of 10,000
winners (``SMOKE``: 20) and as many backups, straight into PostgreSQL as a real draw would
find them after weeks of entering: vacuumed, and with a checkpoint since, so rewriting an
entry's page costs what it costs in production (a full-page image in the WAL the first
time). Then one ``run_draw`` is timed: read the entries, select, sign the winners' tokens,
record winners and backups with their events, the result and the status change, and
commit. The draw runs in a process of its own, as it does in production (a settlement
worker's, built the same way, on the core the API would have), so what this benchmark
process holds (a million shoppers' answers, when the million scenario ran before) does not
weigh on it. From that commit every other entrant reads LOST; the loser pass that then stores
their statuses and ``draw.consumer.lost`` events (``record_losers``, a chunk per
transaction) is timed on its own. The steps come from the service's own timings.
Afterwards the draw is checked as anyone would (the published entry list and proof
recompute the winners), and so are the rows: every entrant WON or LOST, one event each,
and a second run returning the first.

The baseline, measured in the same run on the same data just before the draw, is the
least any draw has to do: PostgreSQL reading the draw's consumer ids out to this process
(``COPY (SELECT consumer_id …) TO STDOUT``). The figure is also given as a ratio to it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta

import uvloop
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from fanfare_bench.results import Result, Size
from fanfare_bench.stack import Stack, pin
from fanfare_core.adapters.postgres.pool import open_pool
from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.auth.signing_keys import KeyRing, new_signing_key
from fanfare_core.auth.tokens import TokenService
from fanfare_core.clock import FrozenClock, SystemClock
from fanfare_core.domain.distributions import DistributionChanges, Kind
from fanfare_core.domain.draw_selection import first_mismatch, parse_entries, select
from fanfare_core.domain.draws import DrawResult
from fanfare_core.service_layer.distributions import create_distribution
from fanfare_core.service_layer.draws import DrawDirectory, DrawService, DrawTimings
from fanfare_core.settings import load_settings
from fanfare_testing import Tenant

TARGET_SECONDS = 3.0
# (entries, winners) per size; as many backups as winners.
SIZES = {Size.FULL: (1_000_000, 10_000), Size.SMOKE: (2_000, 20)}
OPENS = datetime(2030, 1, 1, tzinfo=UTC)
DRAWS = OPENS + timedelta(days=1)
# The steps of run_draw as the figures name them (see DrawTimings).
STEPS = (
    ("read", "read"),
    ("select", "sort+select"),
    ("winners", "sign+winners+backups"),
    ("result", "result"),
)


async def run(stack: Stack, size: Size) -> list[Result]:
    """Seed, measure the baseline, run the draw once in a process of its own, check it; one
    line of figures. No API runs meanwhile: the baseline's reads (in this process) and the
    draw run on the API's core (see :meth:`Stack.on_api_core`)."""
    with stack.on_api_core():
        return await _measure(stack, size)


async def _measure(stack: Stack, size: Size) -> list[Result]:
    entries, winners = SIZES[size]
    tenant = await stack.tenant()
    draw = await _make_draw(stack, tenant, winners)
    await _seed(stack, tenant, draw, entries)
    baseline = await _read_ids(stack, draw)
    elapsed, steps = await _draw_elsewhere(stack, tenant.organization_id, draw)
    service = _service(stack.pool, [])
    result = await service.proof(tenant.organization_id, draw)
    shown = await _shown_before_the_pass(stack, service, result, entries)
    started = time.perf_counter()
    losers = await service.record_losers(tenant.organization_id, draw)
    passing = time.perf_counter() - started
    started = time.perf_counter()
    verdict, selecting = await _verify(stack, service, result, entries, winners)
    if shown is not None:
        verdict = shown
    checked = time.perf_counter() - started
    phases = ", ".join(f"{name} {steps[key]:.2f}" for key, name in STEPS if key in steps)
    return [
        Result(
            f"draw {_short(entries)} entries, {_short(winners)} winners",
            f"run_draw {elapsed:.2f} s ({phases}) = {elapsed / baseline:.1f} x baseline;"
            f" then the loser pass stored {losers:,} LOST entries and their events in"
            f" {passing:.2f} s; verify {verdict} ({checked:.1f} s; the selection alone"
            f" {selecting:.2f} s);"
            f" baseline: COPY of the {entries:,}"
            f" consumer ids {baseline:.2f} s",
            target=f"≤ {TARGET_SECONDS:.0f} s",
            met=None if size is Size.SMOKE else elapsed <= TARGET_SECONDS,
        )
    ]


def _service(pool: AsyncConnectionPool[AsyncConnection], timings: list[DrawTimings]) -> DrawService:
    """A draw service as the settlement worker builds one, at the draw's time."""
    tokens = TokenService(KeyRing((new_signing_key(OPENS),)), "fanfare")
    return DrawService(
        pool=pool,
        directory=DrawDirectory(pool, ttl_seconds=0),
        tokens=lambda: tokens,
        clock=FrozenClock(DRAWS),
        observe=timings.append,
    )


async def _draw_elsewhere(
    stack: Stack, organization_id: str, draw: str
) -> tuple[float, dict[str, float]]:
    """Seconds ``run_draw`` took in a new process on the API's core, and its steps'. The
    process waits for a line on its input before it starts, so it is on that core first,
    and ends with the run if the run is stopped meanwhile."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", __name__, organization_id, draw,
        env={**os.environ, "FANFARE_DATABASE_URL": stack.settings.database_url},
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert child.pid is not None
        pin(child.pid, stack.cores.api)
        output, _ = await child.communicate(b"go\n")
    except BaseException:  # the run stopped (Ctrl-C, SIGTERM): so does the draw's process
        if child.returncode is None:
            child.kill()
            await asyncio.shield(child.wait())
        raise
    if child.returncode != 0:
        raise RuntimeError(f"the draw's process failed ({child.returncode})")
    answer = json.loads(output.splitlines()[-1])  # its log lines come first
    return float(answer["seconds"]), {k: float(v) for k, v in answer["steps"].items()}


async def _draw_here(organization_id: str, draw: str) -> None:
    """The draw's process: one ``run_draw``, then its figures as the last line of output.
    On the loop the settlement worker runs on (see ``__main__`` below)."""
    sys.stdin.readline()
    pool = await open_pool(load_settings(service_name="bench-draw"))
    try:
        timings: list[DrawTimings] = []
        started = time.perf_counter()
        await _service(pool, timings).run_draw(organization_id, draw)
        elapsed = time.perf_counter() - started
    finally:
        await pool.close()
    steps = timings[0].seconds if timings else {}
    sys.stdout.write(json.dumps({"seconds": elapsed, "steps": steps}) + "\n")


async def _make_draw(stack: Stack, tenant: Tenant, winners: int) -> str:
    made = await create_distribution(
        UnitOfWork(stack.pool), SystemClock(), tenant.principal, Kind.DRAW,
        sequence_id=tenant.sequence_id,
        changes=DistributionChanges(
            open_at=OPENS.isoformat(), close_at=DRAWS.isoformat(), draw_at=DRAWS.isoformat(),
            winner_count=winners,
        ),
    )  # fmt: skip
    return made.id


async def _seed(stack: Stack, tenant: Tenant, draw: str, entries: int) -> None:
    """``entries`` ENTERED entries in one statement (ids in no useful physical order, each
    with a fingerprint hash, as real ones have), vacuumed, then a checkpoint."""
    async with stack.pool.connection() as conn:
        await conn.execute(
            "INSERT INTO draw_entries (draw_id, consumer_id, organization_id, status,"
            " entered_at, fingerprint_hash, version)"
            " SELECT %s, 'cons_' || upper(substr(md5(i::text || %s), 1, 26)), %s, 'ENTERED', %s,"
            " encode(sha256((i::text || 'fp')::bytea), 'hex'), nextval('draw_entry_version')"
            " FROM generate_series(1, %s) AS i",
            (draw, draw, tenant.organization_id, OPENS, entries),
        )
        await conn.commit()
    await stack.settle("draw_entries")


async def _read_ids(stack: Stack, draw: str) -> float:
    """Seconds for PostgreSQL to hand this process every consumer id of the draw."""
    async with stack.pool.connection() as conn, conn.cursor() as cur:
        started = time.perf_counter()
        async with cur.copy(
            "COPY (SELECT consumer_id FROM draw_entries WHERE draw_id = %s) TO STDOUT", (draw,)
        ) as copy:
            async for _ in copy:
                pass
        return time.perf_counter() - started


async def _shown_before_the_pass(
    stack: Stack, service: DrawService, result: DrawResult, entries: int
) -> str | None:
    """``None`` if an entrant neither winner nor backup already reads LOST once the draw has
    committed (before the loser pass), else what went wrong."""
    selected = set(result.winners) | set(result.backups)
    async with stack.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT consumer_id FROM draw_entries WHERE draw_id = %s AND status = 'ENTERED'"
            " LIMIT 1",
            (result.draw_id,),
        )
        row = await cur.fetchone()
    if entries == len(selected):
        return None
    if row is None:
        return "FAILED: no entrant left for the loser pass"
    state = await service.status(result.organization_id, result.draw_id, str(row[0]))
    return None if state.status == "LOST" else f"FAILED: a loser reads {state.status}"


async def _verify(
    stack: Stack, service: DrawService, result: DrawResult, entries: int, winners: int
) -> tuple[str, float]:
    """``OK``, or ``FAILED: …`` with the first thing that does not hold; and how long
    ``fanfare-draw-v1`` alone takes over the published list (sort and I/O excluded)."""
    org, draw = result.organization_id, result.draw_id
    published = b"".join([chunk async for chunk in await service.entry_file(org, draw)])
    problem = first_mismatch(result.proof(), published)
    canonical = parse_entries(published) if problem is None else []
    started = time.perf_counter()
    select(result.seed, canonical, winners, winners)
    selecting = time.perf_counter() - started
    return await _check_rows(stack, service, result, entries, winners, problem), selecting


async def _check_rows(
    stack: Stack,
    service: DrawService,
    result: DrawResult,
    entries: int,
    winners: int,
    problem: str | None,
) -> str:
    org, draw = result.organization_id, result.draw_id
    if problem is not None:
        return f"FAILED: {problem}"
    if (result.entry_count, len(result.winners), len(result.backups)) != (
        entries,
        winners,
        winners,
    ):
        return f"FAILED: {result.entry_count} entries, {len(result.winners)} winners"
    if await service.run_draw(org, draw) != result:
        return "FAILED: a second run changed the result"
    async with stack.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT status, count(*) FROM draw_entries WHERE draw_id = %s GROUP BY status",
            (draw,),
        )
        statuses = {str(status): int(count) for status, count in await cur.fetchall()}
        cur = await conn.execute(
            "SELECT count(*) FROM outbox WHERE subject = ANY(%s)",
            ([f"fanfare.events.{org}.{draw}.draw.consumer.{kind}" for kind in ("won", "lost")],),
        )
        row = await cur.fetchone()
    events = int(row[0]) if row else 0
    if statuses != {"WON": winners, "LOST": entries - winners}:
        return f"FAILED: statuses {statuses}"
    if events != entries:
        return f"FAILED: {events} won/lost events for {entries} entrants"
    return "OK"


def _short(count: int) -> str:
    """1,000,000 -> 1M, 10,000 -> 10k, 20 -> 20."""
    for unit, name in ((1_000_000, "M"), (1_000, "k")):
        if count >= unit and count % unit == 0:
            return f"{count // unit}{name}"
    return f"{count:,}"


if __name__ == "__main__":
    uvloop.run(_draw_here(*sys.argv[1:3]))
