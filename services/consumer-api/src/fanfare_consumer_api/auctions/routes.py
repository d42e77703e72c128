"""Auction routes of the consumer API: the auction, bidding, one's standing, the bids."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from litestar import Request, Router, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from msgspec import UNSET

from fanfare_consumer_api.auctions.schemas import (
    Auction,
    BidderState,
    BidHistoryItem,
    BidRequest,
    BidResponse,
    BidText,
    HighestBid,
)
from fanfare_consumer_api.auth import require_shopper, shopper_of, storefront_of
from fanfare_core.domain.money import plain
from fanfare_core.domain.timing import format_instant, format_optional_instant
from fanfare_core.http.strict_body import decode_body
from fanfare_core.service_layer.auctions import AuctionService, bidder_alias


def _service(request: Request[Any, Any, Any]) -> AuctionService:
    service: AuctionService = request.app.state.auctions
    return service


def _money(amount: Decimal | None) -> Decimal | None:
    return None if amount is None else plain(amount)


@get("/{auction_id:str}", operation_id="getAuction", summary="An auction as bidders see it")
async def get_auction(request: Request[Any, Any, Any], auction_id: FromPath[str]) -> Auction:
    storefront = await storefront_of(request)
    view = await _service(request).view(storefront.organization_id, auction_id)
    auction = view.auction
    return Auction(
        id=auction.id,
        name=auction.name,
        sequence_id=auction.sequence_id,
        open_at=format_optional_instant(auction.open_at),
        close_at=format_optional_instant(auction.close_at),
        settle_at=format_instant(auction.settle_at) if auction.settle_at else "",
        time_zone=auction.time_zone,
        starting_price=plain(auction.starting_bid or Decimal(0)),
        reserve_price=_money(auction.reserve_price),
        minimum_bid_increment=plain(auction.minimum_increment or Decimal(0)),
        winner_count=auction.winner_count or 1,
        status=view.status,
        current_high_bid=_money(view.current_high_bid),
        currency_code=auction.currency_code or "USD",
        buy_now_price=_money(auction.buy_now_price),
    )


@post(
    "/{auction_id:str}/bid",
    operation_id="placeBid",
    summary="Place a bid",
    status_code=200,
    before_request=require_shopper,
)
async def place_bid(
    request: Request[Any, Any, Any],
    auction_id: FromPath[str],
    data: JSONBody[BidRequest],
) -> BidResponse:
    shopper = await shopper_of(request)
    body = await decode_body(request, BidText)
    state = await _service(request).place_bid(
        shopper.organization_id, auction_id, shopper.consumer_id, bytes(body.amount).decode()
    )
    return BidResponse(
        status=state.status,
        last_bid_amount=plain(state.last_bid_amount or Decimal(0)),
        last_bid_time=format_optional_instant(state.last_bid_time) or "",
        bid_count=state.bid_count,
    )


@get("/{auction_id:str}/status", operation_id="getBidStatus", summary="One's standing")
async def bid_status(request: Request[Any, Any, Any], auction_id: FromPath[str]) -> BidderState:
    shopper = await shopper_of(request)
    state = await _service(request).status(shopper.organization_id, auction_id, shopper.consumer_id)
    return BidderState(
        auction_id=state.auction_id,
        consumer_id=state.consumer_id,
        status=state.status,
        last_bid_amount=_money(state.last_bid_amount),
        last_bid_time=format_optional_instant(state.last_bid_time),
        bid_count=state.bid_count,
        payment_token=UNSET if state.payment_token is None else state.payment_token,
    )


@get("/{auction_id:str}/highest-bid", operation_id="getHighestBid", summary="The high bid")
async def highest_bid(request: Request[Any, Any, Any], auction_id: FromPath[str]) -> HighestBid:
    shopper = await shopper_of(request)
    amount = await _service(request).highest(shopper.organization_id, auction_id)
    return HighestBid(amount=_money(amount), bidder_id=None)


@get(
    "/{auction_id:str}/bids/history",
    operation_id="getBidHistory",
    summary="One's own bids, newest first",
    before_request=require_shopper,
)
async def bid_history(
    request: Request[Any, Any, Any],
    auction_id: FromPath[str],
    limit: FromQuery[int] = 10,
) -> list[BidHistoryItem]:
    shopper = await shopper_of(request)
    bids = await _service(request).bids(
        shopper.organization_id, auction_id, consumer_id=shopper.consumer_id, limit=limit
    )
    return [
        BidHistoryItem(b.id, b.consumer_id, plain(b.amount), format_instant(b.placed_at))
        for b in bids
    ]


@get(
    "/{auction_id:str}/bids",
    operation_id="getAllBids",
    summary="All bids, newest first (other bidders shown by a pseudonym)",
    before_request=require_shopper,
)
async def all_bids(
    request: Request[Any, Any, Any],
    auction_id: FromPath[str],
    limit: FromQuery[int] = 20,
) -> list[BidHistoryItem]:
    shopper = await shopper_of(request)
    bids = await _service(request).bids(
        shopper.organization_id, auction_id, consumer_id=None, limit=limit
    )
    return [
        BidHistoryItem(
            b.id,
            b.consumer_id
            if b.consumer_id == shopper.consumer_id
            else bidder_alias(auction_id, b.consumer_id),
            plain(b.amount),
            format_instant(b.placed_at),
        )
        for b in bids
    ]


ROUTER = Router(
    path="/api/v1/auctions",
    route_handlers=[get_auction, place_bid, bid_status, highest_bid, bid_history, all_bids],
    tags=["Auctions"],
)
