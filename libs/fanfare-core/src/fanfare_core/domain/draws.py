"""A consumer's entry in a draw and the rules of entering, leaving, winning and claiming.

One entry per consumer and draw. Entries are accepted from ``openAt`` until ``closeAt``
(or ``drawAt`` when there is no ``closeAt``), judged by the draw's own times so the rules
hold even when the scheduler's stored status is late. At the draw every ENTERED entry takes
part; winners get an admission token with a claim window, everyone else is LOST, and the
backups (LOST, drawn in the same verifiable order) replace winners whose claim expires.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from fanfare_core.domain.distributions import CLOSED_STATUSES, Distribution, Status
from fanfare_core.domain.draw_selection import DrawProof
from fanfare_core.domain.errors import Conflict, DomainError, NotFound, NotOpenYet
from fanfare_core.domain.events import (
    DrawConsumerDenied,
    DrawConsumerEntered,
    DrawConsumerEvent,
    DrawConsumerLeft,
    DrawConsumerLost,
    DrawConsumerWon,
    Event,
)
from fanfare_core.domain.queues import DenyReason

__all__ = [
    "DEFAULT_CLAIM_WINDOW",
    "DRAW_NOT_FOUND",
    "NOT_DRAWN_YET",
    "NOT_IN_DRAW",
    "DenyReason",
    "DrawClosed",
    "DrawEntry",
    "DrawFull",
    "DrawNotOpenYet",
    "DrawResult",
    "EntryStatus",
    "LostReason",
    "check_open",
    "effective_status",
    "entries_close_at",
    "is_due",
    "require_draw",
]

DRAW_NOT_FOUND = "Draw not found"
NOT_IN_DRAW = "Consumer not in draw"
NOT_DRAWN_YET = "Draw not drawn yet"
NOT_A_WINNER = "Consumer has not won"
CLAIM_EXPIRED = "Claim window has expired"
ALREADY_CLAIMED = "Win was already claimed"
#: How long a winner has to use the win (their admission token lives as long).
DEFAULT_CLAIM_WINDOW = timedelta(hours=24)
#: What a full draw's 429 suggests: a place frees only when an entrant leaves.
FULL_RETRY_SECONDS = 60
DRAWN_STATUSES = frozenset({Status.DRAWN, Status.COMPLETED})


class EntryStatus(StrEnum):
    ENTERED = "ENTERED"
    WON = "WON"
    LOST = "LOST"
    DENIED = "DENIED"
    LEFT = "LEFT"


class LostReason(StrEnum):
    NOT_SELECTED = "NOT_SELECTED"
    CLAIM_EXPIRED = "CLAIM_EXPIRED"


class DrawNotOpenYet(NotOpenYet):
    """Entering before ``openAt`` (423); ``opens_at`` is when to retry, if known."""

    def __init__(self, opens_at: datetime | None) -> None:
        super().__init__("Draw is not open yet", opens_at)


class DrawClosed(DomainError):
    """Entering or leaving once entries have closed (400)."""

    def __init__(self) -> None:
        super().__init__("Draw is closed")


class DrawFull(DomainError):
    """``maxEntries`` reached (429); ``retry_after_seconds`` is a hint for the client."""

    def __init__(self, retry_after_seconds: int = FULL_RETRY_SECONDS) -> None:
        super().__init__("Draw is full")
        self.retry_after_seconds = retry_after_seconds


def entries_close_at(draw: Distribution) -> datetime | None:
    """When entries stop: ``closeAt``, else ``drawAt``."""
    return draw.close_at or draw.draw_at


def is_due(draw: Distribution, now: datetime) -> bool:
    """Whether the draw may run: ``drawAt`` (and so ``closeAt``) has passed."""
    closes = entries_close_at(draw)
    return draw.draw_at is not None and now >= draw.draw_at and (closes is None or now >= closes)


def check_open(draw: Distribution, now: datetime) -> None:
    """Raise unless ``draw`` accepts entries (and departures) at ``now``."""
    closes = entries_close_at(draw)
    if draw.status in CLOSED_STATUSES or (closes is not None and now >= closes):
        raise DrawClosed()
    if draw.open_at is None or now < draw.open_at:
        raise DrawNotOpenYet(draw.open_at)


def effective_status(draw: Distribution, now: datetime) -> str:
    """What consumers see: PENDING before opening, OPEN, CLOSED once entries close, then the
    stored DRAWN or COMPLETED (DESIGN "Status names")."""
    if draw.status in DRAWN_STATUSES:
        return draw.status.value
    closes = entries_close_at(draw)
    if draw.status is Status.CLOSED or (closes is not None and now >= closes):
        return Status.CLOSED.value
    if draw.open_at is not None and now >= draw.open_at:
        return Status.OPEN.value
    return "PENDING"


def require_draw(draw: Distribution | None, organization_id: str) -> Distribution:
    """The draw if it exists for this organization, else ``Draw not found``."""
    if draw is None or draw.organization_id != organization_id or draw.deleted_at:
        raise NotFound(DRAW_NOT_FOUND)
    return draw


@dataclass(slots=True, kw_only=True)
class DrawEntry:
    """One consumer in one draw; methods apply the rules and record the events."""

    draw_id: str
    consumer_id: str
    organization_id: str
    status: EntryStatus
    entered_at: datetime
    left_at: datetime | None = None
    denied_at: datetime | None = None
    deny_reason: str | None = None
    won_at: datetime | None = None
    claim_expires_at: datetime | None = None
    claimed_at: datetime | None = None
    lost_reason: str | None = None
    admission_token_id: str | None = None
    admission_token: str | None = None
    fingerprint_hash: str | None = None
    rank: int | None = None
    in_draw: bool = False
    version: int = 0
    events: list[Event] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def first_entry(
        cls, *, draw: Distribution, consumer_id: str, fingerprint_hash: str | None, now: datetime
    ) -> DrawEntry:
        entry = cls(
            draw_id=draw.id,
            consumer_id=consumer_id,
            organization_id=draw.organization_id,
            status=EntryStatus.ENTERED,
            entered_at=now,
            fingerprint_hash=fingerprint_hash,
        )
        entry._record(DrawConsumerEntered, now)
        return entry

    def enter_again(self, fingerprint_hash: str | None, now: datetime) -> None:
        """Back in after leaving (before entries close)."""
        if self.status is not EntryStatus.LEFT:
            raise Conflict("Consumer cannot enter again")
        self.status = EntryStatus.ENTERED
        self.entered_at = now
        self.left_at = None
        self.fingerprint_hash = fingerprint_hash
        self._record(DrawConsumerEntered, now)

    def leave(self, now: datetime) -> None:
        if self.status is not EntryStatus.ENTERED:
            raise NotFound(NOT_IN_DRAW)
        self.status = EntryStatus.LEFT
        self.left_at = now
        self._record(DrawConsumerLeft, now)

    def deny(self, reason: DenyReason, now: datetime) -> None:
        """Deny the consumer: before the draw they take no part; after it, an unclaimed win
        is forfeited (the caller promotes a backup). A claimed win cannot be denied."""
        if self.status is EntryStatus.DENIED and self.deny_reason == reason.value:
            return
        if self.status is EntryStatus.WON and self.claimed_at is not None:
            raise Conflict(ALREADY_CLAIMED)
        self.status = EntryStatus.DENIED
        self.denied_at = now
        self.deny_reason = reason.value
        self.admission_token_id = self.admission_token = None
        self._record(DrawConsumerDenied, now, reason=reason.value)

    def win(
        self, *, rank: int, token_id: str, token: str, claim_expires_at: datetime, now: datetime
    ) -> None:
        """Become a winner (promoted from the backups; winners at the draw are recorded in
        bulk by the repository with the same fields)."""
        self.status = EntryStatus.WON
        self.rank = rank
        self.won_at = now
        self.claim_expires_at = claim_expires_at
        self.lost_reason = None
        self.admission_token_id = token_id
        self.admission_token = token
        self.events.append(
            DrawConsumerWon(
                organization_id=self.organization_id, occurred_at=now, draw_id=self.draw_id,
                consumer_id=self.consumer_id, status=self.status.value, rank=rank,
                claim_expires_at=claim_expires_at,
            )
        )  # fmt: skip

    def claim_expired(self, now: datetime) -> bool:
        """An unclaimed win whose window has run out."""
        return (
            self.status is EntryStatus.WON
            and self.claimed_at is None
            and self.claim_expires_at is not None
            and now >= self.claim_expires_at
        )

    def expire(self, now: datetime) -> None:
        """The claim window ran out: the win is forfeited."""
        self.status = EntryStatus.LOST
        self.lost_reason = LostReason.CLAIM_EXPIRED.value
        self.admission_token_id = self.admission_token = None
        self._record(DrawConsumerLost, now, reason=LostReason.CLAIM_EXPIRED.value)

    def claim(self, now: datetime) -> None:
        """The storefront used the win (checkout done); idempotent."""
        if self.status is EntryStatus.WON and self.claimed_at is not None:
            return
        if self.status is not EntryStatus.WON:
            raise Conflict(NOT_A_WINNER)
        if self.claim_expired(now):
            raise Conflict(CLAIM_EXPIRED)
        self.claimed_at = now

    def shown_status(self, now: datetime) -> EntryStatus:
        """The status consumers see: an unclaimed win past its window is already LOST even
        before the backups are promoted."""
        return EntryStatus.LOST if self.claim_expired(now) else self.status

    def _record(self, kind: type[DrawConsumerEvent], now: datetime, **extra: str) -> None:
        self.events.append(
            kind(
                organization_id=self.organization_id,
                occurred_at=now,
                draw_id=self.draw_id,
                consumer_id=self.consumer_id,
                status=self.status.value,
                **extra,
            )
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DrawResult:
    """The one recorded result of a draw, with what is needed to recompute it."""

    draw_id: str
    organization_id: str
    algorithm: str
    seed: bytes
    commitment: str
    entries_digest: str
    entry_count: int
    winner_count: int
    winners: tuple[str, ...]
    backups: tuple[str, ...]
    backups_used: int
    claim_seconds: int
    drawn_at: datetime
    completed_at: datetime | None = None

    @property
    def claim_window(self) -> timedelta:
        return timedelta(seconds=self.claim_seconds)

    def proof(self) -> DrawProof:
        return DrawProof(
            algorithm=self.algorithm,
            seed=self.seed,
            commitment=self.commitment,
            entries_digest=self.entries_digest,
            entry_count=self.entry_count,
            winner_count=self.winner_count,
            winners=self.winners,
            backups=self.backups,
        )
