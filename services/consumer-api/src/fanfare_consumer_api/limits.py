"""Rate limits on entering: per consumer and per client address, counted in Redis with
the other enters of the same moment (one round trip for all of them): a draw's enters
those of the same turn of the event loop, a queue's those of the same batch."""

from __future__ import annotations

from collections.abc import Sequence
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
        wait = await self.limits.wait_seconds(self._limits(consumer_id, client_address(request)))
        if wait is not None:
            raise TooManyRequests(wait)

    async def waits(self, enters: Sequence[tuple[str, str]]) -> list[int | None]:
        """For a batch of ``(consumer id, address)`` enters (a queue's), counted together:
        the seconds each must wait, or None (the queue service's gate)."""
        return await self.limits.wait_seconds_many(
            [self._limits(consumer_id, address) for consumer_id, address in enters]
        )

    def _limits(self, consumer_id: str, address: str) -> list[tuple[str, int]]:
        return [
            (f"enter:c:{consumer_id}", self.per_consumer),
            (f"enter:a:{address}", self.per_address),
        ]


def client_address(request: Request[Any, Any, Any]) -> str:
    """The address the per-address limit counts (the proxies' X-Forwarded-For applied)."""
    return request.client.host if request.client else "unknown"
