"""How consumer API handlers learn who is calling, and the lifespan that makes it possible.

Handlers await ``storefront_of(request)`` (publishable key) or ``shopper_of(request)``
(publishable key and consumer access token) first thing, or declare ``server: ServerDep``
(secret key); the rules, and why the first two are not dependencies, live in
:mod:`fanfare_core.http.consumer_auth`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from fanfare_core.adapters.revoked_sessions import RevokedSessions
from fanfare_core.clock import Clock
from fanfare_core.domain.organizations import KeyKind
from fanfare_core.http.auth import require_secret_key
from fanfare_core.http.consumer_auth import (
    CONSUMER_DEPENDENCIES,
    ConsumerAuth,
    ServerDep,
    Shopper,
    Storefront,
    fingerprint_of,
    require_publishable_key,
    require_shopper,
    shopper_confirming_later,
    shopper_of,
    storefront_of,
)
from fanfare_core.runtime import Resources
from fanfare_core.service_layer.access_tokens import AccessTokenVerifier
from fanfare_core.service_layer.consumer_sessions import ConsumerSessions, SessionLifetimes
from fanfare_core.service_layer.key_cache import KeyCache
from fanfare_core.service_layer.signing_keys import KeyRingLoader

__all__ = [
    "CONSUMER_DEPENDENCIES",
    "ServerDep",
    "Shopper",
    "Storefront",
    "fingerprint_of",
    "require_publishable_key",
    "require_secret_key",
    "require_shopper",
    "sessions_lifespan",
    "shopper_confirming_later",
    "shopper_of",
    "storefront_of",
]


@asynccontextmanager
async def sessions_lifespan(app: Litestar) -> AsyncIterator[None]:
    """Load the shared key ring and start hearing about logouts; put on ``app.state``:

    - ``key_ring``: the :class:`KeyRingLoader` (``app.state.key_ring.current`` gives the
      ``TokenService`` of the moment, for admission tokens too),
    - ``consumer_auth``: what ``storefront_of`` and ``shopper_of`` authenticate with,
    - ``consumer_sessions``: the sign-in use cases.
    """
    resources: Resources = app.state.resources
    settings = resources.settings
    clock: Clock = app.state.clock
    lifetimes = SessionLifetimes.from_settings(settings)
    keys = KeyRingLoader(
        resources.pool,
        clock,
        issuer=settings.token_issuer,
        refresh_seconds=settings.signing_key_refresh_seconds,
    )
    revoked = RevokedSessions(
        redis=resources.redis,
        nats=resources.nats,
        pool=resources.pool,
        clock=clock,
        remember=lifetimes.revocation_memory,
    )
    await keys.start()
    try:
        await revoked.start()
        app.state.key_ring = keys
        app.state.consumer_auth = ConsumerAuth(
            publishable_keys=KeyCache(
                resources.pool,
                KeyKind.PUBLISHABLE,
                ttl_seconds=settings.api_key_cache_seconds,
                unknown_ttl_seconds=settings.unknown_api_key_cache_seconds,
            ),
            access_tokens=AccessTokenVerifier(
                keys=keys,
                revoked=revoked,
                clock=clock,
                recheck_seconds=settings.session_revocation_recheck_seconds,
            ),
        )
        app.state.consumer_sessions = ConsumerSessions(
            pool=resources.pool,
            clock=clock,
            tokens=keys.current,
            lifetimes=lifetimes,
            revoked=revoked,
        )
        yield
    finally:
        await revoked.close()
        await keys.close()
