"""The consumer auction API over HTTP: every route, rule and error text of the spec."""

import asyncio
import itertools
import json
from decimal import Decimal

import jwt
import nats
import pytest
from nats.aio.msg import Msg

from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.clock import SystemClock
from fanfare_core.domain.distributions import DistributionChanges, Kind
from fanfare_core.domain.errors import Conflict
from fanfare_core.service_layer.auctions import AuctionService
from fanfare_core.service_layer.distributions import create_distribution, update_distribution
from fanfare_core.service_layer.signing_keys import KeyRingLoader

from .queue_support import Shopper, new_shopper


async def make_auction(pool, tenant, **changes: object) -> str:  # type: ignore[no-untyped-def]
    changes.setdefault("open_at", "2020-01-01T00:00:00Z")
    changes.setdefault("settle_at", "2099-01-01T00:00:00Z")
    made = await create_distribution(
        UnitOfWork(pool), SystemClock(), tenant.principal, Kind.AUCTION,
        sequence_id=tenant.sequence_id,
        changes=DistributionChanges(**changes),  # type: ignore[arg-type]
    )  # fmt: skip
    return made.id


async def bid(browser, auction: str, shopper: Shopper, amount: object):  # type: ignore[no-untyped-def]
    return await browser.post(
        f"/api/v1/auctions/{auction}/bid", json={"amount": amount}, headers=shopper.headers()
    )


async def test_the_auction_as_bidders_see_it(browser, pool, tenant, other_tenant) -> None:  # type: ignore[no-untyped-def]
    auction = await make_auction(
        pool, tenant, name="Rare", starting_bid=Decimal(100), minimum_increment=Decimal(10),
        reserve_price=Decimal(500), close_at="2098-12-31T00:00:00Z",
    )  # fmt: skip
    response = await browser.get(f"/api/v1/auctions/{auction}")
    assert response.status_code == 200
    assert response.json() == {
        "id": auction,
        "name": "Rare",
        "sequenceId": tenant.sequence_id,
        "openAt": "2020-01-01T00:00:00Z",
        "closeAt": "2098-12-31T00:00:00Z",
        "settleAt": "2099-01-01T00:00:00Z",
        "timeZone": "America/New_York",
        "startingPrice": 100,
        "reservePrice": 500,
        "minimumBidIncrement": 10,
        "winnerCount": 1,
        "status": "OPEN",
        "currentHighBid": None,
        "currencyCode": "USD",
        "buyNowPrice": None,
    }
    foreign = await make_auction(pool, other_tenant)
    response = await browser.get(f"/api/v1/auctions/{foreign}")
    assert (response.status_code, response.json()) == (404, {"error": "Auction not found"})
    pending = await make_auction(pool, tenant, open_at="2098-01-01T00:00:00Z")
    assert (await browser.get(f"/api/v1/auctions/{pending}")).json()["status"] == "PENDING"


async def test_bidding_rules_and_their_error_texts(browser, pool, tenant) -> None:  # type: ignore[no-untyped-def]
    auction = await make_auction(
        pool, tenant, starting_bid=Decimal(100), minimum_increment=Decimal(10)
    )
    alice, bob = await new_shopper(browser), await new_shopper(browser)

    async def refused(shopper: Shopper, amount: object) -> str:
        response = await bid(browser, auction, shopper, amount)
        assert response.status_code == 400, response.text
        return str(response.json()["error"])

    assert await refused(alice, 99) == "Bid must be at least the starting price"
    first = await bid(browser, auction, alice, 100)
    assert first.status_code == 200
    body = first.json()
    assert body.pop("lastBidTime").endswith("Z")
    assert body == {"status": "WINNING", "lastBidAmount": 100, "bidCount": 1}
    assert await refused(bob, 100) == "Bid must be higher than current bid"
    assert await refused(bob, 109.99) == "Bid must meet minimum increment"
    assert (await bid(browser, auction, bob, 110.5)).json()["status"] == "WINNING"
    assert (
        await browser.get(f"/api/v1/auctions/{auction}/status", headers=alice.headers())
    ).json()["status"] == "OUTBID"
    for bad in ("120", -5, 120.001, None, True):
        response = await bid(browser, auction, alice, bad)
        assert response.status_code == 400
        assert response.json()["error"] == "Validation failed"
        assert response.json()["details"][0]["field"] == "amount"
    highest = await browser.get(f"/api/v1/auctions/{auction}/highest-bid", headers=alice.headers())
    assert highest.json() == {"amount": 110.5, "bidderId": None}
    no_token = await browser.post(f"/api/v1/auctions/{auction}/bid", json={"amount": 500})
    assert (no_token.status_code, no_token.json()) == (400, {"error": "Consumer ID is required"})


async def test_before_opening_and_after_closing(browser, pool, tenant) -> None:  # type: ignore[no-untyped-def]
    shopper = await new_shopper(browser)
    later = await make_auction(pool, tenant, open_at="2098-03-01T10:00:00Z")
    response = await bid(browser, later, shopper, 10)
    assert (response.status_code, response.json()) == (423, {"error": "Auction is not open yet"})
    assert response.headers["Retry-After"] == "2098-03-01T10:00:00Z"
    ended = await make_auction(pool, tenant, close_at="2021-01-01T00:00:00Z")
    response = await bid(browser, ended, shopper, 10)
    assert (response.status_code, response.json()) == (400, {"error": "Auction is closed"})


async def test_buy_now_wins_at_once_and_closes_bidding(browser, pool, tenant, settings) -> None:  # type: ignore[no-untyped-def]
    auction = await make_auction(
        pool, tenant, starting_bid=Decimal(100), buy_now_price=Decimal(2000)
    )
    buyer, late = await new_shopper(browser), await new_shopper(browser)
    await bid(browser, auction, late, 150)
    bought = await bid(browser, auction, buyer, 2000)
    assert bought.status_code == 200
    assert bought.json()["status"] == "WINNING"
    response = await bid(browser, auction, late, 2500)
    assert (response.status_code, response.json()) == (400, {"error": "Auction is closed"})
    assert (await browser.get(f"/api/v1/auctions/{auction}")).json()["status"] == "CLOSED"
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM outbox WHERE subject = %s",
            (f"fanfare.work.settlement.{tenant.organization_id}.{auction}",),
        )
        assert (await cur.fetchone())[0] == 1  # settlement requested once
        cur = await conn.execute("SELECT status FROM distributions WHERE id = %s", (auction,))
        assert (await cur.fetchone())[0] == "CLOSED"


async def test_histories_show_own_bids_and_anonymized_others(browser, pool, tenant) -> None:  # type: ignore[no-untyped-def]
    auction = await make_auction(pool, tenant, minimum_increment=Decimal(1))
    me, rival = await new_shopper(browser), await new_shopper(browser)
    for shopper, amount in ((me, 10), (rival, 11), (me, 12), (rival, 13), (me, 14)):
        assert (await bid(browser, auction, shopper, amount)).status_code == 200
    mine = (
        await browser.get(f"/api/v1/auctions/{auction}/bids/history?limit=2", headers=me.headers())
    ).json()
    assert [(b["consumerId"], b["amount"]) for b in mine] == [
        (me.consumer_id, 14),
        (me.consumer_id, 12),
    ]
    assert mine[0]["bidId"].startswith("bid_")
    everyone = (await browser.get(f"/api/v1/auctions/{auction}/bids", headers=me.headers())).json()
    assert [b["amount"] for b in everyone] == [14, 13, 12, 11, 10]
    aliases = {b["consumerId"] for b in everyone if b["consumerId"] != me.consumer_id}
    assert len(aliases) == 1
    assert rival.consumer_id not in aliases
    status = (await browser.get(f"/api/v1/auctions/{auction}/status", headers=me.headers())).json()
    assert status.pop("lastBidTime").endswith("Z")
    assert status == {
        "auctionId": auction, "consumerId": me.consumer_id, "status": "WINNING",
        "lastBidAmount": 14, "bidCount": 3,
    }  # fmt: skip
    bad = await browser.get(f"/api/v1/auctions/{auction}/bids?limit=0", headers=me.headers())
    assert bad.status_code == 400


async def test_the_callers_errors_come_before_any_about_the_body_or_query(
    browser, pool, tenant
) -> None:  # type: ignore[no-untyped-def]
    auction = await make_auction(pool, tenant)
    shopper = await new_shopper(browser)
    forged = {"Authorization": "Bearer not.a.token"}
    place = f"/api/v1/auctions/{auction}/bid"
    for body in (b"not json", b'{"amount": "lots"}', b'{"amount": 10, "extra": 1}'):
        missing = await browser.post(place, content=body)
        assert (missing.status_code, missing.json()) == (400, {"error": "Consumer ID is required"})
        wrong = await browser.post(place, content=body, headers=forged)
        assert (wrong.status_code, wrong.json()) == (401, {"error": "Invalid access token"})
        mine = await browser.post(place, content=body, headers=shopper.headers())
        assert mine.status_code == 400
        assert mine.json()["error"] != "Consumer ID is required"
    for listing in ("bids/history", "bids"):
        path = f"/api/v1/auctions/{auction}/{listing}?limit=abc"
        wrong = await browser.get(path, headers=forged)
        assert (wrong.status_code, wrong.json()) == (401, {"error": "Invalid access token"})
        assert (await browser.get(path, headers=shopper.headers())).status_code == 400


async def test_hundreds_of_concurrent_bids_lose_nothing(browser, pool, tenant) -> None:  # type: ignore[no-untyped-def]
    auction = await make_auction(
        pool, tenant, starting_bid=Decimal(1), minimum_increment=Decimal("0.5")
    )
    bidders = list(await asyncio.gather(*(new_shopper(browser) for _ in range(200))))
    amounts = [Decimal(1) + Decimal(i) * Decimal("0.25") for i in range(400)]
    attempts = [(bidders[i % 200], amounts[i]) for i in range(400)]
    responses = await asyncio.gather(
        *(bid(browser, auction, who, float(amount)) for who, amount in attempts)
    )
    accepted = [
        (who.consumer_id, amount)
        for (who, amount), r in zip(attempts, responses, strict=True)
        if r.status_code == 200
    ]
    refusals = {r.json()["error"] for r in responses if r.status_code != 200}
    assert refusals <= {"Bid must be higher than current bid", "Bid must meet minimum increment"}
    assert accepted
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT consumer_id, amount FROM auction_bids WHERE auction_id = %s ORDER BY id",
            (auction,),
        )
        stored = [(row[0], row[1]) for row in await cur.fetchall()]
    # Every acknowledged bid is stored, and nothing else.
    assert sorted(stored) == sorted(accepted)
    # In the order they were taken, each beat the one before by the increment.
    values = [amount for _, amount in stored]
    assert all(b >= a + Decimal("0.5") for a, b in itertools.pairwise(values))
    high = (await browser.get(f"/api/v1/auctions/{auction}")).json()["currentHighBid"]
    assert Decimal(str(high)) == max(values)
    # Bids are taken in batches: each bidder's count and best, and one event per bid, hold.
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT consumer_id, bid_count, best_amount FROM auction_bidders WHERE auction_id = %s",
            (auction,),
        )
        records = {row[0]: (row[1], row[2]) for row in await cur.fetchall()}
        cur = await conn.execute(
            "SELECT count(*) FROM outbox WHERE subject LIKE %s",
            (f"%.{auction}.auction.bid.placed",),
        )
        placed_events = (await cur.fetchone())[0]
    mine: dict[str, list[Decimal]] = {}
    for consumer, amount in accepted:
        mine.setdefault(consumer, []).append(amount)
    assert records == {c: (len(a), max(a)) for c, a in mine.items()}
    assert placed_events == len(accepted)


async def settle(pool, tenant, auction: str):  # type: ignore[no-untyped-def]
    """Settle as the settlement worker will: with the key ring every replica shares."""
    ring = KeyRingLoader(pool, SystemClock(), issuer="fanfare", refresh_seconds=60)
    await ring.reload()
    service = AuctionService(pool, SystemClock(), tokens=ring.current)
    return await service.settle(tenant.organization_id, auction)


async def end_bidding(pool, tenant, auction: str) -> None:  # type: ignore[no-untyped-def]
    await update_distribution(
        UnitOfWork(pool), SystemClock(), tenant.principal, Kind.AUCTION, auction,
        DistributionChanges(close_at="2021-01-01T00:00:00Z"),
    )  # fmt: skip


async def test_settlement_pays_the_top_bidders_above_the_reserve(
    browser, pool, tenant, settings
) -> None:  # type: ignore[no-untyped-def]
    auction = await make_auction(
        pool, tenant, winner_count=2, reserve_price=Decimal(150), minimum_increment=Decimal(1)
    )
    high, second, low = [await new_shopper(browser) for _ in range(3)]
    client = await nats.connect(settings.nats_url)
    received: list[dict[str, object]] = []
    done = asyncio.Event()

    async def collect(message: Msg) -> None:
        received.append(json.loads(message.data))
        if any(e["type"] == "auction.settled" for e in received):
            done.set()

    await client.subscribe(f"fanfare.events.{tenant.organization_id}.{auction}.>", cb=collect)
    try:
        for shopper, amount in ((low, 100), (second, 160), (high, 300)):
            assert (await bid(browser, auction, shopper, amount)).status_code == 200
        with pytest.raises(Conflict, match="Auction is still open"):
            await settle(pool, tenant, auction)
        await end_bidding(pool, tenant, auction)
        result = await settle(pool, tenant, auction)
        assert (set(result.winners), result.newly_settled) == (
            {high.consumer_id, second.consumer_id}, True,
        )  # fmt: skip
        again = await settle(pool, tenant, auction)
        assert (set(again.winners), again.newly_settled) == (set(result.winners), False)
        await asyncio.wait_for(done.wait(), timeout=10)
    finally:
        await client.close()
    types = sorted(str(e["type"]) for e in received)
    assert types.count("auction.consumer.won") == 2
    assert types.count("auction.settled") == 1
    assert "auction.bid.outbid" in types  # low was pushed out when high arrived
    standing = (
        await browser.get(f"/api/v1/auctions/{auction}/status", headers=high.headers())
    ).json()
    assert standing["status"] == "WON"
    token = standing["paymentToken"]
    keys = (await browser.get("/.well-known/jwks.json")).json()["keys"]
    kid = jwt.get_unverified_header(token)["kid"]
    claims = jwt.decode(
        token, jwt.PyJWK(next(k for k in keys if k["kid"] == kid)), algorithms=["EdDSA"],
        audience=auction,
    )  # fmt: skip
    assert (claims["sub"], claims["typ"], claims["amount"]) == (high.consumer_id, "payment", "300")
    lost = (await browser.get(f"/api/v1/auctions/{auction}/status", headers=low.headers())).json()
    assert lost["status"] == "LOST"
    assert "paymentToken" not in lost

    async def shows_settled() -> None:
        # Settled in another process: the consumer API hears distribution.status_changed.
        while (await browser.get(f"/api/v1/auctions/{auction}")).json()["status"] != "SETTLED":  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    await asyncio.wait_for(shows_settled(), timeout=10)


async def test_nobody_wins_below_the_reserve(browser, pool, tenant) -> None:  # type: ignore[no-untyped-def]
    auction = await make_auction(pool, tenant, reserve_price=Decimal(500))
    shopper = await new_shopper(browser)
    standing = (await bid(browser, auction, shopper, 400)).json()
    assert standing["status"] == "ACTIVE"  # leading, but below the reserve
    await end_bidding(pool, tenant, auction)
    result = await settle(pool, tenant, auction)
    assert (result.winners, result.reserve_met) == ((), False)
    lost = await browser.get(f"/api/v1/auctions/{auction}/status", headers=shopper.headers())
    assert lost.json()["status"] == "LOST"


async def test_a_buy_now_auction_settles_at_once_to_the_buyer(browser, pool, tenant) -> None:  # type: ignore[no-untyped-def]
    auction = await make_auction(pool, tenant, buy_now_price=Decimal(900))
    buyer = await new_shopper(browser)
    await bid(browser, auction, buyer, 950)
    result = await settle(pool, tenant, auction)  # no need to wait for settleAt
    assert result.winners == (buyer.consumer_id,)
