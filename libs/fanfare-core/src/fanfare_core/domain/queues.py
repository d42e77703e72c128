"""A consumer's place in a queue and the rules of entering, leaving and admission.

Arrival order is exact: a consumer's ``arrival`` number is taken when they enter, and their
position is 1 + the number of consumers still QUEUED with a smaller one. Entering again
while queued keeps the place; leaving and entering again goes to the back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from fanfare_core.domain.distributions import CLOSED_STATUSES, Distribution
from fanfare_core.domain.errors import Conflict, DomainError, NotFound, NotOpenYet
from fanfare_core.domain.events import (
    Event,
    QueueConsumerAdmitted,
    QueueConsumerCompleted,
    QueueConsumerDenied,
    QueueConsumerEntered,
    QueueConsumerLeft,
)

DEFAULT_SESSION_SECONDS = 900
QUEUE_NOT_FOUND = "Queue not found"
NOT_IN_QUEUE = "Consumer not in queue"


class EntryStatus(StrEnum):
    QUEUED = "QUEUED"
    ADMITTED = "ADMITTED"
    COMPLETED = "COMPLETED"
    DENIED = "DENIED"
    LEFT = "LEFT"


class DenyReason(StrEnum):
    ORDER_LIMIT_EXCEEDED = "ORDER_LIMIT_EXCEEDED"
    FRAUD_DETECTED = "FRAUD_DETECTED"
    ADMIN_ACTION = "ADMIN_ACTION"


class QueueNotOpenYet(NotOpenYet):
    """Entering before ``openAt``."""

    def __init__(self, opens_at: datetime | None) -> None:
        super().__init__("Queue is not open yet", opens_at)


class QueueClosed(DomainError):
    def __init__(self) -> None:
        super().__init__("Queue is closed")


class QueueFull(DomainError):
    """No place left (429); ``retry_after_seconds`` is a hint for the client."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__("Queue is full")
        self.retry_after_seconds = retry_after_seconds


def check_open(queue: Distribution, now: datetime) -> None:
    """Raise unless ``queue`` accepts entries at ``now``, judged by its own times, so the
    rule holds even when the scheduler's stored status is late."""
    if queue.status in CLOSED_STATUSES or (queue.close_at is not None and now >= queue.close_at):
        raise QueueClosed()
    if queue.open_at is None or now < queue.open_at:
        raise QueueNotOpenYet(queue.open_at)


def session_length(queue: Distribution) -> timedelta:
    return timedelta(seconds=queue.session_duration_seconds or DEFAULT_SESSION_SECONDS)


@dataclass(slots=True, kw_only=True)
class QueueEntry:
    """One consumer in one queue; methods apply the rules and record the events."""

    queue_id: str
    consumer_id: str
    organization_id: str
    sequence_id: str
    arrival: int
    status: EntryStatus
    entered_at: datetime
    admitted_at: datetime | None = None
    expires_at: datetime | None = None
    completed_at: datetime | None = None
    left_at: datetime | None = None
    denied_at: datetime | None = None
    deny_reason: str | None = None
    admission_token_id: str | None = None
    admission_token: str | None = None
    fingerprint_hash: str | None = None
    version: int = 0
    events: list[Event] = field(default_factory=list, compare=False, repr=False)

    def holds_place(self, now: datetime) -> bool:
        """QUEUED, or ADMITTED with a session that has not expired."""
        if self.status is EntryStatus.QUEUED:
            return True
        return self.status is EntryStatus.ADMITTED and (
            self.expires_at is None or now < self.expires_at
        )

    @classmethod
    def first_entry(
        cls,
        *,
        queue: Distribution,
        consumer_id: str,
        arrival: int,
        fingerprint_hash: str | None,
        now: datetime,
    ) -> QueueEntry:
        entry = cls(
            queue_id=queue.id,
            consumer_id=consumer_id,
            organization_id=queue.organization_id,
            sequence_id=queue.sequence_id,
            arrival=arrival,
            status=EntryStatus.QUEUED,
            entered_at=now,
            fingerprint_hash=fingerprint_hash,
        )
        entry._record(QueueConsumerEntered, now)
        return entry

    def enter_again(self, arrival: int, fingerprint_hash: str | None, now: datetime) -> None:
        """Back of the line, after leaving, completing or an expired admission."""
        self.arrival = arrival
        self.status = EntryStatus.QUEUED
        self.entered_at = now
        self.fingerprint_hash = fingerprint_hash
        self.admitted_at = self.expires_at = self.completed_at = self.left_at = None
        self.admission_token_id = self.admission_token = None
        self.denied_at = None
        self.deny_reason = None
        self._record(QueueConsumerEntered, now)

    def deny(self, reason: DenyReason, now: datetime) -> None:
        if self.status is EntryStatus.DENIED and self.deny_reason == reason.value:
            return
        self.status = EntryStatus.DENIED
        self.denied_at = now
        self.deny_reason = reason.value
        self.admission_token_id = self.admission_token = None
        self._record(QueueConsumerDenied, now, reason=reason.value)

    def leave(self, now: datetime) -> None:
        """Give up one's place (or one's admission)."""
        if not self.holds_place(now):
            raise NotFound(NOT_IN_QUEUE)
        self.status = EntryStatus.LEFT
        self.left_at = now
        self.admission_token_id = self.admission_token = None
        self._record(QueueConsumerLeft, now, reason="LEFT")

    def admit(self, token_id: str, token: str, expires_at: datetime, now: datetime) -> None:
        """Admit a QUEUED consumer with a signed admission token valid until ``expires_at``."""
        if self.status is not EntryStatus.QUEUED:
            raise NotFound(NOT_IN_QUEUE)
        self.status = EntryStatus.ADMITTED
        self.admitted_at = now
        self.expires_at = expires_at
        self.admission_token_id = token_id
        self.admission_token = token
        self._record(QueueConsumerAdmitted, now)

    def complete(self, now: datetime) -> None:
        if self.status is EntryStatus.COMPLETED:
            return
        if self.status is not EntryStatus.ADMITTED:
            raise Conflict("Consumer is not admitted")
        if self.expires_at is not None and now >= self.expires_at:
            raise Conflict("Admission has expired")
        self.status = EntryStatus.COMPLETED
        self.completed_at = now
        self._record(QueueConsumerCompleted, now)

    def expire(self, now: datetime) -> None:
        """An admission whose session ran out frees its place: the consumer has left."""
        self.status = EntryStatus.LEFT
        self.left_at = self.expires_at or now
        self.admission_token_id = self.admission_token = None
        self._record(QueueConsumerLeft, now, reason="SESSION_EXPIRED")

    def _record(self, kind: type[Event], now: datetime, **extra: str) -> None:
        self.events.append(
            kind(  # type: ignore[call-arg]
                organization_id=self.organization_id,
                occurred_at=now,
                queue_id=self.queue_id,
                consumer_id=self.consumer_id,
                status=self.status.value,
                **extra,
            )
        )


def require_queue(queue: Distribution | None, organization_id: str) -> Distribution:
    """The queue if it exists for this organization, else ``Queue not found``."""
    if queue is None or queue.organization_id != organization_id or queue.deleted_at:
        raise NotFound(QUEUE_NOT_FOUND)
    return queue


def effective_status(queue: Distribution, now: datetime) -> str:
    """What consumers see: PENDING before opening, OPEN, or CLOSED; judged by the queue's
    own times as well, so it agrees with what entering would answer."""
    if queue.status in CLOSED_STATUSES or (queue.close_at is not None and now >= queue.close_at):
        return "CLOSED"
    if queue.open_at is not None and now >= queue.open_at:
        return "OPEN"
    return "PENDING"
