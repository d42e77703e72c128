"""An example envelope of each event type that has a producer, built from the real encoder."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from fanfare_core.domain.events import DistributionUpdated, Event
from fanfare_core.events.envelope import to_envelope

_AT = datetime(2024, 12, 1, 10, 0, tzinfo=UTC)


def _example(event: Event) -> str:
    envelope = to_envelope(event, "evt_01JDQ8Z6W3K9X2M4N5P6Q7R8S9")
    plain = {
        "id": envelope.id,
        "type": envelope.type,
        "timestamp": envelope.timestamp,
        "organizationId": envelope.organization_id,
        "data": envelope.data,
    }
    return json.dumps(plain, indent=2)


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
}
