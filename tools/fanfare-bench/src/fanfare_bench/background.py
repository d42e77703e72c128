"""What the data stores and the machine did in the background while a run was measured.

On a machine of two cores the data stores share one core with the load generator, and
their own background work takes that core whole for a while: Valkey's rewrite of its
append-only file (a forked child serializing the whole dataset, about half a second for
the 35 MB of the api scenarios), autovacuum on the tables a run writes, a checkpoint.
Meanwhile every round trip of the API waits longer, and the run's p99 can be set by
that half second alone. So each half-rate run says what of this happened during it (and
how long the hypervisor kept this machine's cores from running), and a tail can be read
against its cause instead of guessed at.

Valkey can also be held up in the middle of a command with no work of its own to blame:
a status poll's read (a few lookups) takes it some microseconds, yet its slow log showed
four such reads (of one to ten shoppers each) taking 1.6-4.4 ms in one half-rate run. So
each run also counts the commands Valkey took longer than a millisecond over.

Seen by sampling: the rewrites, checkpoints and slow commands are counted by the servers
themselves, autovacuum workers are looked for every quarter second (a shorter one can be
missed).
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
#: Valkey's commands slower than this (microseconds) are counted: its slow log's threshold
#: during a run, put back afterwards.
SLOW_US = 1000
#: The most slow commands Valkey keeps during a run (its slow log's length).
SLOW_KEPT = 10_000

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
    slow_commands: int | None = None  # Valkey's, over SLOW_US
    slowest_ms: float | None = None

    def describe(self) -> str:
        """``meanwhile: 1 Valkey AOF rewrite (its fork 3.7 ms), 2 Valkey commands over
        1 ms (the slowest 4.4 ms), autovacuum (ANALYZE public.outbox), 0 checkpoints, 12 ms
        stolen by the hypervisor``; empty when nothing could be read."""
        parts: list[str] = []
        if self.aof_rewrites is not None:
            rewrites = f"{self.aof_rewrites} Valkey AOF rewrite{_s(self.aof_rewrites)}"
            if self.aof_rewrites and self.fork_ms is not None:
                rewrites += f" (its fork {self.fork_ms:.1f} ms)"
            parts.append(rewrites)
        if self.slow_commands is not None:
            slow = f"{self.slow_commands} Valkey command{_s(self.slow_commands)}"
            slow += f" over {SLOW_US / 1000:g} ms"
            if self.slow_commands and self.slowest_ms is not None:
                slow += f" (the slowest {self.slowest_ms:.1f} ms)"
            parts.append(slow)
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
    slow_log = await _slow_log_started(stack)
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
    if slow_log is not None:
        with contextlib.suppress(Exception):  # the server stopped telling: left out
            seen.slow_commands, seen.slowest_ms = await _slow_commands(stack, slow_log)
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


async def _slow_log_started(stack: Stack) -> tuple[bytes, bytes] | None:
    """Valkey's slow log emptied and set to keep every command over :data:`SLOW_US`; its
    own threshold and length, to put back (None from a server that does not permit it)."""
    try:
        threshold = (await stack.redis.call("CONFIG", "GET", "slowlog-log-slower-than"))[1]
        length = (await stack.redis.call("CONFIG", "GET", "slowlog-max-len"))[1]
        await stack.redis.call(
            "CONFIG", "SET", "slowlog-log-slower-than", SLOW_US, "slowlog-max-len", SLOW_KEPT
        )
        await stack.redis.call("SLOWLOG", "RESET")
    except Exception:  # an external server that does not permit it
        return None
    return threshold, length


async def _slow_commands(stack: Stack, previous: tuple[bytes, bytes]) -> tuple[int, float]:
    """How many commands the slow log kept since :func:`_slow_log_started`, and the slowest
    one's milliseconds; the server's own settings put back."""
    try:
        entries = await stack.redis.call("SLOWLOG", "GET", SLOW_KEPT)
    finally:
        threshold, length = previous
        await stack.redis.call(
            "CONFIG", "SET", "slowlog-log-slower-than", threshold, "slowlog-max-len", length
        )
    # An entry: id, when, microseconds taken, the command, ...
    return len(entries), max((int(entry[2]) for entry in entries), default=0) / 1000


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
