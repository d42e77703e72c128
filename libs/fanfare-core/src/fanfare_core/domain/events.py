"""Domain events: facts in the past tense, recorded by aggregates, published via the outbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import ClassVar


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of every event. ``type_name`` is the public event type (``queue.consumer.entered``)."""

    type_name: ClassVar[str]
    #: The field naming what the event is about (a distribution), used in its subject.
    subject_field: ClassVar[str | None] = None
    organization_id: str
    occurred_at: datetime

    @property
    def subject_key(self) -> str:
        """The id the event is about, used as a subject token (``_`` when none)."""
        return "_" if self.subject_field is None else str(getattr(self, self.subject_field))


@dataclass(frozen=True, slots=True, kw_only=True)
class DistributionUpdated(Event):
    """A distribution was created, changed or deleted; the scheduler re-reads its timers."""

    type_name: ClassVar[str] = "distribution.updated"
    subject_field: ClassVar[str | None] = "distribution_id"
    distribution_id: str
    kind: str
    status: str
    change: str  # "created" | "updated" | "deleted"
    changed_fields: tuple[str, ...]
    open_at: datetime | None
    close_at: datetime | None
    draw_at: datetime | None
    settle_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueConsumerEvent(Event):
    """A consumer's state in a queue changed."""

    type_name: ClassVar[str] = "queue.consumer"
    subject_field: ClassVar[str | None] = "queue_id"
    queue_id: str
    consumer_id: str
    status: str


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueConsumerEntered(QueueConsumerEvent):
    type_name: ClassVar[str] = "queue.consumer.entered"


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueConsumerAdmitted(QueueConsumerEvent):
    type_name: ClassVar[str] = "queue.consumer.admitted"


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueConsumerCompleted(QueueConsumerEvent):
    type_name: ClassVar[str] = "queue.consumer.completed"


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueConsumerLeft(QueueConsumerEvent):
    type_name: ClassVar[str] = "queue.consumer.left"
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueConsumerDenied(QueueConsumerEvent):
    type_name: ClassVar[str] = "queue.consumer.denied"
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AuctionBidPlaced(Event):
    """A bid was accepted."""

    type_name: ClassVar[str] = "auction.bid.placed"
    subject_field: ClassVar[str | None] = "auction_id"
    auction_id: str
    consumer_id: str
    bid_id: str
    amount: Decimal
    buy_now: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class AuctionBidOutbid(Event):
    """A bidder fell out of the winning places."""

    type_name: ClassVar[str] = "auction.bid.outbid"
    subject_field: ClassVar[str | None] = "auction_id"
    auction_id: str
    consumer_id: str
    amount: Decimal
    outbid_by: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class SettlementRequested(Event):
    """A draw must be run or an auction settled (now, or early after a buy-now bid)."""

    type_name: ClassVar[str] = "settlement.requested"
    subject_field: ClassVar[str | None] = "distribution_id"
    distribution_id: str
    kind: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DistributionStatusChanged(Event):
    """A distribution moved from one status to the next."""

    type_name: ClassVar[str] = "distribution.status_changed"
    subject_field: ClassVar[str | None] = "distribution_id"
    distribution_id: str
    kind: str
    status: str
    previous_status: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AuctionConsumerWon(Event):
    """A bidder won a unit at settlement and may pay with their payment token."""

    type_name: ClassVar[str] = "auction.consumer.won"
    subject_field: ClassVar[str | None] = "auction_id"
    auction_id: str
    consumer_id: str
    amount: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class AuctionSettled(Event):
    """An auction was settled: its winners (possibly none, when the reserve was not met)."""

    type_name: ClassVar[str] = "auction.settled"
    subject_field: ClassVar[str | None] = "auction_id"
    auction_id: str
    winners: tuple[str, ...]
    reserve_met: bool
    bidders: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DrawConsumerEvent(Event):
    """A consumer's state in a draw changed."""

    type_name: ClassVar[str] = "draw.consumer"
    subject_field: ClassVar[str | None] = "draw_id"
    draw_id: str
    consumer_id: str
    status: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DrawConsumerEntered(DrawConsumerEvent):
    type_name: ClassVar[str] = "draw.consumer.entered"


@dataclass(frozen=True, slots=True, kw_only=True)
class DrawConsumerLeft(DrawConsumerEvent):
    type_name: ClassVar[str] = "draw.consumer.left"


@dataclass(frozen=True, slots=True, kw_only=True)
class DrawConsumerDenied(DrawConsumerEvent):
    type_name: ClassVar[str] = "draw.consumer.denied"
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DrawConsumerWon(DrawConsumerEvent):
    """Won at the draw (``rank`` ≤ winnerCount) or promoted from the backups later."""

    type_name: ClassVar[str] = "draw.consumer.won"
    rank: int
    claim_expires_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class DrawConsumerLost(DrawConsumerEvent):
    """Not selected (``NOT_SELECTED``; backups too, until promoted), or a win whose claim
    window ran out (``CLAIM_EXPIRED``)."""

    type_name: ClassVar[str] = "draw.consumer.lost"
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DrawCompleted(Event):
    """Every win of a draw was claimed or expired."""

    type_name: ClassVar[str] = "draw.completed"
    subject_field: ClassVar[str | None] = "draw_id"
    draw_id: str
    claimed: int
    expired: int
