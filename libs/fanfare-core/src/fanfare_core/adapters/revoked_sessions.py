"""Which consumer sessions have been logged out, as every replica sees it.

PostgreSQL records each logout (``consumer_sessions.revoked_at``). For the hot path:

- Redis holds ``fanfare:{consumer-sessions}:revoked:<session id>`` for as long as an access
  token of the session can live, so one round trip tells whether a session is revoked
  (checks asked together share one ``MGET``);
  ``fanfare:{consumer-sessions}:ready`` says the list is whole. When it is missing (Redis
  restarted or was flushed) the list is rebuilt from PostgreSQL first. The hash tag keeps
  both keys on one cluster shard so they are read together.
- A core NATS message on ``fanfare.internal.consumer-sessions.revoked`` tells every replica
  at once, so access tokens it has cached as verified stop working there too.

When Redis does not answer, PostgreSQL does.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.adapters.redis.client import FanfareRedis
from fanfare_core.adapters.redis.round_trips import RoundTrips
from fanfare_core.clock import Clock
from fanfare_core.logs import get_logger
from fanfare_core.ttl_cache import TtlCache

log = get_logger(__name__)

KEY_PREFIX = "fanfare:{consumer-sessions}:revoked:"
READY_KEY = "fanfare:{consumer-sessions}:ready"
SUBJECT = "fanfare.internal.consumer-sessions.revoked"
_LOCAL_MAX = 100_000


class RevokedSessions:
    """Revoked sessions, remembered for ``remember`` (the longest an access token lives)."""

    def __init__(
        self,
        *,
        redis: FanfareRedis,
        nats: NatsClient,
        pool: AsyncConnectionPool[AsyncConnection],
        clock: Clock,
        remember: timedelta,
    ) -> None:
        self._redis = redis
        self._nats = nats
        self._pool = pool
        self._clock = clock
        self._remember = remember
        self._local: TtlCache[str, bool] = TtlCache(_LOCAL_MAX)
        self._subscription: Subscription | None = None
        self._rebuilding = asyncio.Lock()
        self._checks: RoundTrips[None, str, bool] = RoundTrips(self._check_many)

    async def start(self) -> None:
        """Hear about revocations made by other replicas."""
        self._subscription = await self._nats.subscribe(SUBJECT, cb=self._heard)

    async def close(self) -> None:
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
            self._subscription = None

    def known_revoked(self, session_id: str) -> bool:
        """Whether this process already knows the session is revoked (no I/O)."""
        return self._local.get(session_id) is not None

    async def is_revoked(self, session_id: str) -> bool:
        """Whether the session is revoked: one Redis round trip (PostgreSQL if Redis fails),
        shared with the other checks asked meanwhile."""
        if self.known_revoked(session_id):
            return True
        return await self._checks.read(None, session_id)

    async def _check_many(self, _: None, session_ids: list[str]) -> list[bool]:
        sessions = list(dict.fromkeys(session_ids))
        try:
            *values, ready = await self._redis.call(
                "MGET", *(KEY_PREFIX + session_id for session_id in sessions), READY_KEY
            )
            if ready is None:
                await self._rebuild()
                values = await self._redis.call("MGET", *(KEY_PREFIX + s for s in sessions))
            revoked = {s for s, value in zip(sessions, values, strict=True) if value is not None}
        except Exception as error:
            log.warning("revoked sessions: redis failed, asking postgres", error=repr(error))
            async with UnitOfWork(self._pool) as uow:
                revoked = {s for s in sessions if await uow.consumers.is_session_revoked(s)}
        for session_id in revoked:
            self._remember_locally(session_id)
        return [session_id in revoked for session_id in session_ids]

    async def revoke(self, session_id: str, revoked_at: datetime) -> None:
        """Spread a revocation already committed to PostgreSQL: this process, Redis, NATS."""
        self._remember_locally(session_id)
        ttl = self._ttl(revoked_at)
        if ttl > 0:
            await self._redis.set(KEY_PREFIX + session_id, b"1", ex=ttl)
        await self._nats.publish(SUBJECT, session_id.encode())

    def _ttl(self, revoked_at: datetime) -> int:
        return int((revoked_at + self._remember - self._clock.now()).total_seconds()) + 1

    def _remember_locally(self, session_id: str) -> None:
        self._local.put(session_id, True, self._remember.total_seconds())

    async def _heard(self, message: Msg) -> None:
        self._remember_locally(message.data.decode())

    async def _rebuild(self) -> None:
        """Copy the revocations that still matter from PostgreSQL, then mark the list whole."""
        async with self._rebuilding:
            if await self._redis.exists(READY_KEY):
                return
            since = self._clock.now() - self._remember
            async with UnitOfWork(self._pool) as uow:
                revoked = await uow.consumers.sessions_revoked_since(since)
            async with self._redis.pipeline(transaction=False) as pipe:
                for session_id, revoked_at in revoked:
                    pipe.set(KEY_PREFIX + session_id, b"1", ex=max(self._ttl(revoked_at), 1))
                pipe.set(READY_KEY, b"1")
                await pipe.execute()
            log.info("revoked sessions rebuilt in redis", sessions=len(revoked))
