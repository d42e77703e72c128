"""Who is calling the consumer API: a storefront, a shopper, or a storefront's server.

- ``storefront``: the browser's ``X-Publishable-Key: pk_…`` names the organization. Lookups
  are cached in the process (``api_key_cache_seconds``; unknown keys for
  ``unknown_api_key_cache_seconds``), so a revoked publishable key stops working within
  that time. Missing, unknown, revoked or secret keys: ``401 Authentication required``.
- ``shopper``: the storefront plus ``Authorization: Bearer <access token>``. No header:
  ``400 Consumer ID is required``; a token that is not a live access token of the
  storefront's organization: ``401 Invalid access token``. An ``X-Fingerprint`` header
  that is malformed or differs from the one the session is bound to:
  ``400 Fingerprint validation failed`` with ``X-Fingerprint-Error: true``.
- ``server``: ``Authorization: Bearer sk_…`` (see :mod:`fanfare_core.http.auth`).

A handler's first statement is ``storefront = await storefront_of(request)`` or
``shopper = await shopper_of(request)``. They are plain calls rather than Litestar
dependencies because resolving a dependency costs about 5 µs a request (one more parse of
the handler's arguments, a cleanup group, an exit stack) of the 27-30 µs a queue status
poll, the hottest route, takes in the process. Litestar validates a handler's body and
query parameters before calling it, so routes that take either authenticate earlier, in
the guard :func:`require_publishable_key` or the ``before_request`` hook
:func:`require_shopper`, and the authentication errors still come first.
:func:`storefront_of` and :func:`shopper_of` keep their answer in the request's state, so
what the guard or the hook authenticated is not looked up again. The enter route uses
:func:`shopper_confirming_later`, which leaves the question whether the session was logged
out under way for the enter's batch to read. Servers are still a
dependency (``server: ServerDep``): their routes are not hot.

The app passes :data:`CONSUMER_DEPENDENCIES` to ``build_app`` and puts a
:class:`ConsumerAuth` on ``app.state.consumer_auth`` in its lifespan.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency, Provide

from fanfare_core.domain.consumers import (
    CONSUMER_ID_REQUIRED,
    INVALID_ACCESS_TOKEN,
    check_fingerprint,
    presented_fingerprint,
)
from fanfare_core.domain.errors import BadRequest, Unauthenticated
from fanfare_core.http.auth import provide_principal
from fanfare_core.service_layer.access_tokens import AccessTokenVerifier
from fanfare_core.service_layer.key_cache import KeyCache
from fanfare_core.service_layer.organizations import Principal

PUBLISHABLE_KEY_HEADER = "x-publishable-key"
FINGERPRINT_HEADER = "x-fingerprint"
_PUBLISHABLE_KEY = PUBLISHABLE_KEY_HEADER.encode()
_FINGERPRINT = FINGERPRINT_HEADER.encode()
_AUTHORIZATION = b"authorization"
_STOREFRONT = "storefront"
_SHOPPER = "shopper"


@dataclass(frozen=True, slots=True)
class Storefront:
    """The organization behind a request's publishable key."""

    organization_id: str
    key_id: str


@dataclass(frozen=True, slots=True)
class Shopper:
    """A consumer signed in to a storefront, with the device the request came from."""

    organization_id: str
    consumer_id: str
    fingerprint_hash: str | None  # what the session is bound to
    fingerprint: str | None  # the X-Fingerprint presented on this request (validated), if any
    session_id: str | None = None  # the sign-in the access token belongs to


@dataclass(frozen=True, slots=True)
class ConsumerAuth:
    """What the providers authenticate with; built once in the consumer API's lifespan."""

    publishable_keys: KeyCache
    access_tokens: AccessTokenVerifier


def _auth(connection: ASGIConnection[Any, Any, Any, Any]) -> ConsumerAuth:
    auth: ConsumerAuth = connection.app.state.consumer_auth
    return auth


def _header(connection: ASGIConnection[Any, Any, Any, Any], name: bytes) -> str | None:
    """The first value of the header ``name`` (lower case, as ASGI servers give every
    header name), read straight from the scope: cheaper than building the headers mapping
    on the hot path."""
    for key, value in connection.scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def fingerprint_of(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The request's ``X-Fingerprint`` (None when absent); malformed: ``400 Fingerprint
    validation failed`` with ``X-Fingerprint-Error: true``."""
    return presented_fingerprint(_header(connection, _FINGERPRINT))


async def storefront_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Storefront:
    """The storefront the request's publishable key names, or ``401 Authentication
    required``; looked up once per request."""
    # The request's state (what ``connection.state`` wraps, without making a wrapper):
    # a guard that ran first left the storefront there.
    state: dict[str, Any] | None = connection.scope.get("state")
    cached = None if state is None else state.get(_STOREFRONT)
    if isinstance(cached, Storefront):
        return cached
    principal = await _auth(connection).publishable_keys.authenticate(
        _header(connection, _PUBLISHABLE_KEY)
    )
    storefront = Storefront(organization_id=principal.organization_id, key_id=principal.key_id)
    if state is not None:
        state[_STOREFRONT] = storefront
    return storefront


async def shopper_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Shopper:
    """The signed-in shopper behind the request (errors: see the module's docstring);
    authenticated once per request."""
    shopper, _ = await _shopper(connection, confirm_later=False)
    return shopper


async def shopper_confirming_later(
    connection: ASGIConnection[Any, Any, Any, Any],
) -> tuple[Shopper, asyncio.Task[None] | None]:
    """:func:`shopper_of`, for a route whose work waits on a round trip anyway (an enter,
    whose batch waits on PostgreSQL): where Redis must be asked whether the session was
    logged out, the shopper comes back with the task asking it
    (:meth:`~fanfare_core.service_layer.access_tokens.AccessTokenVerifier.verify_confirming_later`),
    which the route must await, and which ends in ``401 Invalid access token`` if it
    was, before it does anything for the shopper."""
    return await _shopper(connection, confirm_later=True)


async def _shopper(
    connection: ASGIConnection[Any, Any, Any, Any], *, confirm_later: bool
) -> tuple[Shopper, asyncio.Task[None] | None]:
    state: dict[str, Any] | None = connection.scope.get("state")  # as in storefront_of
    cached = None if state is None else state.get(_SHOPPER)
    if isinstance(cached, Shopper):
        return cached, None
    storefront = await storefront_of(connection)
    header = _header(connection, _AUTHORIZATION)
    if header is None or not header.strip():
        raise BadRequest(CONSUMER_ID_REQUIRED)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(INVALID_ACCESS_TOKEN)
    tokens = _auth(connection).access_tokens
    confirming = None
    if confirm_later:
        grant, confirming = await tokens.verify_confirming_later(
            storefront.organization_id, token.strip()
        )
    else:
        grant = await tokens.verify(storefront.organization_id, token.strip())
    try:
        fingerprint = fingerprint_of(connection)
        check_fingerprint(grant.fingerprint_hash, fingerprint)
    except Exception:
        if confirming is not None:
            await confirming  # a logged-out session's 401 comes first, as it always does
        raise
    shopper = Shopper(
        organization_id=grant.organization_id,
        consumer_id=grant.consumer_id,
        fingerprint_hash=grant.fingerprint_hash,
        fingerprint=fingerprint,
        session_id=grant.session_id,
    )
    if state is not None and confirming is None:  # only a confirmed shopper is kept
        state[_SHOPPER] = shopper
    return shopper, confirming


async def require_publishable_key(
    connection: ASGIConnection[Any, Any, Any, Any], _: object
) -> None:
    """Guard of publishable-key routes that take a body: ``401 Authentication required``
    comes before any complaint about the body."""
    await storefront_of(connection)


async def require_shopper(request: Request[Any, Any, Any]) -> None:
    """``before_request`` hook of shopper routes that take a body or query parameters,
    which Litestar decodes and validates before the handler runs: the shopper's errors
    come first (``401 Invalid access token``, not a complaint about the amount), as on
    every route. A hook rather than a guard: Litestar calls each guard with a copy of the
    route handler, which costs more (about 8 µs) than the dependency this replaces."""
    await shopper_of(request)


# What handlers of server routes declare to receive.
ServerDep = NamedDependency[Principal]

CONSUMER_DEPENDENCIES: dict[str, Provide] = {
    "server": Provide(provide_principal),
}
