"""Session routes: what a browser calls to sign in, and what a storefront server calls to
sign its own customer in."""

from __future__ import annotations

from typing import Any

from litestar import Request, Router, get, post
from litestar.datastructures import ResponseHeader, State
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody
from litestar.types import ControllerRouterHandler

from fanfare_consumer_api.auth import (
    ServerDep,
    fingerprint_of,
    require_publishable_key,
    require_secret_key,
    shopper_of,
    storefront_of,
)
from fanfare_consumer_api.sessions.schemas import (
    AuthorizeExternalRequest,
    ExchangeCode,
    ExchangeRequest,
    JsonWebKeySet,
    RefreshRequest,
    Session,
    SessionTokens,
)
from fanfare_core.clock import Clock
from fanfare_core.domain.timing import format_instant
from fanfare_core.http.strict_body import decode_body
from fanfare_core.service_layer.consumer_sessions import ConsumerSessions, IssuedSession
from fanfare_core.service_layer.signing_keys import KeyRingLoader

SessionsDep = NamedDependency[ConsumerSessions]


def provide_sessions(state: State) -> ConsumerSessions:
    sessions: ConsumerSessions = state.consumer_sessions
    return sessions


def _tokens(issued: IssuedSession) -> SessionTokens:
    return SessionTokens(
        consumer_id=issued.consumer_id,
        access_token=issued.access_token,
        token_type="Bearer",  # noqa: S106 - the scheme to send it with
        expires_at=format_instant(issued.expires_at),
        refresh_token=issued.refresh_token,
    )


@get(
    "/.well-known/jwks.json",
    operation_id="getJwks",
    summary="Public keys that verify Fanfare's tokens",
    tags=["Sessions"],
    response_headers=[ResponseHeader(name="Cache-Control", value="public, max-age=300")],
)
async def jwks(state: State) -> JsonWebKeySet:
    """Every public key not yet retired. A verifier that meets an unknown ``kid`` should
    fetch this again: a rotation adds a key that signs at once."""
    keys: KeyRingLoader = state.key_ring
    clock: Clock = state.clock
    return JsonWebKeySet(keys=keys.current().ring.jwks(clock.now())["keys"])


@post(
    "/guest",
    operation_id="signInGuest",
    summary="Sign in a new guest consumer",
    status_code=201,
)
async def sign_in_guest(request: Request[Any, Any, Any], sessions: SessionsDep) -> SessionTokens:
    """A new consumer (``cons_…``) on every call, bound to ``X-Fingerprint`` when given."""
    storefront = await storefront_of(request)
    issued = await sessions.start_guest(storefront.organization_id, fingerprint_of(request))
    return _tokens(issued)


@post(
    "/external/authorize",
    operation_id="authorizeExternalConsumer",
    summary="Get a one-time code for one of the storefront's customers (server side)",
    status_code=201,
    guards=[require_secret_key],
)
async def authorize_external(
    request: Request[Any, Any, Any],
    data: JSONBody[AuthorizeExternalRequest],
    server: ServerDep,
    sessions: SessionsDep,
) -> ExchangeCode:
    """The same ``externalId`` always maps to the same ``consumerId``. The code works once,
    for a short time, with the organization's publishable key."""
    body = await decode_body(request, AuthorizeExternalRequest)
    issued = await sessions.authorize_external(
        server.organization_id, body.external_id, body.fingerprint
    )
    return ExchangeCode(
        code=issued.code,
        expires_at=format_instant(issued.expires_at),
        consumer_id=issued.consumer_id,
    )


@post(
    "/external/exchange",
    operation_id="exchangeExternalCode",
    summary="Exchange a one-time code for a session",
    status_code=200,
    guards=[require_publishable_key],
)
async def exchange_code(
    request: Request[Any, Any, Any],
    data: JSONBody[ExchangeRequest],
    sessions: SessionsDep,
) -> SessionTokens:
    """A used, expired, unknown or other organization's code: ``400 Invalid exchange code``."""
    storefront = await storefront_of(request)
    body = await decode_body(request, ExchangeRequest)
    issued = await sessions.exchange(storefront.organization_id, body.code, fingerprint_of(request))
    return _tokens(issued)


@post(
    "/refresh",
    operation_id="refreshSession",
    summary="Trade a refresh token for a new access token and refresh token",
    status_code=200,
    guards=[require_publishable_key],
)
async def refresh_session(
    request: Request[Any, Any, Any],
    data: JSONBody[RefreshRequest],
    sessions: SessionsDep,
) -> SessionTokens:
    """The refresh token used stops working; the session keeps its fingerprint binding."""
    storefront = await storefront_of(request)
    body = await decode_body(request, RefreshRequest)
    return _tokens(await sessions.refresh(storefront.organization_id, body.refresh_token))


@post("/logout", operation_id="logout", summary="End the session", status_code=204)
async def logout(request: Request[Any, Any, Any], sessions: SessionsDep) -> None:
    """The session's refresh tokens and access tokens stop working."""
    shopper = await shopper_of(request)
    if shopper.session_id is not None:
        await sessions.end(shopper.organization_id, shopper.session_id)


@get("/session", operation_id="getSession", summary="Who the access token says the caller is")
async def current_session(request: Request[Any, Any, Any]) -> Session:
    shopper = await shopper_of(request)
    return Session(consumer_id=shopper.consumer_id, organization_id=shopper.organization_id)


ROUTER = Router(
    path="/api/v1/auth",
    route_handlers=[
        sign_in_guest,
        authorize_external,
        exchange_code,
        refresh_session,
        logout,
        current_session,
    ],
    dependencies={"sessions": Provide(provide_sessions, sync_to_thread=False)},
    tags=["Sessions"],
)

ROUTES: list[ControllerRouterHandler] = [jwks, ROUTER]
