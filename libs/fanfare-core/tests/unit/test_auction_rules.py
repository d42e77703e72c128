"""The bid rules, by example and by property (hypothesis)."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fanfare_core.domain.auctions import (
    HIGHER_THAN_CURRENT,
    MINIMUM_INCREMENT,
    STARTING_PRICE,
    AuctionClosed,
    AuctionNotOpenYet,
    BidRejected,
    Standing,
    check_bid,
    check_bidding_open,
    current_price,
    parse_bid_amount,
    rank_after,
    standing_status,
    winners,
)
from fanfare_core.domain.distributions import (
    Distribution,
    DistributionChanges,
    Kind,
    OrganizationDefaults,
)
from fanfare_core.domain.money import InvalidAmount

NOW = datetime(2024, 12, 1, 12, tzinfo=UTC)


def auction(**changes: object) -> Distribution:
    changes.setdefault("settle_at", "2024-12-02T00:00:00Z")
    changes.setdefault("open_at", "2024-12-01T00:00:00Z")
    return Distribution.create(
        kind=Kind.AUCTION,
        distribution_id="auction_1",
        organization_id="org_1",
        sequence_id="seq_1",
        changes=DistributionChanges(**changes),  # type: ignore[arg-type]
        defaults=OrganizationDefaults("UTC", "USD"),
        now=NOW,
    )


def standing(who: str, amount: str, minute: int = 0) -> Standing:
    return Standing(who, Decimal(amount), NOW + timedelta(minutes=minute))


def rejected(message: str, *args: object) -> None:
    with pytest.raises(BidRejected, match=message):
        check_bid(*args)  # type: ignore[arg-type]


def test_the_first_bid_must_reach_the_starting_price() -> None:
    a = auction(starting_bid=Decimal(100), minimum_increment=Decimal(10))
    rejected(STARTING_PRICE, a, [], None, Decimal("99.99"))
    check_bid(a, [], None, Decimal(100))


def test_later_bids_must_beat_the_high_bid_by_the_increment() -> None:
    a = auction(starting_bid=Decimal(100), minimum_increment=Decimal(10))
    leaders = [standing("x", "250")]
    rejected(HIGHER_THAN_CURRENT, a, leaders, None, Decimal(250))
    rejected(MINIMUM_INCREMENT, a, leaders, None, Decimal("259.99"))
    check_bid(a, leaders, None, Decimal(260))


def test_a_bidder_must_beat_their_own_last_bid() -> None:
    a = auction(winner_count=2)
    rejected(HIGHER_THAN_CURRENT, a, [standing("me", "50")], Decimal(50), Decimal(50))


def test_with_several_units_the_lowest_winning_bid_is_the_price() -> None:
    a = auction(winner_count=2, minimum_increment=Decimal(5))
    leaders = [standing("x", "300"), standing("y", "200")]
    assert current_price(leaders, 2) == Decimal(200)
    rejected(MINIMUM_INCREMENT, a, leaders, None, Decimal(204))
    check_bid(a, leaders, None, Decimal(205))
    # Until two bidders have bid, any bid from the starting price takes a unit.
    assert current_price(leaders[:1], 2) is None
    check_bid(a, leaders[:1], None, Decimal(1))


def test_a_buy_now_bid_skips_the_increment() -> None:
    a = auction(minimum_increment=Decimal(100), buy_now_price=Decimal(1000))
    check_bid(a, [standing("x", "950")], None, Decimal(1000))


def test_bidding_follows_the_auctions_own_times() -> None:
    a = auction(open_at="2024-12-01T13:00:00Z", close_at="2024-12-01T20:00:00Z")
    with pytest.raises(AuctionNotOpenYet):
        check_bidding_open(a, False, NOW)
    check_bidding_open(a, False, NOW + timedelta(hours=2))
    with pytest.raises(AuctionClosed):
        check_bidding_open(a, False, NOW + timedelta(hours=8))
    with pytest.raises(AuctionClosed):
        check_bidding_open(a, True, NOW + timedelta(hours=2))


@pytest.mark.parametrize(
    "text", ['"12"', "NaN", "-5", "0", "1e400", "10.001", "true", "[1]", "null"]
)
def test_bad_amounts_are_refused(text: str) -> None:
    with pytest.raises(InvalidAmount):
        parse_bid_amount(text, "USD")


def test_amounts_are_read_exactly() -> None:
    assert parse_bid_amount("275.10", "USD") == Decimal("275.10")
    assert parse_bid_amount("1e2", "USD") == Decimal(100)


def test_standing_and_settlement_respect_the_reserve() -> None:
    a = auction(winner_count=2, reserve_price=Decimal(150))
    leaders = [standing("x", "300"), standing("y", "120")]
    assert standing_status(a, leaders, "x").value == "WINNING"
    assert standing_status(a, leaders, "y").value == "ACTIVE"
    assert standing_status(a, leaders, "z").value == "OUTBID"
    assert [s.consumer_id for s in winners(a, leaders)] == ["x"]
    assert winners(replace(a, reserve_price=None), leaders) == leaders


bids = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c", "d", "e"]), st.integers(min_value=1, max_value=500)),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(
    attempts=bids,
    winner_count=st.integers(min_value=1, max_value=3),
    start=st.integers(min_value=1, max_value=100),
    increment=st.integers(min_value=1, max_value=20),
)
def test_accepted_bids_keep_every_invariant(
    attempts: list[tuple[str, int]], winner_count: int, start: int, increment: int
) -> None:
    """Replay random attempts through the rules the way the service does: the price only
    rises, each bidder's bids strictly rise, and each accepted bid met the price + step."""
    a = auction(
        winner_count=winner_count, starting_bid=Decimal(start), minimum_increment=Decimal(increment)
    )
    best: dict[str, Standing] = {}
    last_price: Decimal | None = None
    for minute, (who, value) in enumerate(attempts):
        amount = Decimal(value)
        ranking = sorted(best.values(), key=lambda s: (-s.amount, s.at))
        leaders = ranking[:winner_count]
        price = current_price(leaders, winner_count)
        own = best[who].amount if who in best else None
        try:
            check_bid(a, leaders, own, amount)
        except BidRejected:
            continue
        assert own is None or amount > own
        if price is None:
            assert amount >= start
        else:
            assert amount >= price + increment
        best[who] = Standing(who, amount, NOW + timedelta(minutes=minute))
        ranking = sorted(best.values(), key=lambda s: (-s.amount, s.at))
        new_price = current_price(ranking[:winner_count], winner_count)
        if last_price is not None and new_price is not None:
            assert new_price >= last_price
        last_price = new_price or last_price
    final = sorted(best.values(), key=lambda s: (-s.amount, s.at))
    chosen = winners(a, final)
    assert len(chosen) == min(winner_count, len(final))
    assert all(w.amount >= s.amount for w in chosen for s in final if s not in chosen)


@given(
    st.lists(
        st.tuples(st.sampled_from("abcdef"), st.integers(min_value=1, max_value=50)),
        min_size=1,
        max_size=40,
    ),
    st.integers(min_value=1, max_value=4),
)
@settings(max_examples=200)
def test_ranking_bid_by_bid_equals_ranking_every_best_at_once(
    bids: list[tuple[str, int]], winner_count: int
) -> None:
    # Taking accepted bids one by one (as a batch of bids is judged) must give the same
    # leaders as ranking every bidder's latest bid at the end, as the database does.
    start = datetime(2030, 1, 1, tzinfo=UTC)
    leaders: list[Standing] = []
    latest: dict[str, Standing] = {}
    for i, (bidder, raise_by) in enumerate(bids):
        # Each bid beats the bidder's own last one, as the rules demand.
        previous = latest[bidder].amount if bidder in latest else Decimal(0)
        standing = Standing(bidder, previous + raise_by, start + timedelta(microseconds=i))
        leaders = rank_after(leaders, standing, winner_count)
        latest[bidder] = standing
    expected = sorted(latest.values(), key=lambda s: (-s.amount, s.at))[:winner_count]
    assert leaders == expected
