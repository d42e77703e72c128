"""The connections a Fanfare process holds, opened once in its composition root."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from fanfare_core.adapters.nats.connection import connect, declare_streams
from fanfare_core.adapters.nats.outbox_relay import OutboxRelay
from fanfare_core.adapters.postgres.pool import open_pool
from fanfare_core.adapters.redis.client import FanfareRedis, open_redis
from fanfare_core.logs import get_logger
from fanfare_core.settings import Settings

log = get_logger(__name__)

#: Redis connections a process keeps at most.
REDIS_CONNECTIONS = 64


@dataclass(slots=True)
class Resources:
    """PostgreSQL pool, Redis client, NATS connection, and the outbox relay task."""

    settings: Settings
    pool: AsyncConnectionPool[AsyncConnection]
    redis: FanfareRedis
    nats: NatsClient
    js: JetStreamContext
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _relay: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, settings: Settings) -> Resources:
        """Connect to the three servers and declare the streams (idempotent)."""
        settings.require_infrastructure()
        pool = await open_pool(settings)
        redis_client = open_redis(settings.redis_url, max_connections=REDIS_CONNECTIONS)
        nats_client = await connect(settings.nats_url, settings.service_name)
        js = nats_client.jetstream()
        await declare_streams(js, settings.stream_replicas)
        return cls(settings=settings, pool=pool, redis=redis_client, nats=nats_client, js=js)

    def start_outbox_relay(self) -> None:
        """Publish committed events in the background until :meth:`close`, unless this
        process is configured to leave that to others (``FANFARE_OUTBOX_RELAY=false``)."""
        if not self.settings.outbox_relay:
            log.info("outbox relay off: other services publish this one's events")
            return
        relay = OutboxRelay(
            self.pool,
            self.js,
            database_url=self.settings.database_url,
            poll_seconds=self.settings.outbox_poll_seconds,
        )
        self._relay = asyncio.create_task(relay.run(self._stop), name="outbox-relay")

    @property
    def relaying(self) -> bool:
        """Whether this process runs an outbox relay."""
        return self._relay is not None

    async def readiness(self) -> dict[str, bool]:
        """Whether each dependency answers right now."""
        checks: dict[str, bool] = {}
        try:
            async with self.pool.connection(timeout=2) as conn:
                await conn.execute("SELECT 1")
            checks["postgres"] = True
        except Exception:
            checks["postgres"] = False
        try:
            checks["redis"] = bool(await asyncio.wait_for(self.redis.ping(), 2))
        except Exception:
            checks["redis"] = False
        checks["nats"] = self.nats.is_connected
        return checks

    async def close(self) -> None:
        """Stop the relay, drain NATS, close the pool and Redis."""
        self._stop.set()
        if self._relay is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._relay, timeout=10)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.nats.drain(), timeout=5)
        await self.redis.aclose()
        await self.pool.close()
