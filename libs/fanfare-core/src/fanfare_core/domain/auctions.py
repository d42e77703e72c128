"""Auction rules: which bids are accepted, who is winning, who wins at settlement.

An auction sells ``winnerCount`` units (default 1), one per bidder. Each bidder is ranked
by their best bid, higher first, earlier first on equal amounts. The **current price** is
the lowest winning bid once ``winnerCount`` bidders have bid (with one unit: the high bid).
A new bid must

- reach the starting price (``startingBid``) while fewer than ``winnerCount`` have bid,
- otherwise be higher than the current price *and* at least the current price plus
  ``minimumIncrement``,
- and always be higher than the bidder's own previous bid.

A bid at or above ``buyNowPrice`` wins a unit at once and closes bidding. At settlement the
top ``winnerCount`` bidders whose best bid reaches ``reservePrice`` win.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from fanfare_core.domain.distributions import CLOSED_STATUSES, Distribution, Status
from fanfare_core.domain.errors import DomainError, NotOpenYet
from fanfare_core.domain.money import InvalidAmount, to_amount

HIGHER_THAN_CURRENT = "Bid must be higher than current bid"
MINIMUM_INCREMENT = "Bid must meet minimum increment"
STARTING_PRICE = "Bid must be at least the starting price"


class BidRejected(DomainError):
    """A bid broke a rule (400 with the spec's text)."""


class AuctionClosed(DomainError):
    def __init__(self) -> None:
        super().__init__("Auction is closed")


class AuctionNotOpenYet(NotOpenYet):
    def __init__(self, opens_at: datetime | None) -> None:
        super().__init__("Auction is not open yet", opens_at)


class BidderStatus(StrEnum):
    ACTIVE = "ACTIVE"
    OUTBID = "OUTBID"
    WINNING = "WINNING"
    WON = "WON"
    LOST = "LOST"


@dataclass(frozen=True, slots=True)
class Standing:
    """A bidder's best bid."""

    consumer_id: str
    amount: Decimal
    at: datetime


def parse_bid_amount(raw: str, currency_code: str) -> Decimal:
    """A bid amount from the JSON text of the ``amount`` field: a positive finite number
    with at most the currency's decimals; a string, NaN or negative is refused."""
    text = raw.strip()
    if not text or text[0] not in "-0123456789":
        raise InvalidAmount("must be a number")
    try:
        amount = to_amount(Decimal(text), currency_code)
    except ArithmeticError as error:
        raise InvalidAmount("must be a number") from error
    if amount <= 0:
        raise InvalidAmount("must be greater than zero")
    return amount


def bidding_closes_at(auction: Distribution) -> datetime | None:
    return auction.close_at or auction.settle_at


def check_bidding_open(auction: Distribution, closed_early: bool, now: datetime) -> None:
    """Raise unless bids are accepted at ``now``, judged by the auction's own times."""
    closes = bidding_closes_at(auction)
    if closed_early or auction.status in CLOSED_STATUSES or (closes is not None and now >= closes):
        raise AuctionClosed()
    if auction.open_at is None or now < auction.open_at:
        raise AuctionNotOpenYet(auction.open_at)


def current_price(leaders: list[Standing], winner_count: int) -> Decimal | None:
    """The lowest winning bid once ``winner_count`` bidders have bid, else None."""
    return leaders[winner_count - 1].amount if len(leaders) >= winner_count else None


def check_bid(
    auction: Distribution,
    leaders: list[Standing],
    own_best: Decimal | None,
    amount: Decimal,
) -> None:
    """Raise :class:`BidRejected` unless ``amount`` may be bid now.

    ``leaders`` are the top ``winnerCount`` standings, best first.
    """
    winner_count = auction.winner_count or 1
    if own_best is not None and amount <= own_best:
        raise BidRejected(HIGHER_THAN_CURRENT)
    if auction.buy_now_price is not None and amount >= auction.buy_now_price:
        return
    price = current_price(leaders, winner_count)
    if price is None:
        if auction.starting_bid is not None and amount < auction.starting_bid:
            raise BidRejected(STARTING_PRICE)
        return
    if amount <= price:
        raise BidRejected(HIGHER_THAN_CURRENT)
    if auction.minimum_increment is not None and amount < price + auction.minimum_increment:
        raise BidRejected(MINIMUM_INCREMENT)


def rank_after(leaders: list[Standing], bid: Standing, winner_count: int) -> list[Standing]:
    """The top ``winner_count`` standings once ``bid`` is accepted: the bidder's earlier
    standing is replaced, higher amounts first, the earlier bid first on equal amounts."""
    others = [s for s in leaders if s.consumer_id != bid.consumer_id]
    ranked = sorted([*others, bid], key=lambda s: (-s.amount, s.at))
    return ranked[:winner_count]


def is_buy_now(auction: Distribution, amount: Decimal) -> bool:
    return auction.buy_now_price is not None and amount >= auction.buy_now_price


def standing_status(
    auction: Distribution, leaders: list[Standing], consumer_id: str
) -> BidderStatus:
    """Before settlement: WINNING when among the leaders and at or above the reserve,
    ACTIVE when among the leaders below the reserve, OUTBID otherwise."""
    mine = next((s for s in leaders if s.consumer_id == consumer_id), None)
    if mine is None:
        return BidderStatus.OUTBID
    if auction.reserve_price is not None and mine.amount < auction.reserve_price:
        return BidderStatus.ACTIVE
    return BidderStatus.WINNING


def winners(auction: Distribution, ranking: list[Standing]) -> list[Standing]:
    """Who wins at settlement: the top ``winnerCount`` bidders whose best bid reaches the
    reserve (``ranking`` is every bidder, best first)."""
    reserve = auction.reserve_price
    top = ranking[: auction.winner_count or 1]
    return [s for s in top if reserve is None or s.amount >= reserve]


def consumer_status(auction: Distribution, closed_early: bool, now: datetime) -> str:
    """What consumers see: PENDING before opening, OPEN, CLOSED once bidding ended (by time,
    by a buy-now bid, or by the scheduler), SETTLED once settled."""
    if auction.status is Status.SETTLED:
        return "SETTLED"
    closes = bidding_closes_at(auction)
    if closed_early or auction.status in CLOSED_STATUSES or (closes is not None and now >= closes):
        return "CLOSED"
    if auction.open_at is not None and now >= auction.open_at:
        return "OPEN"
    return "PENDING"
