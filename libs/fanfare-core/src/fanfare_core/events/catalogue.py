"""Every event type, subject, stream and durable consumer of Fanfare, in one place.

Subjects are hierarchical so one wildcard watches an organization, a distribution or a type:

- events: ``fanfare.events.<organizationId>.<distributionId>.<type>``, e.g.
  ``fanfare.events.org_1.queue_2.queue.consumer.entered``
- work:   ``fanfare.work.settlement.<organizationId>.<distributionId>`` (a work queue, each
  message taken by one settlement worker)

``docs/events.md`` is generated from this module (``fanfare events docs``).
"""

from __future__ import annotations

from dataclasses import dataclass

EVENTS_PREFIX = "fanfare.events"
SETTLEMENT_PREFIX = "fanfare.work.settlement"
SETTLEMENT_TYPE = "settlement.requested"


@dataclass(frozen=True, slots=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    description: str
    work_queue: bool
    max_age_seconds: int
    duplicate_window_seconds: int = 120


@dataclass(frozen=True, slots=True)
class ConsumerSpec:
    durable_name: str
    stream: str
    filter_subject: str
    description: str
    ack_wait_seconds: int = 30
    max_ack_pending: int = 1000


@dataclass(frozen=True, slots=True)
class EventTypeSpec:
    type_name: str
    description: str


EVENTS_STREAM = StreamSpec(
    name="FANFARE_EVENTS",
    subjects=(f"{EVENTS_PREFIX}.>",),
    description="Every domain event, kept for replay and for operators to watch.",
    work_queue=False,
    max_age_seconds=30 * 24 * 3600,
)
SETTLEMENT_STREAM = StreamSpec(
    name="FANFARE_SETTLEMENT",
    subjects=(f"{SETTLEMENT_PREFIX}.>",),
    description="Settlement requests; each is removed once a settlement worker acks it.",
    work_queue=True,
    max_age_seconds=7 * 24 * 3600,
)
STREAMS = (EVENTS_STREAM, SETTLEMENT_STREAM)

SCHEDULER_CONSUMER = ConsumerSpec(
    durable_name="scheduler",
    stream=EVENTS_STREAM.name,
    filter_subject=f"{EVENTS_PREFIX}.*.*.distribution.updated",
    description="The scheduler's view of distribution changes, to keep its timers current.",
)
SETTLEMENT_CONSUMER = ConsumerSpec(
    durable_name="settlement-worker",
    stream=SETTLEMENT_STREAM.name,
    filter_subject=f"{SETTLEMENT_PREFIX}.>",
    description="Shared by every settlement worker replica; runs draws and settles auctions.",
    ack_wait_seconds=60,
    max_ack_pending=100,
)
CONSUMERS = (SCHEDULER_CONSUMER, SETTLEMENT_CONSUMER)

EVENT_TYPES = (
    EventTypeSpec(
        "distribution.updated", "A queue, draw or auction was created, changed or deleted."
    ),
    EventTypeSpec("distribution.status_changed", "A distribution moved to a new status."),
    EventTypeSpec(SETTLEMENT_TYPE, "A draw must be run or an auction settled."),
    EventTypeSpec("queue.consumer.entered", "A consumer entered a queue."),
    EventTypeSpec("queue.consumer.admitted", "A consumer was admitted from a queue."),
    EventTypeSpec("queue.consumer.completed", "An admitted consumer completed checkout."),
    EventTypeSpec("queue.consumer.left", "A consumer left a queue."),
    EventTypeSpec("queue.consumer.denied", "A consumer was denied."),
    EventTypeSpec("draw.consumer.entered", "A consumer entered a draw."),
    EventTypeSpec("draw.consumer.won", "A consumer won a draw."),
    EventTypeSpec("draw.consumer.lost", "A consumer did not win a draw."),
    EventTypeSpec("draw.completed", "Every win of a draw was claimed or expired."),
    EventTypeSpec("auction.bid.placed", "A bid was accepted."),
    EventTypeSpec("auction.bid.outbid", "A bidder's bid was exceeded."),
    EventTypeSpec("auction.consumer.won", "A bidder won an auction."),
    EventTypeSpec("auction.settled", "An auction was settled."),
    EventTypeSpec("draw.consumer.left", "A consumer withdrew from a draw before it closed."),
    EventTypeSpec("draw.consumer.denied", "A consumer was denied in a draw."),
)


def subject_for(type_name: str, organization_id: str, subject_key: str) -> str:
    """The NATS subject an event of ``type_name`` is published on."""
    if type_name == SETTLEMENT_TYPE:
        return f"{SETTLEMENT_PREFIX}.{organization_id}.{subject_key}"
    return f"{EVENTS_PREFIX}.{organization_id}.{subject_key}.{type_name}"
