"""What the data stores and the machine did in the background while a run was measured.

On a machine of two cores the data stores share one core with the load generator, and
their own background work takes that core whole for a while: Valkey's rewrite of its
append-only file (a forked child serializing the whole dataset, about half a second for
the 35 MB of the api scenarios), autovacuum on the tables a run writes, a checkpoint.
Meanwhile every round trip of the API waits longer, and the run's p99 can be set by
that half second alone. So each half-rate run says what of this happened during it (and
how long the hypervisor kept this machine's cores from running), and a tail can be read
against its cause instead of guessed at.

Seen by sampling: the rewrites and checkpoints are counted by the servers themselves,
autovacuum workers are looked for every quarter second (a shorter one can be missed).
What a server does not tell (an external one that refuses ``INFO`` or the statistics
views) is left out.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from fanfare_bench.stack import Stack

T = TypeVar("T")

#: How often autovacuum workers are looked for.
INTERVAL = 0.25

_AUTOVACUUM = (
    "SELECT query FROM pg_stat_activity"
    " WHERE backend_type = 'autovacuum worker' AND query LIKE 'autovacuum: %'"
)
# pg_stat_checkpointer from PostgreSQL 17, pg_stat_bgwriter before it.
_CHECKPOINTS = (
    "SELECT num_timed + num_requested FROM pg_stat_checkpointer",
    "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter",
)


@dataclass(slots=True)
class Background:
    """What happened beside one run."""

    aof_rewrites: int | None = None
    fork_ms: float | None = None  # of the last rewrite's fork
    autovacuum: set[str] = field(default_factory=set)  # "VACUUM ANALYZE public.outbox"
    autovacuum_seen: bool = False  # whether the workers could be looked for at all
    checkpoints: int | None = None
    steal_ms: float | None = None

    def describe(self) -> str:
        """``meanwhile: 1 Valkey AOF rewrite (its fork 3.7 ms), autovacuum (ANALYZE
        public.outbox), 0 checkpoints, 12 ms stolen by the hypervisor``; empty when
        nothing could be read."""
        parts: list[str] = []
        if self.aof_rewrites is not None:
            rewrites = f"{self.aof_rewrites} Valkey AOF rewrite{_s(self.aof_rewrites)}"
            if self.aof_rewrites and self.fork_ms is not None:
                rewrites += f" (its fork {self.fork_ms:.1f} ms)"
            parts.append(rewrites)
        if self.autovacuum_seen:
            seen = ", ".join(sorted(self.autovacuum))
            parts.append(f"autovacuum ({seen})" if seen else "no autovacuum")
        if self.checkpoints is not None:
            parts.append(f"{self.checkpoints} checkpoint{_s(self.checkpoints)}")
        if self.steal_ms is not None:
            parts.append(f"{self.steal_ms:,.0f} ms stolen by the hypervisor")
        return f"meanwhile: {', '.join(parts)}" if parts else ""


def _s(count: int) -> str:
    return "" if count == 1 else "s"


async def watched(stack: Stack, run: Awaitable[T]) -> tuple[T, Background]:
    """What ``run`` gives, and what happened in the background while it ran."""
    seen = Background()
    rewrites, _ = await _valkey(stack)
    checkpoints = await _checkpoints(stack)
    steal = _steal_ms()
    done = asyncio.Event()
    looking = asyncio.create_task(_look_for_autovacuum(stack, seen, done))
    try:
        result = await run
    finally:
        done.set()
        await looking
    rewrites_after, fork_ms = await _valkey(stack)
    if rewrites is not None and rewrites_after is not None:
        seen.aof_rewrites = rewrites_after - rewrites
        seen.fork_ms = fork_ms
    checkpoints_after = await _checkpoints(stack)
    if checkpoints is not None and checkpoints_after is not None:
        seen.checkpoints = checkpoints_after - checkpoints
    steal_after = _steal_ms()
    if steal is not None and steal_after is not None:
        seen.steal_ms = steal_after - steal
    return result, seen


async def _valkey(stack: Stack) -> tuple[int | None, float | None]:
    """Rewrites of the append-only file begun so far (one under way counts), and the last
    fork's milliseconds."""
    try:
        persistence = _info(await stack.redis.call("INFO", "persistence"))
        stats = _info(await stack.redis.call("INFO", "stats"))
        rewrites = int(persistence["aof_rewrites"]) + int(persistence["aof_rewrite_in_progress"])
        return rewrites, int(stats["latest_fork_usec"]) / 1000
    except Exception:  # an external server that does not tell
        return None, None


def _info(reply: object) -> dict[str, str]:
    text = reply.decode() if isinstance(reply, bytes) else str(reply)
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


async def _checkpoints(stack: Stack) -> int | None:
    for query in _CHECKPOINTS:
        with contextlib.suppress(Exception):
            async with stack.pool.connection() as conn:
                row = await (await conn.execute(query)).fetchone()
            if row is not None:
                return int(row[0])
    return None


async def _look_for_autovacuum(stack: Stack, seen: Background, done: asyncio.Event) -> None:
    while not done.is_set():
        try:
            async with stack.pool.connection() as conn:
                rows = await (await conn.execute(_AUTOVACUUM)).fetchall()
        except Exception:  # an external server that does not tell
            return
        seen.autovacuum_seen = True
        seen.autovacuum.update(str(row[0]).removeprefix("autovacuum: ") for row in rows)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), INTERVAL)


def _steal_ms() -> float | None:
    """Milliseconds the hypervisor has kept this machine's cores from running, summed
    over the cores (the eighth figure of /proc/stat's first line)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        return int(fields[8]) * 1000 / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None
