"""What the draw routes need while the app runs: the draw service, and a subscription that
drops cached draws the moment an admin changes one or its status moves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from nats.aio.msg import Msg

from fanfare_core.events.catalogue import EVENTS_PREFIX
from fanfare_core.events.envelope import decode_envelope
from fanfare_core.runtime import Resources
from fanfare_core.service_layer.draws import DrawDirectory, DrawService


@asynccontextmanager
async def draws_lifespan(app: Litestar) -> AsyncIterator[None]:
    resources: Resources = app.state.resources
    directory = DrawDirectory(resources.pool, ttl_seconds=resources.settings.queue_cache_seconds)
    app.state.draws = DrawService(
        pool=resources.pool,
        directory=directory,
        tokens=app.state.key_ring.current,
        clock=app.state.clock,
    )

    async def forget_changed(message: Msg) -> None:
        distribution_id = decode_envelope(message.data).data.get("distributionId")
        if isinstance(distribution_id, str) and distribution_id.startswith("draw_"):
            directory.forget(distribution_id)

    subscriptions = [
        await resources.nats.subscribe(f"{EVENTS_PREFIX}.*.*.{kind}", cb=forget_changed)
        for kind in ("distribution.updated", "distribution.status_changed")
    ]
    try:
        yield
    finally:
        for subscription in subscriptions:
            await subscription.unsubscribe()
