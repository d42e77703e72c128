"""Request and response bodies of queues, draws and auctions, exactly as the spec shows."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from msgspec import UNSET, UnsetType

from fanfare_admin_api.schemas import Request, View

Metadata = dict[str, Any]


class CreateQueueRequest(Request):
    sequence_id: str
    name: str | UnsetType | None = UNSET
    time_zone: str | UnsetType = UNSET
    open_at: str | UnsetType | None = UNSET
    close_at: str | UnsetType | None = UNSET
    encryption_seed: str | UnsetType = UNSET
    max_capacity: int | UnsetType | None = UNSET
    admission_rate: int | UnsetType | None = UNSET
    session_duration_seconds: int | UnsetType | None = UNSET
    metadata: Metadata | UnsetType | None = UNSET


class UpdateQueueRequest(Request):
    name: str | UnsetType | None = UNSET
    time_zone: str | UnsetType = UNSET
    open_at: str | UnsetType = UNSET
    close_at: str | UnsetType = UNSET
    max_capacity: int | UnsetType | None = UNSET
    admission_rate: int | UnsetType | None = UNSET
    session_duration_seconds: int | UnsetType | None = UNSET
    metadata: Metadata | UnsetType | None = UNSET


class Queue(View):
    id: str
    organization_id: str
    sequence_id: str
    name: str | None
    time_zone: str
    status: str
    open_at: str | None
    close_at: str | None
    encryption_seed: str
    max_capacity: int | None
    admission_rate: int | None
    session_duration_seconds: int | None
    metadata: Metadata | None
    created_at: str
    updated_at: str


class CreateDrawRequest(Request):
    sequence_id: str
    draw_at: str
    winner_count: int
    name: str | UnsetType | None = UNSET
    time_zone: str | UnsetType = UNSET
    open_at: str | UnsetType | None = UNSET
    close_at: str | UnsetType | None = UNSET
    encryption_seed: str | UnsetType = UNSET
    max_entries: int | UnsetType | None = UNSET
    metadata: Metadata | UnsetType | None = UNSET


class UpdateDrawRequest(Request):
    name: str | UnsetType | None = UNSET
    time_zone: str | UnsetType = UNSET
    open_at: str | UnsetType = UNSET
    close_at: str | UnsetType = UNSET
    draw_at: str | UnsetType = UNSET
    winner_count: int | UnsetType = UNSET
    max_entries: int | UnsetType | None = UNSET
    metadata: Metadata | UnsetType | None = UNSET


class Draw(View):
    id: str
    organization_id: str
    sequence_id: str
    name: str | None
    time_zone: str
    status: str
    open_at: str | None
    close_at: str | None
    draw_at: str
    winner_count: int
    encryption_seed: str
    max_entries: int | None
    metadata: Metadata | None
    created_at: str
    updated_at: str


class CreateAuctionRequest(Request):
    sequence_id: str
    settle_at: str
    name: str | UnsetType | None = UNSET
    time_zone: str | UnsetType = UNSET
    open_at: str | UnsetType | None = UNSET
    close_at: str | UnsetType | None = UNSET
    starting_bid: Decimal | UnsetType | None = UNSET
    minimum_increment: Decimal | UnsetType | None = UNSET
    reserve_price: Decimal | UnsetType | None = UNSET
    buy_now_price: Decimal | UnsetType | None = UNSET
    encryption_seed: str | UnsetType = UNSET
    metadata: Metadata | UnsetType | None = UNSET
    # Extensions to the spec (DESIGN.md): units for sale and the currency of the prices.
    winner_count: int | UnsetType = UNSET
    currency_code: str | UnsetType = UNSET


class UpdateAuctionRequest(Request):
    name: str | UnsetType | None = UNSET
    time_zone: str | UnsetType = UNSET
    open_at: str | UnsetType = UNSET
    close_at: str | UnsetType = UNSET
    settle_at: str | UnsetType = UNSET
    starting_bid: Decimal | UnsetType | None = UNSET
    minimum_increment: Decimal | UnsetType | None = UNSET
    reserve_price: Decimal | UnsetType | None = UNSET
    buy_now_price: Decimal | UnsetType | None = UNSET
    metadata: Metadata | UnsetType | None = UNSET
    winner_count: int | UnsetType = UNSET
    currency_code: str | UnsetType = UNSET


class Auction(View):
    id: str
    organization_id: str
    sequence_id: str
    name: str | None
    time_zone: str
    status: str
    open_at: str | None
    close_at: str | None
    settle_at: str
    starting_bid: Decimal | None
    minimum_increment: Decimal | None
    reserve_price: Decimal | None
    buy_now_price: Decimal | None
    encryption_seed: str
    metadata: Metadata | None
    created_at: str
    updated_at: str
    winner_count: int
    currency_code: str
