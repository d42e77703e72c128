import json
from datetime import UTC, datetime

from fanfare_core.domain.events import DistributionUpdated
from fanfare_core.events.catalogue import subject_for
from fanfare_core.events.envelope import decode_envelope, encode_event


def event() -> DistributionUpdated:
    return DistributionUpdated(
        organization_id="org_1",
        occurred_at=datetime(2024, 12, 1, 10, tzinfo=UTC),
        distribution_id="queue_2",
        kind="queue",
        status="SCHEDULED",
        change="updated",
        changed_fields=("closeAt",),
        open_at=datetime(2024, 12, 15, 14, tzinfo=UTC),
        close_at=None,
        draw_at=None,
        settle_at=None,
    )


def test_events_travel_in_one_envelope_on_a_hierarchical_subject() -> None:
    subject, payload = encode_event(event(), "evt_3")
    assert subject == "fanfare.events.org_1.queue_2.distribution.updated"
    assert json.loads(payload) == {
        "id": "evt_3",
        "type": "distribution.updated",
        "timestamp": "2024-12-01T10:00:00Z",
        "organizationId": "org_1",
        "data": {
            "distributionId": "queue_2",
            "kind": "queue",
            "status": "SCHEDULED",
            "change": "updated",
            "changedFields": ["closeAt"],
            "openAt": "2024-12-15T14:00:00Z",
            "closeAt": None,
            "drawAt": None,
            "settleAt": None,
        },
    }
    assert decode_envelope(payload).organization_id == "org_1"


def test_settlement_requests_go_to_the_work_queue_subjects() -> None:
    assert subject_for("settlement.requested", "org_1", "draw_2") == (
        "fanfare.work.settlement.org_1.draw_2"
    )
