"""Fixed-window rate limits in Redis: one round trip checks every limit of a request."""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis


async def over_limit(
    redis: aioredis.Redis, limits: Sequence[tuple[str, int]], window_seconds: int
) -> int | None:
    """Count this request against each ``(key, limit)``; the seconds to wait if any limit
    is exceeded, else None."""
    async with redis.pipeline(transaction=False) as pipe:
        for key, _ in limits:
            pipe.incr(f"rl:{key}")
            pipe.expire(f"rl:{key}", window_seconds, nx=True)
            pipe.ttl(f"rl:{key}")
        results = await pipe.execute()
    waits = [
        max(int(results[i * 3 + 2]), 1)
        for i, (_, limit) in enumerate(limits)
        if int(results[i * 3]) > limit
    ]
    return max(waits) if waits else None
