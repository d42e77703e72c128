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

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

from fanfare_core.adapters.redis.round_trips import RoundTrips
from fanfare_core.domain.queues import EntryStatus, QueueEntry
from fanfare_core.domain.timing import format_optional_instant

_APPLY = """
local current = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if current >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 's', ARGV[3], 'n', ARGV[4], 'e', ARGV[5],
           'a', ARGV[6], 'x', ARGV[7], 't', ARGV[8], 'd', ARGV[9])
if ARGV[3] == 'QUEUED' then
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
else
  redis.call('ZREM', KEYS[2], ARGV[2])
end
if ARGV[3] == 'ADMITTED' then
  redis.call('ZADD', KEYS[3], ARGV[7], ARGV[2])
else
  redis.call('ZREM', KEYS[3], ARGV[2])
end
return 1
"""

# KEYS: the waiting set, the ready flag, then the hash of each consumer; ARGV: the consumers.
# Answers {ready, one string per consumer}: "" when the consumer has no entry, else
# "status|entered|admitted|expires|deny reason|rank|token" ("" for what is unset; only the
# token, last, could ever hold a "|"). One flat reply is much cheaper to parse than
# HGETALL + ZRANK + EXISTS replies per consumer.
_READ = """
local out = {redis.call('EXISTS', KEYS[2])}
for i = 1, #ARGV do
  local f = redis.call('HMGET', KEYS[i + 2], 's', 'e', 'a', 'x', 'd', 't')
  if f[1] then
    local rank = redis.call('ZRANK', KEYS[1], ARGV[i])
    out[i + 1] = table.concat({f[1], f[2] or '', f[3] or '', f[4] or '', f[5] or '',
                               rank or '', f[6] or ''}, '|')
  else
    out[i + 1] = ''
  end
end
return out
"""


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


def _read_call(queue_id: str, consumer_ids: Sequence[str]) -> tuple[list[str], list[str]]:
    """The keys and arguments of the read script for these consumers of one queue."""
    prefix = _prefix(queue_id)
    keys = [f"{prefix}:w", f"{prefix}:ready", *[f"{prefix}:c:{c}" for c in consumer_ids]]
    return keys, list(consumer_ids)


def _line_reads(reply: list[bytes | int]) -> list[LineRead]:
    ready = bool(reply[0])
    return [LineRead(ready=ready, state=_packed_state(packed)) for packed in reply[1:]]  # type: ignore[arg-type]


def _text(raw: object) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


class QueueLine:
    """Reads and writes the Redis side of queues."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis
        self._apply = redis.register_script(_APPLY)
        self._read_script = redis.register_script(_READ)
        self._reads: RoundTrips[str, str, LineRead] = RoundTrips(self._read_many)

    async def read(self, queue_id: str, consumer_id: str) -> LineRead:
        """The consumer's state and position, exact at the moment Redis reads it: one
        round trip, shared with the other polls of the queue that arrive meanwhile."""
        return await self._reads.read(queue_id, consumer_id)

    async def _read_many(self, queue_id: str, consumer_ids: list[str]) -> list[LineRead]:
        keys, args = _read_call(queue_id, consumer_ids)
        return _line_reads(await self._read_script(keys=keys, args=args))

    async def write_and_read(
        self, queue_id: str, entries: Sequence[QueueEntry], consumer_ids: Sequence[str]
    ) -> list[LineRead]:
        """Write committed entries of one queue through, then read these consumers' states
        (after the writes, so they show them): one round trip."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for entry in entries:
                await self._queue_apply(pipe, entry)
            keys, args = _read_call(queue_id, consumer_ids)
            await self._read_script(keys=keys, args=args, client=pipe)
            *_, reply = await pipe.execute()
        return _line_reads(reply)

    async def _queue_apply(self, pipe: Pipeline, entry: QueueEntry) -> None:
        prefix = _prefix(entry.queue_id)
        await self._apply(
            keys=[f"{prefix}:c:{entry.consumer_id}", f"{prefix}:w", f"{prefix}:a"],
            args=[
                entry.version,
                entry.consumer_id,
                entry.status.value,
                entry.arrival,
                format_optional_instant(entry.entered_at) or "",
                format_optional_instant(entry.admitted_at) or "",
                "" if entry.expires_at is None else entry.expires_at.timestamp(),
                entry.admission_token or "",
                entry.deny_reason or "",
            ],
            client=pipe,
        )

    async def write(self, entries: Sequence[QueueEntry]) -> None:
        """Write committed entries through; the newest version of each wins."""
        if not entries:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for entry in entries:
                await self._queue_apply(pipe, entry)
            await pipe.execute()

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
