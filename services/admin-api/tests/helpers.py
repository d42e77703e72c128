"""What the admin API end-to-end tests share: shapes of generated values and small checks."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import httpx

ULID = r"[0-9A-HJKMNP-TV-Z]{26}"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
UTC_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$")
KINDS = ("queue", "draw", "auction")
NOT_FOUND = {"queue": "Queue not found", "draw": "Draw not found", "auction": "Auction not found"}
EMPTY_PAGE = {"data": [], "nextCursor": None}

# Smallest valid creation body of each kind (besides ``sequenceId``).
MINIMAL: dict[str, dict[str, Any]] = {
    "queue": {},
    "draw": {"drawAt": "2030-06-01T12:00:00Z", "winnerCount": 3},
    "auction": {"settleAt": "2030-06-01T12:00:00Z"},
}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def path(kind: str, distribution_id: str | None = None) -> str:
    base = f"/api/v1/{kind}s"
    return base if distribution_id is None else f"{base}/{distribution_id}"


def is_id(value: object, prefix: str) -> bool:
    return isinstance(value, str) and re.fullmatch(f"{prefix}_{ULID}", value) is not None


def is_instant(value: object) -> bool:
    return isinstance(value, str) and UTC_INSTANT.match(value) is not None


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def json_of(response: httpx.Response, status: int) -> Any:
    """The JSON body, after checking the status (the body is shown when it differs)."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def error_fields(response: httpx.Response) -> list[str]:
    """The fields a ``400 Validation failed`` names; checks the error format on the way."""
    body = json_of(response, 400)
    assert set(body) == {"error", "details"}, body
    assert body["error"] == "Validation failed"
    assert body["details"], body
    for detail in body["details"]:
        assert set(detail) == {"field", "message"}, detail
        assert isinstance(detail["message"], str)
        assert detail["message"]
    return [detail["field"] for detail in body["details"]]


def assert_error(response: httpx.Response, status: int, message: str) -> None:
    """An error response: exactly ``{"error": message}`` (no details) with ``X-Request-Id``."""
    assert json_of(response, status) == {"error": message}
    assert response.headers.get("x-request-id")


def without_generated(body: dict[str, Any]) -> dict[str, Any]:
    """The body minus the fields the server generates (checked separately by shape)."""
    generated = {"id", "organizationId", "encryptionSeed", "createdAt", "updatedAt"}
    return {key: value for key, value in body.items() if key not in generated}
