"""Request and response bodies of the session routes (camelCase, unknown fields refused)."""

from __future__ import annotations

from typing import Literal

import msgspec


class Request(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    """Base of request bodies."""


class AuthorizeExternalRequest(Request):
    """A storefront's customer, by the storefront's own id, and optionally the device
    fingerprint the browser will present."""

    external_id: str
    fingerprint: str | None = None


class ExchangeRequest(Request):
    code: str


class RefreshRequest(Request):
    refresh_token: str


class SessionTokens(msgspec.Struct, rename="camel"):
    """A signed-in consumer: the access token to send as ``Authorization: Bearer``, and the
    refresh token that gets the next one (each refresh token works once)."""

    consumer_id: str
    access_token: str
    token_type: Literal["Bearer"]
    expires_at: str
    refresh_token: str


class ExchangeCode(msgspec.Struct, rename="camel"):
    """A one-time code for the browser to exchange at ``/api/v1/auth/external/exchange``."""

    code: str
    expires_at: str
    consumer_id: str


class Session(msgspec.Struct, rename="camel"):
    """Who the access token says the caller is."""

    consumer_id: str
    organization_id: str


class JsonWebKeySet(msgspec.Struct):
    """Public keys (RFC 7517) that verify Fanfare's tokens, by ``kid``."""

    keys: list[dict[str, str]]
