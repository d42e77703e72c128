"""Rate limits on entering: per consumer and per client address, counted in Redis with
the other enters of the same moment (one round trip for all of them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request

from fanfare_core.adapters.redis.rate_limit import RateLimits
from fanfare_core.domain.errors import TooManyRequests

#: The limits count enters per minute.
ENTER_LIMIT_WINDOW_SECONDS = 60


@dataclass(frozen=True, slots=True)
class EnterLimits:
    """At most ``per_consumer`` and ``per_address`` enters per window of ``limits``."""

    limits: RateLimits
    per_consumer: int
    per_address: int

    async def check(self, request: Request[Any, Any, Any], consumer_id: str) -> None:
        address = request.client.host if request.client else "unknown"
        wait = await self.limits.wait_seconds(
            [
                (f"enter:c:{consumer_id}", self.per_consumer),
                (f"enter:a:{address}", self.per_address),
            ]
        )
        if wait is not None:
            raise TooManyRequests(wait)
