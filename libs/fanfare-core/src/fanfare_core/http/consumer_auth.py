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

Handlers declare ``storefront: StorefrontDep``, ``shopper: ShopperDep`` or
``server: ServerDep``; the app passes :data:`CONSUMER_DEPENDENCIES` to ``build_app`` and
puts a :class:`ConsumerAuth` on ``app.state.consumer_auth`` in its lifespan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import State
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


async def _storefront(connection: ASGIConnection[Any, Any, Any, Any]) -> Storefront:
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


async def require_publishable_key(
    connection: ASGIConnection[Any, Any, Any, Any], _: object
) -> None:
    """Guard of publishable-key routes that take a body: ``401 Authentication required``
    comes before any complaint about the body."""
    await _storefront(connection)


async def provide_storefront(request: Request[object, object, State]) -> Storefront:
    return await _storefront(request)


async def provide_shopper(request: Request[object, object, State]) -> Shopper:
    # The storefront is resolved here rather than as a dependency of its own: one
    # dependency to resolve per request instead of two (status polls are the hot path).
    storefront = await _storefront(request)
    header = _header(request, _AUTHORIZATION)
    if header is None or not header.strip():
        raise BadRequest(CONSUMER_ID_REQUIRED)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(INVALID_ACCESS_TOKEN)
    grant = await _auth(request).access_tokens.verify(storefront.organization_id, token.strip())
    fingerprint = fingerprint_of(request)
    check_fingerprint(grant.fingerprint_hash, fingerprint)
    return Shopper(
        organization_id=grant.organization_id,
        consumer_id=grant.consumer_id,
        fingerprint_hash=grant.fingerprint_hash,
        fingerprint=fingerprint,
        session_id=grant.session_id,
    )


# What handlers declare to receive.
StorefrontDep = NamedDependency[Storefront]
ShopperDep = NamedDependency[Shopper]
ServerDep = NamedDependency[Principal]

CONSUMER_DEPENDENCIES: dict[str, Provide] = {
    "storefront": Provide(provide_storefront),
    "shopper": Provide(provide_shopper),
    "server": Provide(provide_principal),
}
