"""The consumer queue API over HTTP: every route, status code and error of the spec."""

import asyncio
import json
from datetime import datetime

import jwt
import nats
import pytest
import redis.asyncio as aioredis

from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.adapters.revoked_sessions import KEY_PREFIX as REVOKED_PREFIX
from fanfare_core.clock import SystemClock
from fanfare_core.domain.distributions import DistributionChanges, Kind
from fanfare_core.service_layer import catalog
from fanfare_core.service_layer.distributions import update_distribution
from fanfare_testing import queued_in_arrival_order

from .queue_support import Shopper, enter, make_queue, new_shopper, status

STATE_KEYS = {
    "queueId", "consumerId", "status", "position", "enteredAt", "admittedAt",
    "admissionToken", "denyReason",
}  # fmt: skip


def is_utc(text: str) -> bool:
    return text.endswith("Z") and datetime.fromisoformat(text[:-1]).year >= 2020


async def test_queue_view_for_shoppers(browser, anonymous, pool, tenant, other_tenant) -> None:  # type: ignore[no-untyped-def]
    queue = await make_queue(
        pool, tenant, name="Launch", max_capacity=100, close_at="2099-01-01T00:00:00Z"
    )
    response = await browser.get(f"/api/v1/queues/{queue}")
    assert response.status_code == 200
    assert response.json() == {
        "id": queue,
        "name": "Launch",
        "sequenceId": tenant.sequence_id,
        "capacity": 100,
        "openAt": "2020-01-01T00:00:00Z",
        "closeAt": "2099-01-01T00:00:00Z",
        "timeZone": "America/New_York",
        "status": "OPEN",
        "consumerCount": 0,
    }
    await enter(browser, queue, await new_shopper(browser))
    assert (await browser.get(f"/api/v1/queues/{queue}")).json()["consumerCount"] == 1
    pending = await make_queue(pool, tenant, open_at="2099-01-01T00:00:00Z")
    assert (await browser.get(f"/api/v1/queues/{pending}")).json()["status"] == "PENDING"
    closed = await make_queue(pool, tenant, close_at="2021-01-01T00:00:00Z")
    assert (await browser.get(f"/api/v1/queues/{closed}")).json()["status"] == "CLOSED"
    foreign = await make_queue(pool, other_tenant)
    for missing in (foreign, "queue_01JDQ8Z6W3K9X2M4N5P6Q7R8SA"):
        response = await browser.get(f"/api/v1/queues/{missing}")
        assert (response.status_code, response.json()) == (404, {"error": "Queue not found"})
    response = await anonymous.get(f"/api/v1/queues/{queue}")
    assert (response.status_code, response.json()) == (401, {"error": "Authentication required"})


async def test_an_admin_change_reaches_shoppers_at_once(browser, pool, tenant) -> None:  # type: ignore[no-untyped-def]
    queue = await make_queue(pool, tenant, close_at="2099-01-01T00:00:00Z")
    assert (await browser.get(f"/api/v1/queues/{queue}")).json()["status"] == "OPEN"  # cached
    await update_distribution(
        UnitOfWork(pool), SystemClock(), tenant.principal, Kind.QUEUE, queue,
        DistributionChanges(close_at="2021-06-01T00:00:00Z"),
    )  # fmt: skip

    async def closed() -> None:
        while (await browser.get(f"/api/v1/queues/{queue}")).json()["status"] != "CLOSED":  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    # The cache lives 30 s; the distribution.updated event clears it well before that.
    await asyncio.wait_for(closed(), timeout=5)
    response = await enter(browser, queue, await new_shopper(browser))
    assert (response.status_code, response.json()) == (400, {"error": "Queue is closed"})


async def test_enter_status_leave_and_the_back_of_the_line(browser, pool, tenant) -> None:  # type: ignore[no-untyped-def]
    queue = await make_queue(pool, tenant)
    shoppers = [await new_shopper(browser, f"fp_{i}") for i in range(4)]
    for position, shopper in enumerate(shoppers, start=1):
        response = await enter(browser, queue, shopper)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == STATE_KEYS
        assert is_utc(body.pop("enteredAt"))
        assert body == {
            "queueId": queue,
            "consumerId": shopper.consumer_id,
            "status": "QUEUED",
            "position": position,
            "admittedAt": None,
            "admissionToken": None,
            "denyReason": None,
        }
    # Entering again keeps one's place; status polls show the same.
    assert (await enter(browser, queue, shoppers[2])).json()["position"] == 3
    assert (await status(browser, queue, shoppers[2])).json()["position"] == 3
    left = await browser.post(f"/api/v1/queues/{queue}/leave", headers=shoppers[1].headers())
    assert left.status_code == 200
    assert (left.json()["status"], left.json()["position"]) == ("LEFT", None)
    assert [(await status(browser, queue, s)).json()["position"] for s in shoppers[2:]] == [2, 3]
    again = await browser.post(f"/api/v1/queues/{queue}/leave", headers=shoppers[1].headers())
    assert (again.status_code, again.json()) == (404, {"error": "Consumer not in queue"})
    assert (await enter(browser, queue, shoppers[1])).json()["position"] == 4
    stranger = await new_shopper(browser)
    response = await status(browser, queue, stranger)
    assert (response.status_code, response.json()) == (404, {"error": "Consumer not in queue"})


async def logged_out_elsewhere(settings, *shoppers: Shopper) -> None:  # type: ignore[no-untyped-def]
    """Log these shoppers' sessions out as another replica does, as far as this one can
    tell: in Redis only (its NATS notice missed)."""
    redis = aioredis.Redis.from_url(settings.redis_url)
    try:
        for shopper in shoppers:
            session = jwt.decode(shopper.token, options={"verify_signature": False})["sid"]
            await redis.set(f"{REVOKED_PREFIX}{session}", b"1", ex=600)
    finally:
        await redis.aclose()


async def test_an_enter_of_a_session_logged_out_elsewhere_is_refused_and_holds_no_place(
    browser, pool, tenant, settings
) -> None:  # type: ignore[no-untyped-def]
    # The enter's batch asks Redis about the session along with its locks.
    queue = await make_queue(pool, tenant)
    out, other, also_out = [await new_shopper(browser) for _ in range(3)]
    await logged_out_elsewhere(settings, out, also_out)
    refused, placed = await asyncio.gather(enter(browser, queue, out), enter(browser, queue, other))
    assert (refused.status_code, refused.json()) == (401, {"error": "Invalid access token"})
    assert (placed.status_code, placed.json()["position"]) == (200, 1)
    assert await queued_in_arrival_order(pool, queue) == [other.consumer_id]
    # The refusal comes before any complaint about the queue, as every route's does.
    closed = await make_queue(pool, tenant, close_at="2021-01-01T00:00:00Z")
    response = await enter(browser, closed, also_out)
    assert (response.status_code, response.json()) == (401, {"error": "Invalid access token"})
    assert (await enter(browser, queue, out)).status_code == 401  # remembered now


async def test_consumer_authentication_is_required(browser, pool, tenant) -> None:  # type: ignore[no-untyped-def]
    queue = await make_queue(pool, tenant)
    for call in (
        browser.post(f"/api/v1/queues/{queue}/enter"),
        browser.post(f"/api/v1/queues/{queue}/leave"),
        browser.get(f"/api/v1/queues/{queue}/status"),
    ):
        response = await call
        assert (response.status_code, response.json()) == (
            400,
            {"error": "Consumer ID is required"},
        )
    forged = await browser.post(
        f"/api/v1/queues/{queue}/enter", headers={"Authorization": "Bearer not.a.token"}
    )
    assert forged.status_code == 401


async def test_before_opening_after_closing_and_when_full(browser, pool, tenant) -> None:  # type: ignore[no-untyped-def]
    shopper = await new_shopper(browser)
    later = await make_queue(pool, tenant, open_at="2099-06-01T09:00:00Z")
    response = await enter(browser, later, shopper)
    assert (response.status_code, response.json()) == (423, {"error": "Queue is not open yet"})
    assert response.headers["Retry-After"] == "2099-06-01T09:00:00Z"
    closed = await make_queue(pool, tenant, close_at="2021-01-01T00:00:00Z")
    response = await enter(browser, closed, shopper)
    assert (response.status_code, response.json()) == (400, {"error": "Queue is closed"})
    small = await make_queue(pool, tenant, max_capacity=2, admission_rate=60)
    for _ in range(2):
        assert (await enter(browser, small, await new_shopper(browser))).status_code == 200
    response = await enter(browser, small, shopper)
    assert (response.status_code, response.json()) == (429, {"error": "Queue is full"})
    assert int(response.headers["Retry-After"]) >= 1


async def test_server_side_admit_complete_deny_and_validate(
    browser, storefront_server, consumer_api, pool, tenant
) -> None:  # type: ignore[no-untyped-def]
    queue = await make_queue(pool, tenant, session_duration_seconds=900)
    first, second, third = [await new_shopper(browser, f"device-{i}") for i in range(3)]
    for shopper in (first, second, third):
        await enter(browser, queue, shopper)
    admitted = await storefront_server.post(
        f"/api/v1/queues/{queue}/admit", json={"consumerId": first.consumer_id}
    )
    assert admitted.status_code == 200, admitted.text
    body = admitted.json()
    assert (body["status"], body["position"]) == ("ADMITTED", 0)
    token = body["admissionToken"]
    assert is_utc(body["admittedAt"])
    # The token verifies offline with the published keys, for this queue only.
    keys = (await browser.get("/.well-known/jwks.json")).json()["keys"]
    kid = jwt.get_unverified_header(token)["kid"]
    public = jwt.PyJWK(next(k for k in keys if k["kid"] == kid))
    claims = jwt.decode(token, public, algorithms=["EdDSA"], audience=queue)
    assert claims["sub"] == first.consumer_id
    assert claims["exp"] - claims["iat"] == 900
    assert (await status(browser, queue, second)).json()["position"] == 1
    polled = (await status(browser, queue, first)).json()
    assert (polled["status"], polled["admissionToken"]) == ("ADMITTED", token)

    async def validate(**fields: str) -> object:
        response = await storefront_server.post(
            f"/api/v1/queues/{queue}/validate",
            json={"consumerId": first.consumer_id, "token": token, **fields},
        )
        assert response.status_code == 200, response.text
        return response.json()

    assert await validate() is True
    assert await validate(fingerprint="device-0") is True
    mismatch = await validate(fingerprint="another-device")
    assert isinstance(mismatch, dict)
    code = mismatch["support"].pop("confirmationCode")
    assert len(code) == 9
    assert code.isalnum()
    assert mismatch == {
        "valid": False,
        "error": "DEVICE_MISMATCH",
        "message": (
            "This access token can only be used on the device that originally entered the queue."
        ),
        "code": "FP002",
        "support": {
            "message": (
                "If you need to switch devices, please contact support with your confirmation code."
            )
        },
    }
    header_mismatch = await storefront_server.post(
        f"/api/v1/queues/{queue}/validate",
        json={"consumerId": first.consumer_id, "token": token},
        headers={"X-Fingerprint": "another-device"},
    )
    assert header_mismatch.json()["error"] == "DEVICE_MISMATCH"
    assert (await validate(consumerId=second.consumer_id))["error"] == "CONSUMER_MISMATCH"  # type: ignore[index]
    assert (await validate(token=token[:-4] + "AAAA"))["error"] == "INVALID_TOKEN"  # type: ignore[index]
    # An admission to another queue is no admission to this one.
    elsewhere = await make_queue(pool, tenant)
    await enter(browser, elsewhere, first)
    foreign = (
        await storefront_server.post(
            f"/api/v1/queues/{elsewhere}/admit", json={"consumerId": first.consumer_id}
        )
    ).json()["admissionToken"]
    assert (await validate(token=foreign))["error"] == "INVALID_TOKEN"  # type: ignore[index]

    completed = await storefront_server.post(
        f"/api/v1/queues/{queue}/complete", json={"consumerId": first.consumer_id}
    )
    assert completed.status_code == 200
    done = completed.json()
    assert is_utc(done.pop("completedAt"))
    assert done == {"queueId": queue, "consumerId": first.consumer_id, "status": "COMPLETED"}
    assert (await validate())["error"] == "ADMISSION_COMPLETED"  # type: ignore[index]

    # A denied admission's token is revoked at once.
    await storefront_server.post(
        f"/api/v1/queues/{queue}/admit", json={"consumerId": second.consumer_id}
    )
    second_token = (await status(browser, queue, second)).json()["admissionToken"]
    denied = await storefront_server.post(
        f"/api/v1/queues/{queue}/deny",
        json={"consumerId": second.consumer_id, "reason": "FRAUD_DETECTED"},
    )
    assert (denied.json()["status"], denied.json()["denyReason"]) == ("DENIED", "FRAUD_DETECTED")
    revoked = await storefront_server.post(
        f"/api/v1/queues/{queue}/validate",
        json={"consumerId": second.consumer_id, "token": second_token},
    )
    assert revoked.json()["error"] == "TOKEN_REVOKED"
    bad_reason = await storefront_server.post(
        f"/api/v1/queues/{queue}/deny", json={"consumerId": third.consumer_id, "reason": "BORED"}
    )
    assert bad_reason.status_code == 400
    assert bad_reason.json()["details"][0]["field"] == "reason"
    missing = await storefront_server.post(
        f"/api/v1/queues/{queue}/admit", json={"consumerId": "cons_01JDQ8Z6W3K9X2M4N5P6Q7R8SA"}
    )
    assert (missing.status_code, missing.json()) == (404, {"error": "Consumer not in queue"})
    # Server routes take the secret key only.
    as_browser = await browser.post(
        f"/api/v1/queues/{queue}/admit", json={"consumerId": third.consumer_id}
    )
    assert as_browser.status_code == 401


async def test_an_expired_admission_is_refused_and_frees_its_place(
    browser, storefront_server, pool, tenant
) -> None:  # type: ignore[no-untyped-def]
    queue = await make_queue(pool, tenant, session_duration_seconds=1, max_capacity=1)
    shopper = await new_shopper(browser)
    await enter(browser, queue, shopper)
    token = (
        await storefront_server.post(
            f"/api/v1/queues/{queue}/admit", json={"consumerId": shopper.consumer_id}
        )
    ).json()["admissionToken"]

    async def verdict() -> object:
        response = await storefront_server.post(
            f"/api/v1/queues/{queue}/validate",
            json={"consumerId": shopper.consumer_id, "token": token},
        )
        return response.json()

    async def expired() -> None:
        while await verdict() is True:  # noqa: ASYNC110 - polls the API until the session ends
            await asyncio.sleep(0.2)

    await asyncio.wait_for(expired(), timeout=10)
    assert (await verdict())["error"] == "TOKEN_EXPIRED"  # type: ignore[index]
    # The queue (capacity 1) has room again for someone else.
    response = await enter(browser, queue, await new_shopper(browser))
    assert response.status_code == 200, response.text


async def test_an_order_limit_denies_entry(browser, storefront_server, pool, tenant) -> None:  # type: ignore[no-untyped-def]
    limited = await catalog.create_sequence(
        UnitOfWork(pool), SystemClock(), tenant.principal,
        experience_id=tenant.experience_id, name="One each", order_limit=1,
    )  # fmt: skip
    first = await make_queue(pool, tenant, sequence_id=limited.id)
    second = await make_queue(pool, tenant, sequence_id=limited.id)
    shopper = await new_shopper(browser)
    await enter(browser, first, shopper)
    for step in ("admit", "complete"):
        await storefront_server.post(
            f"/api/v1/queues/{first}/{step}", json={"consumerId": shopper.consumer_id}
        )
    body = (await enter(browser, second, shopper)).json()
    assert (body["status"], body["position"], body["denyReason"]) == (
        "DENIED", None, "ORDER_LIMIT_EXCEEDED",
    )  # fmt: skip


async def test_fingerprint_checks(browser, pool, tenant) -> None:  # type: ignore[no-untyped-def]
    queue = await make_queue(pool, tenant)
    shopper = await new_shopper(browser, "fp_owner")
    for bad in ("fp_someone_else", "bad fingerprint!"):
        response = await browser.post(
            f"/api/v1/queues/{queue}/enter",
            headers={"Authorization": f"Bearer {shopper.token}", "X-Fingerprint": bad},
        )
        assert response.status_code == 400
        assert response.headers["X-Fingerprint-Error"] == "true"
    assert (await enter(browser, queue, shopper)).status_code == 200


async def test_entering_is_rate_limited_per_consumer(browser, pool, tenant) -> None:  # type: ignore[no-untyped-def]
    queue = await make_queue(pool, tenant)
    shopper = await new_shopper(browser)
    codes = [(await enter(browser, queue, shopper)).status_code for _ in range(31)]
    assert codes[:30] == [200] * 30
    assert codes[30] == 429
    response = await enter(browser, queue, shopper)
    assert response.json() == {"error": "Too many requests"}
    assert 1 <= int(response.headers["Retry-After"]) <= 60


async def test_every_change_emits_its_event(
    browser, storefront_server, pool, tenant, settings
) -> None:  # type: ignore[no-untyped-def]
    queue = await make_queue(pool, tenant)
    client = await nats.connect(settings.nats_url)
    received: list[dict[str, object]] = []
    seen = asyncio.Event()

    async def collect(message: nats.aio.msg.Msg) -> None:
        received.append(json.loads(message.data))
        if len(received) >= 7:
            seen.set()

    await client.subscribe(
        f"fanfare.events.{tenant.organization_id}.{queue}.queue.consumer.>", cb=collect
    )
    try:
        a, b, c = [await new_shopper(browser) for _ in range(3)]
        await enter(browser, queue, a)
        await enter(browser, queue, b)
        await storefront_server.post(
            f"/api/v1/queues/{queue}/admit", json={"consumerId": a.consumer_id}
        )
        await storefront_server.post(
            f"/api/v1/queues/{queue}/complete", json={"consumerId": a.consumer_id}
        )
        await browser.post(f"/api/v1/queues/{queue}/leave", headers=b.headers())
        await enter(browser, queue, c)
        await storefront_server.post(
            f"/api/v1/queues/{queue}/deny",
            json={"consumerId": c.consumer_id, "reason": "ADMIN_ACTION"},
        )
        await asyncio.wait_for(seen.wait(), timeout=10)
    finally:
        await client.close()
    # Several relays share the outbox, so events may interleave; each arrives once.
    assert sorted((e["type"], e["data"]["consumerId"]) for e in received) == sorted(
        [  # type: ignore[index]
            ("queue.consumer.entered", a.consumer_id),
            ("queue.consumer.entered", b.consumer_id),
            ("queue.consumer.admitted", a.consumer_id),
            ("queue.consumer.completed", a.consumer_id),
            ("queue.consumer.left", b.consumer_id),
            ("queue.consumer.entered", c.consumer_id),
            ("queue.consumer.denied", c.consumer_id),
        ]
    )
    by_type = {(e["type"], e["data"]["consumerId"]): e for e in received}  # type: ignore[index]
    assert by_type[("queue.consumer.denied", c.consumer_id)]["data"]["reason"] == "ADMIN_ACTION"  # type: ignore[index]
    entered = by_type[("queue.consumer.entered", a.consumer_id)]
    assert entered["organizationId"] == tenant.organization_id
    assert entered["data"] == {"queueId": queue, "consumerId": a.consumer_id, "status": "QUEUED"}


@pytest.mark.parametrize("route", ["admit", "complete", "validate"])
async def test_server_routes_check_their_bodies(
    storefront_server, pool, tenant, route: str
) -> None:  # type: ignore[no-untyped-def]
    queue = await make_queue(pool, tenant)
    response = await storefront_server.post(
        f"/api/v1/queues/{queue}/{route}", json={"consumerId": 5}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "Validation failed"
    assert response.json()["details"][0]["field"] == "consumerId"
