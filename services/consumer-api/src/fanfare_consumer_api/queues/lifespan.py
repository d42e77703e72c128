"""What the queue and auction routes need while the app runs: their services, enter limits,
and subscriptions that drop cached distributions the moment they change."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from nats.aio.msg import Msg

from fanfare_consumer_api.limits import ENTER_LIMIT_WINDOW_SECONDS, EnterLimits
from fanfare_core.adapters.redis.queue_line import QueueLine
from fanfare_core.adapters.redis.rate_limit import RateLimits
from fanfare_core.events.catalogue import EVENTS_PREFIX
from fanfare_core.events.envelope import decode_envelope
from fanfare_core.runtime import Resources
from fanfare_core.service_layer.auctions import AuctionService
from fanfare_core.service_layer.queues import QueueDirectory, QueueService


@asynccontextmanager
async def queues_lifespan(app: Litestar) -> AsyncIterator[None]:
    resources: Resources = app.state.resources
    settings = resources.settings
    directory = QueueDirectory(resources.pool, ttl_seconds=settings.queue_cache_seconds)
    app.state.enter_limits = limits = EnterLimits(
        RateLimits(resources.redis, window_seconds=ENTER_LIMIT_WINDOW_SECONDS),
        per_consumer=settings.enter_limit_per_consumer,
        per_address=settings.enter_limit_per_address,
    )
    # A queue's enters are counted against the limits by its batches (draws' by route).
    app.state.queues = QueueService(
        pool=resources.pool,
        line=QueueLine(resources.redis),
        directory=directory,
        tokens=app.state.key_ring.current,
        clock=app.state.clock,
        gate=limits.waits,
    )

    app.state.auctions = AuctionService(
        resources.pool,
        app.state.clock,
        cache_seconds=settings.queue_cache_seconds,
        tokens=app.state.key_ring.current,
    )

    async def forget_changed(message: Msg) -> None:
        distribution_id = decode_envelope(message.data).data.get("distributionId")
        if isinstance(distribution_id, str):
            directory.forget(distribution_id)
            app.state.auctions.forget(distribution_id)

    # Admin changes, and status changes made by the scheduler or the settlement worker.
    subscriptions = [
        await resources.nats.subscribe(f"{EVENTS_PREFIX}.*.*.{kind}", cb=forget_changed)
        for kind in ("distribution.updated", "distribution.status_changed")
    ]
    try:
        yield
    finally:
        for subscription in subscriptions:
            await subscription.unsubscribe()
