"""A queue's waiting line in Redis: what a status poll reads in one round trip.

Per queue (the ``{queue_id}`` hash tag keeps one queue's keys on one cluster shard):

- ``fq:{q}:w``   sorted set of QUEUED consumers by arrival number: ZRANK + 1 is the position
- ``fq:{q}:a``   sorted set of ADMITTED consumers by session expiry (epoch seconds)
- ``fq:{q}:c:<consumer>``  hash of the consumer's state (version, status, times, token)
- ``fq:{q}:ready``  set once the line holds every entry of PostgreSQL

PostgreSQL stays the record: each committed change is written through with its version,
and a script applies it only if it is newer than what Redis holds. When ``ready`` is
missing (Redis restarted or flushed) readers go to PostgreSQL and the line is rebuilt.

Status polls of one queue that arrive together (in the same turn of the event loop) are
read by one script call (:mod:`~fanfare_core.adapters.redis.round_trips`): one round trip
for all of them, each answer read by Redis at that moment, so still exact.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from fanfare_core.adapters.redis.client import FanfareRedis, LuaScript
from fanfare_core.adapters.redis.round_trips import RoundTrips
from fanfare_core.domain.queues import EntryStatus, QueueEntry
from fanfare_core.domain.timing import format_optional_instant

# One script writes committed entries through and then reads consumers' states, so a batch
# of enters costs one command (one reply to parse) however many entries it holds; a poll
# is the same script with nothing to write, a rebuild the same with nothing to read.
#
# KEYS: the waiting set, the admitted set, the ready flag, the hash of each written
# consumer, then the hash of each consumer read. ARGV: how many writes; nine fields per
# write (version, consumer, status, arrival, entered, admitted, expires, token, deny
# reason); then the consumers read.
#
# A write applies only if its version is newer than what the hash holds.
#
# Answers {ready, one string per consumer read}: "" when the consumer has no entry, else
# "status|entered|admitted|expires|deny reason|rank|token" ("" for what is unset; only the
# token, last, could ever hold a "|"). One flat reply is much cheaper to parse than
# HGETALL + ZRANK + EXISTS replies per consumer.
_WRITE_AND_READ = """
local writes = tonumber(ARGV[1])
for i = 0, writes - 1 do
  local key, f = KEYS[4 + i], 2 + i * 9
  local consumer, status = ARGV[f + 1], ARGV[f + 2]
  if tonumber(redis.call('HGET', key, 'v') or '0') < tonumber(ARGV[f]) then
    redis.call('HSET', key, 'v', ARGV[f], 's', status, 'n', ARGV[f + 3], 'e', ARGV[f + 4],
               'a', ARGV[f + 5], 'x', ARGV[f + 6], 't', ARGV[f + 7], 'd', ARGV[f + 8])
    if status == 'QUEUED' then
      redis.call('ZADD', KEYS[1], ARGV[f + 3], consumer)
    else
      redis.call('ZREM', KEYS[1], consumer)
    end
    if status == 'ADMITTED' then
      redis.call('ZADD', KEYS[2], ARGV[f + 6], consumer)
    else
      redis.call('ZREM', KEYS[2], consumer)
    end
  end
end
local out = {redis.call('EXISTS', KEYS[3])}
local first_key, first_arg = 3 + writes, 1 + writes * 9
for i = 1, #ARGV - first_arg do
  local f = redis.call('HMGET', KEYS[first_key + i], 's', 'e', 'a', 'x', 'd', 't')
  if f[1] then
    local rank = redis.call('ZRANK', KEYS[1], ARGV[first_arg + i])
    out[i + 1] = table.concat({f[1], f[2] or '', f[3] or '', f[4] or '', f[5] or '',
                               rank or '', f[6] or ''}, '|')
  else
    out[i + 1] = ''
  end
end
return out
"""
_SCRIPT = LuaScript(_WRITE_AND_READ)


def _prefix(queue_id: str) -> str:
    return f"fq:{{{queue_id}}}"


@dataclass(frozen=True, slots=True)
class LineState:
    """A consumer's state as the line holds it; ``position`` for QUEUED consumers."""

    status: EntryStatus
    position: int | None
    entered_at: str
    admitted_at: str | None
    expires_at: float | None
    admission_token: str | None
    deny_reason: str | None


@dataclass(frozen=True, slots=True)
class LineRead:
    """What one poll learned: whether the line is complete, and the consumer's state."""

    ready: bool
    state: LineState | None


def _packed_state(packed: bytes | str) -> LineState | None:
    """A consumer's state from the read script's string (None when there is no entry)."""
    if not packed:
        return None
    raw_status, entered_at, admitted_at, expires_at, deny_reason, rank, token = _text(packed).split(
        "|", 6
    )
    status = EntryStatus(raw_status)
    return LineState(
        status=status,
        position=int(rank) + 1 if status is EntryStatus.QUEUED and rank else None,
        entered_at=entered_at,
        admitted_at=admitted_at or None,
        expires_at=float(expires_at) if expires_at else None,
        admission_token=token or None,
        deny_reason=deny_reason or None,
    )


def _line_call(
    queue_id: str, entries: Sequence[QueueEntry], consumer_ids: Sequence[str]
) -> tuple[list[str], list[str | int | float]]:
    """The keys and arguments of the script for these writes and reads of one queue."""
    prefix = _prefix(queue_id)
    keys = [f"{prefix}:w", f"{prefix}:a", f"{prefix}:ready"]
    args: list[str | int | float] = [len(entries)]
    for entry in entries:
        keys.append(f"{prefix}:c:{entry.consumer_id}")
        args += (
            entry.version,
            entry.consumer_id,
            entry.status.value,
            entry.arrival,
            format_optional_instant(entry.entered_at) or "",
            format_optional_instant(entry.admitted_at) or "",
            "" if entry.expires_at is None else entry.expires_at.timestamp(),
            entry.admission_token or "",
            entry.deny_reason or "",
        )
    keys += [f"{prefix}:c:{c}" for c in consumer_ids]
    args += consumer_ids
    return keys, args


def _line_reads(reply: list[bytes | int]) -> list[LineRead]:
    ready = bool(reply[0])
    return [LineRead(ready=ready, state=_packed_state(packed)) for packed in reply[1:]]  # type: ignore[arg-type]


def _text(raw: object) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


class QueueLine:
    """Reads and writes the Redis side of queues."""

    def __init__(self, redis: FanfareRedis) -> None:
        self._redis = redis
        self._reads: RoundTrips[str, str, LineRead] = RoundTrips(self._read_many)

    async def read(self, queue_id: str, consumer_id: str) -> LineRead:
        """The consumer's state and position, exact at the moment Redis reads it: one
        round trip, shared with the other polls of the queue that arrive meanwhile."""
        return await self._reads.read(queue_id, consumer_id)

    async def _read_many(self, queue_id: str, consumer_ids: list[str]) -> list[LineRead]:
        return await self.write_and_read(queue_id, (), consumer_ids)

    async def write_and_read(
        self, queue_id: str, entries: Sequence[QueueEntry], consumer_ids: Sequence[str]
    ) -> list[LineRead]:
        """Write committed entries of one queue through, then read these consumers' states
        (after the writes, so they show them): one command."""
        keys, args = _line_call(queue_id, entries, consumer_ids)
        return _line_reads(await self._redis.run(_SCRIPT, keys, args))

    async def write(self, entries: Sequence[QueueEntry]) -> None:
        """Write committed entries through; the newest version of each wins."""
        by_queue: dict[str, list[QueueEntry]] = {}
        for entry in entries:
            by_queue.setdefault(entry.queue_id, []).append(entry)
        for queue_id, written in by_queue.items():
            await self.write_and_read(queue_id, written, ())

    async def counts(self, queue_id: str, now: datetime) -> tuple[bool, int]:
        """Whether the line is complete, and how many consumers hold a place."""
        prefix = _prefix(queue_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.exists(f"{prefix}:ready")
            pipe.zcard(f"{prefix}:w")
            pipe.zcount(f"{prefix}:a", f"({now.timestamp()}", "+inf")
            ready, waiting, admitted = await pipe.execute()
        return bool(ready), int(waiting) + int(admitted)

    async def rebuild(self, queue_id: str, entries: AsyncIterator[QueueEntry]) -> bool:
        """Load every entry of PostgreSQL into the line, then mark it ready. Only one
        rebuild per queue runs at a time; returns False when another one holds the lock."""
        prefix = _prefix(queue_id)
        if not await self._redis.set(f"{prefix}:building", "1", nx=True, ex=300):
            return False
        try:
            batch: list[QueueEntry] = []
            async for item in entries:
                batch.append(item)
                if len(batch) >= 1000:
                    await self.write(batch)
                    batch = []
            await self.write(batch)
            await self._redis.set(f"{prefix}:ready", datetime.now(UTC).isoformat())
            return True
        finally:
            await self._redis.delete(f"{prefix}:building")

    async def forget(self, queue_id: str) -> None:
        """Mark the line incomplete (a write-through failed), so readers rebuild it."""
        await self._redis.delete(f"{_prefix(queue_id)}:ready")
