"""The rules of draw entries without I/O, and the bulk helpers a draw's run relies on."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from fanfare_core.domain.distributions import Distribution, DistributionChanges, Kind, Status
from fanfare_core.domain.distributions import OrganizationDefaults as Defaults
from fanfare_core.domain.draws import (
    DenyReason,
    DrawClosed,
    DrawEntry,
    DrawNotOpenYet,
    EntryStatus,
    check_open,
    effective_status,
    is_due,
)
from fanfare_core.domain.errors import Conflict, NotFound
from fanfare_core.domain.events import DrawConsumerLost
from fanfare_core.events.envelope import encode_event, encode_variants
from fanfare_core.ids import _encode, new_id, new_ids

T0 = datetime(2030, 1, 1, 12, tzinfo=UTC)


def draw(**changes: str | int | None) -> Distribution:
    settings: dict[str, str | int | None] = {
        "open_at": "2030-01-01T12:00:00Z",
        "close_at": "2030-01-02T12:00:00Z",
        "draw_at": "2030-01-02T13:00:00Z",
        "winner_count": 2,
        **changes,
    }
    return Distribution.create(
        kind=Kind.DRAW, distribution_id="draw_1", organization_id="org_1", sequence_id="seq_1",
        changes=DistributionChanges(**settings),  # type: ignore[arg-type]
        defaults=Defaults("UTC", "USD"), now=T0 - timedelta(days=1),
    )  # fmt: skip


def test_entries_are_taken_between_open_and_close_by_the_draws_own_times() -> None:
    d = draw()
    with pytest.raises(DrawNotOpenYet) as early:
        check_open(d, T0 - timedelta(seconds=1))
    assert early.value.opens_at == T0
    assert early.value.message == "Draw is not open yet"
    check_open(d, T0)
    with pytest.raises(DrawClosed):
        check_open(d, T0 + timedelta(days=1))
    # Without closeAt, entries close at drawAt.
    open_until_draw = draw(close_at=None)
    check_open(open_until_draw, T0 + timedelta(days=1, minutes=59))
    with pytest.raises(DrawClosed):
        check_open(open_until_draw, T0 + timedelta(days=1, hours=1))
    # A stored closed status closes it whatever the times say.
    with pytest.raises(DrawClosed):
        check_open(replace(d, status=Status.DRAWN), T0)


def test_shoppers_see_pending_open_closed_then_the_stored_drawn_or_completed() -> None:
    d = draw()
    assert effective_status(d, T0 - timedelta(seconds=1)) == "PENDING"
    assert effective_status(d, T0) == "OPEN"
    assert effective_status(d, T0 + timedelta(days=1)) == "CLOSED"
    assert effective_status(d, T0 + timedelta(days=2)) == "CLOSED"  # due, not drawn yet
    assert effective_status(replace(d, status=Status.DRAWN), T0) == "DRAWN"
    assert effective_status(replace(d, status=Status.COMPLETED), T0) == "COMPLETED"
    assert effective_status(draw(open_at=None, close_at=None), T0) == "PENDING"
    assert not is_due(d, T0 + timedelta(days=1, minutes=59))
    assert is_due(d, T0 + timedelta(days=1, hours=1))


def entry() -> DrawEntry:
    return DrawEntry.first_entry(draw=draw(), consumer_id="cons_1", fingerprint_hash="fh", now=T0)


def test_entering_leaving_and_entering_again_record_their_events() -> None:
    e = entry()
    e.leave(T0)
    with pytest.raises(NotFound, match="Consumer not in draw"):
        e.leave(T0)
    e.enter_again(None, T0 + timedelta(seconds=1))
    assert e.status is EntryStatus.ENTERED
    assert [ev.type_name for ev in e.events] == [
        "draw.consumer.entered",
        "draw.consumer.left",
        "draw.consumer.entered",
    ]
    with pytest.raises(Conflict):
        e.enter_again(None, T0)


def test_a_win_is_claimed_in_time_or_forfeited() -> None:
    e = entry()
    with pytest.raises(Conflict, match="Consumer has not won"):
        e.claim(T0)
    expires = T0 + timedelta(hours=24)
    e.win(rank=1, token_id="adm_1", token="jwt", claim_expires_at=expires, now=T0)
    assert e.shown_status(expires - timedelta(seconds=1)) is EntryStatus.WON
    assert e.shown_status(expires) is EntryStatus.LOST  # before promotion has run
    with pytest.raises(Conflict, match="Claim window has expired"):
        e.claim(expires)
    e.claim(expires - timedelta(seconds=1))
    e.claim(expires)  # claimed already: nothing changes
    assert not e.claim_expired(expires + timedelta(days=1))
    with pytest.raises(Conflict, match="Win was already claimed"):
        e.deny(DenyReason.FRAUD_DETECTED, expires)


def test_an_expired_or_denied_win_loses_its_token() -> None:
    e = entry()
    e.win(rank=2, token_id="adm_1", token="jwt", claim_expires_at=T0, now=T0)
    e.expire(T0)
    assert (e.status, e.lost_reason, e.admission_token) == (EntryStatus.LOST, "CLAIM_EXPIRED", None)
    denied = entry()
    denied.win(rank=1, token_id="adm_2", token="jwt", claim_expires_at=T0, now=T0)
    denied.events.clear()
    denied.deny(DenyReason.FRAUD_DETECTED, T0)
    denied.deny(DenyReason.FRAUD_DETECTED, T0)  # the same denial twice is one
    assert (denied.status, denied.admission_token, len(denied.events)) == (
        EntryStatus.DENIED,
        None,
        1,
    )


def test_bulk_encoded_events_are_byte_for_byte_the_real_ones() -> None:
    template = DrawConsumerLost(
        organization_id="org_1", occurred_at=T0, draw_id="draw_1", consumer_id="",
        status="LOST", reason="NOT_SELECTED",
    )  # fmt: skip
    values = ["cons_01JDQ8Z6W3K9X2M4N5P6Q7R8SC", "cons_a.b:c-d", 'needs "escaping" é\\']
    event_ids = new_ids("evt", len(values))
    rows = list(encode_variants(template, "consumer_id", values, event_ids))
    for (event_id, subject, payload), value in zip(rows, values, strict=True):
        real = encode_event(replace(template, consumer_id=value), event_id)
        assert (subject, payload) == real
        assert json.loads(payload)["data"]["consumerId"] == value
    with pytest.raises(ValueError, match="one event id per value"):
        encode_variants(template, "consumer_id", values, event_ids[:1])


def test_ids_made_in_bulk_are_consecutive_ulids_in_order_with_the_others() -> None:
    before = new_id("evt")
    batch = new_ids("evt", 70_000)  # crosses the 32,768 boundary of the suffix table
    after = new_id("evt")
    assert before < batch[0] < batch[-1] < after
    assert batch == sorted(batch)
    assert len(set(batch)) == len(batch)
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    value = 0
    for char in batch[0].removeprefix("evt_"):
        value = value * 32 + alphabet.index(char)
    for offset in (0, 1, 32_767, 32_768, 69_999):
        assert batch[offset] == f"evt_{_encode(value + offset)}"
    assert new_ids("evt", 0) == []
