"""Rate limits on entering: per consumer and per client address, checked in one Redis trip."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from litestar import Request

from fanfare_core.adapters.redis.rate_limit import over_limit
from fanfare_core.domain.errors import TooManyRequests


@dataclass(frozen=True, slots=True)
class EnterLimits:
    """At most ``per_consumer`` and ``per_address`` enters per ``window_seconds``."""

    redis: aioredis.Redis
    per_consumer: int
    per_address: int
    window_seconds: int = 60

    async def check(self, request: Request[Any, Any, Any], consumer_id: str) -> None:
        address = request.client.host if request.client else "unknown"
        wait = await over_limit(
            self.redis,
            [
                (f"enter:c:{consumer_id}", self.per_consumer),
                (f"enter:a:{address}", self.per_address),
            ],
            self.window_seconds,
        )
        if wait is not None:
            raise TooManyRequests(wait)
