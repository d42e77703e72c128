"""Bodies of the consumer auction routes, as the spec shows them."""

from __future__ import annotations

from decimal import Decimal

import msgspec
from msgspec import UNSET, UnsetType


class Auction(msgspec.Struct, rename="camel"):
    id: str
    name: str | None
    sequence_id: str
    open_at: str | None
    close_at: str | None
    settle_at: str
    time_zone: str | None
    starting_price: Decimal
    reserve_price: Decimal | None
    minimum_bid_increment: Decimal
    winner_count: int
    status: str
    current_high_bid: Decimal | None
    currency_code: str
    buy_now_price: Decimal | None


class BidRequest(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    """The body as documented: ``{"amount": <number>}``."""

    amount: Decimal


class BidText(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    """The same body with the amount kept as its JSON text: read exactly, strings refused."""

    amount: msgspec.Raw


class BidResponse(msgspec.Struct, rename="camel"):
    status: str
    last_bid_amount: Decimal
    last_bid_time: str
    bid_count: int


class BidderState(msgspec.Struct, rename="camel", omit_defaults=True):
    auction_id: str
    consumer_id: str
    status: str
    last_bid_amount: Decimal | None
    last_bid_time: str | None
    bid_count: int
    payment_token: str | UnsetType = UNSET


class HighestBid(msgspec.Struct, rename="camel"):
    amount: Decimal | None
    bidder_id: str | None


class BidHistoryItem(msgspec.Struct, rename="camel"):
    bid_id: str
    consumer_id: str
    amount: Decimal
    timestamp: str
