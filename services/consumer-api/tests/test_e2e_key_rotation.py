"""``fanfare keys rotate`` against the running consumer API: the new key is published and
signs from then on, while tokens signed before keep working through the overlap."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx

from fanfare_core.settings import Settings
from fanfare_testing import run_fanfare

from .helpers import bearer, header_of, json_of, seconds_from_now


async def eventually(probe, within: float = 5.0) -> Any:  # type: ignore[no-untyped-def]
    """The first truthy result of ``await probe()``, polled for at most ``within`` seconds."""
    deadline = time.monotonic() + within
    while not (result := await probe()):
        assert time.monotonic() < deadline, "no result in time"
        await asyncio.sleep(0.1)
    return result


async def test_a_rotation_publishes_the_new_key_and_keeps_old_tokens_working(
    browser: httpx.AsyncClient, settings: Settings
) -> None:
    before = json_of(await browser.post("/api/v1/auth/guest"), 201)
    old_kid = header_of(before["accessToken"])["kid"]

    done = await asyncio.to_thread(run_fanfare, settings, "keys", "rotate", "--json")
    assert done.returncode == 0, done.stderr
    rotated = json.loads(done.stdout)
    new_kid = rotated["kid"]
    assert new_kid != old_kid
    listed = {key["kid"]: key for key in rotated["keys"]}
    assert listed[new_kid]["signing"] is True
    assert listed[new_kid]["retiresAt"] is None
    assert 23.9 * 3600 < seconds_from_now(listed[old_kid]["retiresAt"]) <= 24 * 3600

    async def published() -> set[str] | None:
        kids = {k["kid"] for k in json_of(await browser.get("/.well-known/jwks.json"), 200)["keys"]}
        return kids if new_kid in kids else None

    assert {old_kid, new_kid} <= await eventually(published)

    async def signed_by_new_key() -> dict[str, Any] | None:
        made: dict[str, Any] = json_of(await browser.post("/api/v1/auth/guest"), 201)
        return made if header_of(made["accessToken"])["kid"] == new_kid else None

    after = await eventually(signed_by_new_key)
    for token in (before["accessToken"], after["accessToken"]):
        response = await browser.get("/api/v1/auth/session", headers=bearer(token))
        assert response.status_code == 200, response.text
    renewed = json_of(
        await browser.post("/api/v1/auth/refresh", json={"refreshToken": before["refreshToken"]}),
        200,
    )
    assert header_of(renewed["accessToken"])["kid"] == new_kid

    done = await asyncio.to_thread(run_fanfare, settings, "keys", "list", "--json")
    assert done.returncode == 0, done.stderr
    keys = {key["kid"]: key for key in json.loads(done.stdout)["keys"]}
    assert [kid for kid, key in keys.items() if key["signing"]] == [new_kid]
    assert (keys[old_kid]["retired"], keys[new_kid]["retired"]) == (False, False)


def test_a_rotation_shorter_than_a_token_lifetime_needs_force(settings: Settings) -> None:
    done = run_fanfare(settings, "keys", "rotate", "--overlap-hours", "0.5")
    assert done.returncode == 2
    assert "shorter than the access token lifetime" in done.stderr
    done = run_fanfare(settings, "keys", "rotate", "--overlap-hours", "-1", "--force")
    assert done.returncode == 2
    assert "must not be negative" in done.stderr
