"""What the consumer API end-to-end tests share: checks of responses and tokens."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt

ULID = r"[0-9A-HJKMNP-TV-Z]{26}"
UTC_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$")
SESSION_FIELDS = {"consumerId", "accessToken", "tokenType", "expiresAt", "refreshToken"}
FINGERPRINT_FAILED = "Fingerprint validation failed"
INVALID_ACCESS_TOKEN = "Invalid access token"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def is_id(value: object, prefix: str) -> bool:
    return isinstance(value, str) and re.fullmatch(f"{prefix}_{ULID}", value) is not None


def instant(value: str) -> datetime:
    assert UTC_INSTANT.match(value), value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def seconds_from_now(value: str) -> float:
    return (instant(value) - datetime.now(UTC)).total_seconds()


def json_of(response: httpx.Response, status: int) -> Any:
    """The JSON body, after checking the status (the body is shown when it differs)."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def assert_error(response: httpx.Response, status: int, message: str) -> None:
    """Exactly ``{"error": message}`` with ``X-Request-Id``; 401s say how to authenticate,
    fingerprint failures say so in ``X-Fingerprint-Error``."""
    assert json_of(response, status) == {"error": message}
    assert response.headers.get("x-request-id")
    if status == 401:
        assert response.headers.get("www-authenticate") == "Bearer"
    if message == FINGERPRINT_FAILED:
        assert response.headers.get("x-fingerprint-error") == "true"
    else:
        assert "x-fingerprint-error" not in response.headers


def field_errors(response: httpx.Response) -> list[str]:
    """The fields a ``400 Validation failed`` names."""
    body = json_of(response, 400)
    assert body["error"] == "Validation failed", body
    assert body["details"], body
    return [detail["field"] for detail in body["details"]]


def header_of(token: str) -> dict[str, Any]:
    return jwt.get_unverified_header(token)


def claims_of(token: str) -> dict[str, Any]:
    """A token's claims, unverified (what a test inspects, not what anyone should trust)."""
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def assemble(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    parts = [json.dumps(header).encode(), json.dumps(claims).encode(), signature]
    return ".".join(b64url(part) for part in parts)
