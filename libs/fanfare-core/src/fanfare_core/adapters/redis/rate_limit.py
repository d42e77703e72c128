"""Fixed-window rate limits in Redis, counted together.

Every request of a flash crowd is counted against its limits, and a round trip to Redis
costs far more Python than Redis's own work. So the counts asked for during one turn of
the event loop go in one round trip (:class:`RoundTrips`): one script call per counter,
which increments it, starts its window when it is new, and answers the count and the
seconds the window has left. One counter per script call keeps every call on one key, so
the counters of one request may live on different cluster shards.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from fanfare_core.adapters.redis.round_trips import RoundTrips

# KEYS[1] = the counter, ARGV[1] = the window in seconds. A counter without an expiry (it
# cannot happen, but would never reset) gets one.
_COUNT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local left = redis.call('TTL', KEYS[1])
if left < 0 then
    redis.call('EXPIRE', KEYS[1], ARGV[1])
    left = tonumber(ARGV[1])
end
return {count, left}
"""
_COUNT_SHA = hashlib.sha1(_COUNT.encode(), usedforsecurity=False).hexdigest()


class RateLimits:
    """Fixed windows of ``window_seconds`` per key, in Redis (shared by every replica)."""

    def __init__(self, redis: aioredis.Redis, window_seconds: int) -> None:
        self._redis = redis
        self._window = window_seconds
        self._trips: RoundTrips[None, tuple[str, ...], list[tuple[int, int]]] = RoundTrips(
            self._count
        )

    async def wait_seconds(self, limits: Sequence[tuple[str, int]]) -> int | None:
        """Count this request against each ``(key, limit)``; the seconds to wait if any
        limit is exceeded, else None."""
        counts = await self._trips.read(None, tuple(key for key, _ in limits))
        waits = [
            max(left, 1)
            for (count, left), (_, limit) in zip(counts, limits, strict=True)
            if count > limit
        ]
        return max(waits) if waits else None

    async def _count(self, _: None, requests: list[tuple[str, ...]]) -> list[list[tuple[int, int]]]:
        keys = [key for request in requests for key in request]
        try:
            replies = await self._count_keys(keys)
        except NoScriptError:  # Redis restarted or was flushed since the script was loaded
            await self._redis.script_load(_COUNT)
            replies = await self._count_keys(keys)
        counts = iter((int(count), int(left)) for count, left in replies)
        return [[next(counts) for _ in request] for request in requests]

    async def _count_keys(self, keys: list[str]) -> list[list[int]]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.evalsha(_COUNT_SHA, 1, f"rl:{key}", self._window)
            return list(await pipe.execute())
