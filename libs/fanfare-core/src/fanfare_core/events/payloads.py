"""An example envelope of each event type that has a producer, built from the real encoder."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import msgspec

from fanfare_core.domain.events import (
    AuctionBidOutbid,
    AuctionBidPlaced,
    AuctionConsumerWon,
    AuctionSettled,
    DistributionStatusChanged,
    DistributionUpdated,
    DrawCompleted,
    DrawConsumerDenied,
    DrawConsumerEntered,
    DrawConsumerLeft,
    DrawConsumerLost,
    DrawConsumerWon,
    Event,
    QueueConsumerAdmitted,
    QueueConsumerCompleted,
    QueueConsumerDenied,
    QueueConsumerEntered,
    QueueConsumerLeft,
    SettlementRequested,
)
from fanfare_core.events.envelope import encode_event

_AT = datetime(2024, 12, 1, 10, 0, tzinfo=UTC)
_ORG = "org_01JDQ8Z6W3K9X2M4N5P6Q7R8SA"
_AUCTION = "auction_01JDQ8Z6W3K9X2M4N5P6Q7R8SE"
_QUEUE = {
    "queue_id": "queue_01JDQ8Z6W3K9X2M4N5P6Q7R8SB",
    "consumer_id": "cons_01JDQ8Z6W3K9X2M4N5P6Q7R8SC",
}
_DRAW = {
    "draw_id": "draw_01JDQ8Z6W3K9X2M4N5P6Q7R8SF",
    "consumer_id": "cons_01JDQ8Z6W3K9X2M4N5P6Q7R8SC",
}


def _example(event: Event) -> str:
    """The exact bytes the bus carries for ``event``, indented for reading."""
    _, payload = encode_event(event, "evt_01JDQ8Z6W3K9X2M4N5P6Q7R8S9")
    return msgspec.json.format(payload, indent=2).decode()


PAYLOAD_EXAMPLES: dict[str, str] = {
    DistributionUpdated.type_name: _example(
        DistributionUpdated(
            organization_id="org_01JDQ8Z6W3K9X2M4N5P6Q7R8SA",
            occurred_at=_AT,
            distribution_id="queue_01JDQ8Z6W3K9X2M4N5P6Q7R8SB",
            kind="queue",
            status="SCHEDULED",
            change="updated",
            changed_fields=("closeAt", "admissionRate"),
            open_at=datetime(2024, 12, 15, 14, 0, tzinfo=UTC),
            close_at=datetime(2024, 12, 16, 1, 0, tzinfo=UTC),
            draw_at=None,
            settle_at=None,
        )
    ),
    QueueConsumerEntered.type_name: _example(
        QueueConsumerEntered(organization_id=_ORG, occurred_at=_AT, status="QUEUED", **_QUEUE)
    ),
    QueueConsumerAdmitted.type_name: _example(
        QueueConsumerAdmitted(organization_id=_ORG, occurred_at=_AT, status="ADMITTED", **_QUEUE)
    ),
    QueueConsumerCompleted.type_name: _example(
        QueueConsumerCompleted(organization_id=_ORG, occurred_at=_AT, status="COMPLETED", **_QUEUE)
    ),
    QueueConsumerLeft.type_name: _example(
        QueueConsumerLeft(
            organization_id=_ORG, occurred_at=_AT, status="LEFT", reason="SESSION_EXPIRED", **_QUEUE
        )
    ),
    QueueConsumerDenied.type_name: _example(
        QueueConsumerDenied(
            organization_id=_ORG,
            occurred_at=_AT,
            status="DENIED",
            reason="FRAUD_DETECTED",
            **_QUEUE,
        )
    ),
    DistributionStatusChanged.type_name: _example(
        DistributionStatusChanged(
            organization_id=_ORG, occurred_at=_AT, distribution_id=_AUCTION, kind="auction",
            status="CLOSED", previous_status="OPEN",
        )
    ),
    SettlementRequested.type_name: _example(
        SettlementRequested(
            organization_id=_ORG, occurred_at=_AT, distribution_id=_AUCTION, kind="auction",
            reason="BUY_NOW",
        )
    ),
    AuctionBidPlaced.type_name: _example(
        AuctionBidPlaced(
            organization_id=_ORG, occurred_at=_AT, auction_id=_AUCTION,
            consumer_id=_QUEUE["consumer_id"], bid_id="bid_01JDQ8Z6W3K9X2M4N5P6Q7R8SD",
            amount=Decimal("275.00"), buy_now=False,
        )
    ),
    AuctionBidOutbid.type_name: _example(
        AuctionBidOutbid(
            organization_id=_ORG, occurred_at=_AT, auction_id=_AUCTION,
            consumer_id=_QUEUE["consumer_id"], amount=Decimal("250.00"),
            outbid_by=Decimal("275.00"),
        )
    ),
    AuctionConsumerWon.type_name: _example(
        AuctionConsumerWon(
            organization_id=_ORG, occurred_at=_AT, auction_id=_AUCTION,
            consumer_id=_QUEUE["consumer_id"], amount=Decimal("500.00"),
        )
    ),
    AuctionSettled.type_name: _example(
        AuctionSettled(
            organization_id=_ORG, occurred_at=_AT, auction_id=_AUCTION,
            winners=(_QUEUE["consumer_id"],), reserve_met=True, bidders=12,
        )
    ),
    DrawConsumerEntered.type_name: _example(
        DrawConsumerEntered(organization_id=_ORG, occurred_at=_AT, status="ENTERED", **_DRAW)
    ),
    DrawConsumerLeft.type_name: _example(
        DrawConsumerLeft(organization_id=_ORG, occurred_at=_AT, status="LEFT", **_DRAW)
    ),
    DrawConsumerDenied.type_name: _example(
        DrawConsumerDenied(
            organization_id=_ORG, occurred_at=_AT, status="DENIED", reason="FRAUD_DETECTED",
            **_DRAW,
        )
    ),
    DrawConsumerWon.type_name: _example(
        DrawConsumerWon(
            organization_id=_ORG, occurred_at=_AT, status="WON", rank=3,
            claim_expires_at=datetime(2024, 12, 2, 10, 0, tzinfo=UTC), **_DRAW,
        )
    ),
    DrawConsumerLost.type_name: _example(
        DrawConsumerLost(
            organization_id=_ORG, occurred_at=_AT, status="LOST", reason="NOT_SELECTED", **_DRAW
        )
    ),
    DrawCompleted.type_name: _example(
        DrawCompleted(
            organization_id=_ORG, occurred_at=_AT, draw_id=_DRAW["draw_id"], claimed=98,
            expired=2,
        )
    ),
}  # fmt: skip
