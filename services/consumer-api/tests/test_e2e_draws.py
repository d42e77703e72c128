"""The consumer draw API over HTTP: every route, status code and error text; a draw run as
the settlement worker will run it; its proof checked by ``fanfare draws verify``."""

import asyncio
import hashlib
import re
from pathlib import Path

import jwt

from fanfare_testing import run_fanfare

from .draw_support import close_now, enter, make_draw, run_draw, status
from .helpers import assert_error, instant, json_of
from .queue_support import new_shopper

STATE_KEYS = {
    "drawId", "consumerId", "status", "enteredAt", "wonAt", "admissionToken", "denyReason",
    "claimExpiresAt", "claimedAt",
}  # fmt: skip
HEX64 = re.compile(r"^[0-9a-f]{64}$")


async def test_draw_view_for_shoppers(browser, anonymous, pool, tenant, other_tenant) -> None:  # type: ignore[no-untyped-def]
    draw = await make_draw(
        pool, tenant, name="Raffle", close_at="2098-12-31T00:00:00Z", max_entries=500
    )
    body = json_of(await browser.get(f"/api/v1/draws/{draw}"), 200)
    commitment = body.pop("commitment")
    assert HEX64.match(commitment)
    assert body == {
        "id": draw,
        "name": "Raffle",
        "sequenceId": tenant.sequence_id,
        "openAt": "2020-01-01T00:00:00Z",
        "closeAt": "2098-12-31T00:00:00Z",
        "drawAt": "2099-01-01T00:00:00Z",
        "timeZone": "America/New_York",
        "winnerCount": 2,
        "maxEntries": 500,
        "status": "OPEN",
        "entryCount": 0,
    }
    await enter(browser, draw, await new_shopper(browser))
    again = json_of(await browser.get(f"/api/v1/draws/{draw}"), 200)
    assert again["commitment"] == commitment  # fixed once made
    pending = await make_draw(pool, tenant, open_at="2098-01-01T00:00:00Z")
    assert json_of(await browser.get(f"/api/v1/draws/{pending}"), 200)["status"] == "PENDING"
    closed = await make_draw(pool, tenant, close_at="2021-01-01T00:00:00Z")
    assert json_of(await browser.get(f"/api/v1/draws/{closed}"), 200)["status"] == "CLOSED"
    foreign = await make_draw(pool, other_tenant)
    for missing in (foreign, "draw_01JDQ8Z6W3K9X2M4N5P6Q7R8SA"):
        for path in ("", "/proof", "/proof/entries"):
            assert_error(await browser.get(f"/api/v1/draws/{missing}{path}"), 404, "Draw not found")
    assert_error(await anonymous.get(f"/api/v1/draws/{draw}"), 401, "Authentication required")


async def test_enter_status_leave_and_enter_again(browser, pool, tenant) -> None:  # type: ignore[no-untyped-def]
    draw = await make_draw(pool, tenant)
    shopper = await new_shopper(browser, "fp_draw_1")
    body = json_of(await enter(browser, draw, shopper), 200)
    assert set(body) == STATE_KEYS
    entered_at = body.pop("enteredAt")
    instant(entered_at)
    assert body == {
        "drawId": draw, "consumerId": shopper.consumer_id, "status": "ENTERED", "wonAt": None,
        "admissionToken": None, "denyReason": None, "claimExpiresAt": None, "claimedAt": None,
    }  # fmt: skip
    # Entering twice is one entry.
    assert json_of(await enter(browser, draw, shopper), 200)["enteredAt"] == entered_at
    assert json_of(await status(browser, draw, shopper), 200)["status"] == "ENTERED"
    assert json_of(await browser.get(f"/api/v1/draws/{draw}"), 200)["entryCount"] == 1
    left = json_of(
        await browser.post(f"/api/v1/draws/{draw}/leave", headers=shopper.headers()), 200
    )
    assert left["status"] == "LEFT"
    again = await browser.post(f"/api/v1/draws/{draw}/leave", headers=shopper.headers())
    assert_error(again, 404, "Consumer not in draw")
    assert json_of(await enter(browser, draw, shopper), 200)["status"] == "ENTERED"
    assert_error(
        await status(browser, draw, await new_shopper(browser)), 404, "Consumer not in draw"
    )
    for call in (
        browser.post(f"/api/v1/draws/{draw}/enter"),
        browser.post(f"/api/v1/draws/{draw}/leave"),
        browser.get(f"/api/v1/draws/{draw}/status"),
    ):
        assert_error(await call, 400, "Consumer ID is required")
    wrong_device = await browser.post(
        f"/api/v1/draws/{draw}/enter",
        headers={"Authorization": f"Bearer {shopper.token}", "X-Fingerprint": "fp_other"},
    )
    assert_error(wrong_device, 400, "Fingerprint validation failed")


async def test_before_opening_after_closing_and_when_full(browser, pool, tenant) -> None:  # type: ignore[no-untyped-def]
    shopper = await new_shopper(browser)
    later = await make_draw(pool, tenant, open_at="2098-06-01T09:00:00Z")
    response = await enter(browser, later, shopper)
    assert_error(response, 423, "Draw is not open yet")
    assert response.headers["Retry-After"] == "2098-06-01T09:00:00Z"
    closed = await make_draw(pool, tenant, close_at="2021-01-01T00:00:00Z")
    assert_error(await enter(browser, closed, shopper), 400, "Draw is closed")
    no_close = await make_draw(pool, tenant, draw_at="2021-01-01T00:00:00Z")  # closes at drawAt
    assert_error(await enter(browser, no_close, shopper), 400, "Draw is closed")
    small = await make_draw(pool, tenant, max_entries=2)
    crowd = [await new_shopper(browser) for _ in range(2)]
    for person in crowd:
        assert (await enter(browser, small, person)).status_code == 200
    full = await enter(browser, small, shopper)
    assert_error(full, 429, "Draw is full")
    assert full.headers["Retry-After"] == "60"
    assert (await enter(browser, small, crowd[0])).status_code == 200  # already in: fine
    await browser.post(f"/api/v1/draws/{small}/leave", headers=crowd[0].headers())
    assert (await enter(browser, small, shopper)).status_code == 200  # a place freed


async def test_a_drawn_draw_has_winners_losers_and_a_proof_anyone_can_check(
    browser, storefront_server, pool, tenant, settings, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    draw = await make_draw(pool, tenant, winner_count=2)
    shoppers = [await new_shopper(browser, f"fp_entrant_{i}") for i in range(7)]
    for shopper in shoppers:
        assert (await enter(browser, draw, shopper)).status_code == 200
    commitment = json_of(await browser.get(f"/api/v1/draws/{draw}"), 200)["commitment"]
    assert_error(await browser.get(f"/api/v1/draws/{draw}/proof"), 404, "Draw not drawn yet")
    assert_error(
        await browser.get(f"/api/v1/draws/{draw}/proof/entries"), 404, "Draw not drawn yet"
    )
    await close_now(pool, tenant, draw)
    result = await run_draw(pool, settings, tenant, draw)
    assert len(result.winners) == 2

    async def drawn() -> dict[str, object]:
        while True:
            body: dict[str, object] = json_of(await browser.get(f"/api/v1/draws/{draw}"), 200)
            if body["status"] == "DRAWN":
                return body
            await asyncio.sleep(0.05)

    view = await asyncio.wait_for(drawn(), timeout=5)
    assert (view["entryCount"], view["commitment"]) == (7, commitment)
    assert_error(await enter(browser, draw, await new_shopper(browser)), 400, "Draw is closed")

    # Winners see WON and an admission token that verifies offline with the JWKS.
    keys = json_of(await browser.get("/.well-known/jwks.json"), 200)["keys"]
    by_id = {s.consumer_id: s for s in shoppers}
    for winner in result.winners:
        body = json_of(await status(browser, draw, by_id[winner]), 200)
        assert body["status"] == "WON"
        instant(body["wonAt"])
        token = body["admissionToken"]
        public = jwt.PyJWK(
            next(k for k in keys if k["kid"] == jwt.get_unverified_header(token)["kid"])
        )
        claims = jwt.decode(token, public, algorithms=["EdDSA"], audience=draw)
        assert (claims["sub"], claims["typ"]) == (winner, "admission")
        assert claims["fph"] == hashlib.sha256(by_id[winner].fingerprint.encode()).hexdigest()  # type: ignore[union-attr]
        assert instant(body["claimExpiresAt"]).timestamp() == claims["exp"]
        assert claims["exp"] - claims["iat"] == 24 * 3600
    losers = [s for s in shoppers if s.consumer_id not in result.winners]
    for loser in losers:
        body = json_of(await status(browser, draw, loser), 200)
        assert (body["status"], body["admissionToken"], body["wonAt"]) == ("LOST", None, None)
    gone = await browser.post(f"/api/v1/draws/{draw}/leave", headers=losers[0].headers())
    assert_error(gone, 400, "Draw is closed")

    # The proof and the entry list, as published, recompute to the same winners.
    proof = json_of(await browser.get(f"/api/v1/draws/{draw}/proof"), 200)
    instant(proof.pop("drawnAt"))
    assert proof == {
        "drawId": draw,
        "algorithm": "fanfare-draw-v1",
        "version": 1,
        "seed": result.seed.hex(),
        "commitment": commitment,
        "entriesDigest": result.entries_digest,
        "entryCount": 7,
        "winnerCount": 2,
        "winners": list(result.winners),
        "backups": list(result.backups),
        "entriesUrl": f"/api/v1/draws/{draw}/proof/entries",
    }
    assert hashlib.sha256(bytes.fromhex(proof["seed"])).hexdigest() == commitment
    listing = await browser.get(f"/api/v1/draws/{draw}/proof/entries")
    assert listing.status_code == 200
    assert listing.headers["content-type"].startswith("text/plain")
    assert listing.text == "".join(f"{c}\n" for c in sorted(by_id))
    assert hashlib.sha256(listing.content).hexdigest() == proof["entriesDigest"]
    proof_file, entries_file = tmp_path / "proof.json", tmp_path / "entries.txt"
    proof_file.write_text((await browser.get(f"/api/v1/draws/{draw}/proof")).text)
    entries_file.write_bytes(listing.content)
    verify = ("draws", "verify", "--proof", str(proof_file), "--entries", str(entries_file))
    done = await asyncio.to_thread(run_fanfare, settings, *verify)
    assert (done.returncode, done.stdout.split(":")[0]) == (0, "OK"), done.stderr
    # One entry removed from the list: the digest no longer matches.
    entries_file.write_bytes(listing.content.replace(f"{losers[0].consumer_id}\n".encode(), b""))
    tampered = await asyncio.to_thread(run_fanfare, settings, *verify)
    assert tampered.returncode == 1
    assert tampered.stdout.startswith("MISMATCH: the entry list's SHA-256 is")
    # Fetched over HTTP instead of from files.
    url = f"{browser.base_url}/api/v1/draws/{draw}/proof"
    fetched = await asyncio.to_thread(
        run_fanfare, settings, "draws", "verify", "--url", url,
        "--publishable-key", tenant.publishable_key,
    )  # fmt: skip
    assert (fetched.returncode, fetched.stdout.split(":")[0]) == (0, "OK"), fetched.stderr


async def test_server_side_claim_and_deny(
    browser, storefront_server, pool, tenant, settings
) -> None:  # type: ignore[no-untyped-def]
    draw = await make_draw(pool, tenant, winner_count=1)
    shoppers = [await new_shopper(browser) for _ in range(4)]
    for shopper in shoppers:
        await enter(browser, draw, shopper)
    denied = await storefront_server.post(
        f"/api/v1/draws/{draw}/deny",
        json={"consumerId": shoppers[3].consumer_id, "reason": "FRAUD_DETECTED"},
    )
    body = json_of(denied, 200)
    assert (body["status"], body["denyReason"]) == ("DENIED", "FRAUD_DETECTED")
    assert json_of(await enter(browser, draw, shoppers[3]), 200)["status"] == "DENIED"  # sticks
    await close_now(pool, tenant, draw)
    result = await run_draw(pool, settings, tenant, draw)
    assert result.entry_count == 3
    assert shoppers[3].consumer_id not in result.winners + result.backups
    winner = result.winners[0]
    loser = next(s.consumer_id for s in shoppers[:3] if s.consumer_id != winner)

    async def claim(consumer_id: object) -> object:
        return await storefront_server.post(
            f"/api/v1/draws/{draw}/claim", json={"consumerId": consumer_id}
        )

    claimed = json_of(await claim(winner), 200)
    assert (claimed["status"], claimed["consumerId"]) == ("WON", winner)
    instant(claimed["claimedAt"])
    assert json_of(await claim(winner), 200) == claimed  # idempotent
    assert_error(await claim(loser), 409, "Consumer has not won")  # type: ignore[arg-type]
    missing = await claim("cons_01JDQ8Z6W3K9X2M4N5P6Q7R8SA")
    assert_error(missing, 404, "Consumer not in draw")  # type: ignore[arg-type]
    assert json_of(await claim(5), 400)["details"][0]["field"] == "consumerId"  # type: ignore[arg-type]
    bad_reason = await storefront_server.post(
        f"/api/v1/draws/{draw}/deny", json={"consumerId": loser, "reason": "BORED"}
    )
    assert json_of(bad_reason, 400)["details"][0]["field"] == "reason"
    already = await storefront_server.post(
        f"/api/v1/draws/{draw}/deny", json={"consumerId": winner, "reason": "ADMIN_ACTION"}
    )
    assert_error(already, 409, "Win was already claimed")
    # Every win is claimed: the draw is complete.
    view = json_of(await browser.get(f"/api/v1/draws/{draw}"), 200)
    assert view["status"] in ("DRAWN", "COMPLETED")  # the cache may lag a moment

    async def completed() -> None:
        while json_of(await browser.get(f"/api/v1/draws/{draw}"), 200)["status"] != "COMPLETED":  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    await asyncio.wait_for(completed(), timeout=5)
    # Server routes take the secret key only, and know only their own draws.
    as_browser = await browser.post(f"/api/v1/draws/{draw}/claim", json={"consumerId": winner})
    assert_error(as_browser, 401, "Authentication required")
    unknown = await storefront_server.post(
        "/api/v1/draws/draw_01JDQ8Z6W3K9X2M4N5P6Q7R8SA/claim", json={"consumerId": winner}
    )
    assert_error(unknown, 404, "Draw not found")
