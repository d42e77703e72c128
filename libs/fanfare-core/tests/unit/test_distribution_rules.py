"""The rules of a distribution's settings and status, without any I/O."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from fanfare_core.domain.distributions import (
    Distribution,
    DistributionChanges,
    Kind,
    OrganizationDefaults,
    Status,
)
from fanfare_core.domain.errors import Conflict, ValidationFailed
from fanfare_core.domain.events import DistributionUpdated

# ruff: noqa: E501 - the table of broken rules reads best one case a line

NOW = datetime(2024, 12, 1, 10, tzinfo=UTC)
DEFAULTS = OrganizationDefaults(time_zone="America/New_York", currency_code="EUR")


def create(kind: Kind, **changes: object) -> Distribution:
    return Distribution.create(
        kind=kind,
        distribution_id=f"{kind.value}_1",
        organization_id="org_1",
        sequence_id="seq_1",
        changes=DistributionChanges(**changes),  # type: ignore[arg-type]
        defaults=DEFAULTS,
        now=NOW,
    )


def problems(kind: Kind, **changes: object) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as failure:
        create(kind, **changes)
    return {d.field: d.message for d in failure.value.details}


def test_a_queue_without_times_is_a_draft() -> None:
    queue = create(Kind.QUEUE, name="Launch")
    assert queue.status is Status.DRAFT
    assert queue.time_zone == "America/New_York"
    assert queue.encryption_seed  # generated


def test_a_queue_with_an_opening_time_is_scheduled() -> None:
    queue = create(Kind.QUEUE, open_at="2024-12-15T09:00:00", close_at="2024-12-15T18:00:00")
    assert queue.status is Status.SCHEDULED
    assert queue.open_at == datetime(2024, 12, 15, 14, tzinfo=UTC)
    assert queue.close_at == datetime(2024, 12, 15, 23, tzinfo=UTC)


def test_the_distributions_zone_wins_over_the_organizations() -> None:
    queue = create(Kind.QUEUE, time_zone="Europe/Paris", open_at="2024-12-15T09:00:00")
    assert queue.open_at == datetime(2024, 12, 15, 8, tzinfo=UTC)


def test_a_given_seed_is_kept() -> None:
    assert create(Kind.QUEUE, encryption_seed="my-seed").encryption_seed == "my-seed"


def test_draws_need_a_draw_time_and_winner_count() -> None:
    assert problems(Kind.DRAW) == {"drawAt": "is required", "winnerCount": "is required"}


def test_auctions_need_a_settle_time_and_default_to_one_unit_in_the_orgs_currency() -> None:
    assert problems(Kind.AUCTION) == {"settleAt": "is required"}
    auction = create(Kind.AUCTION, settle_at="2024-12-16T00:00:00Z")
    assert (auction.winner_count, auction.currency_code) == (1, "EUR")


@pytest.mark.parametrize(
    ("kind", "changes", "field"),
    [
        (Kind.QUEUE, {"open_at": "2024-12-15T10:00:00Z", "close_at": "2024-12-15T09:00:00Z"}, "closeAt"),
        (Kind.QUEUE, {"open_at": "2024-12-15T10:00:00Z", "close_at": "2024-12-15T10:00:00Z"}, "closeAt"),
        (
            Kind.DRAW,
            {"close_at": "2024-12-15T10:00:00Z", "draw_at": "2024-12-15T09:00:00Z", "winner_count": 1},
            "drawAt",
        ),
        (Kind.AUCTION, {"close_at": "2024-12-15T10:00:00Z", "settle_at": "2024-12-14T10:00:00Z"}, "settleAt"),
        (Kind.DRAW, {"draw_at": "2024-12-15T10:00:00Z", "winner_count": 0}, "winnerCount"),
        (Kind.DRAW, {"draw_at": "2024-12-15T10:00:00Z", "winner_count": 1, "max_entries": -5}, "maxEntries"),
        (Kind.QUEUE, {"max_capacity": 0}, "maxCapacity"),
        (Kind.QUEUE, {"admission_rate": -1}, "admissionRate"),
        (Kind.QUEUE, {"session_duration_seconds": 0}, "sessionDurationSeconds"),
        (Kind.QUEUE, {"max_capacity": 2**31}, "maxCapacity"),
        (Kind.QUEUE, {"time_zone": "Nowhere/City"}, "timeZone"),
        (Kind.QUEUE, {"open_at": "2024-03-10T02:30:00"}, "openAt"),
        (Kind.QUEUE, {"name": "   "}, "name"),
        (Kind.QUEUE, {"metadata": {"blob": "x" * 20_000}}, "metadata"),
        (Kind.QUEUE, {"winner_count": 3}, "winnerCount"),
        (Kind.AUCTION, {"settle_at": "2024-12-16T00:00:00Z", "starting_bid": Decimal(-1)}, "startingBid"),
        (Kind.AUCTION, {"settle_at": "2024-12-16T00:00:00Z", "minimum_increment": Decimal(0)}, "minimumIncrement"),
        (Kind.AUCTION, {"settle_at": "2024-12-16T00:00:00Z", "reserve_price": Decimal("1.001")}, "reservePrice"),
        (
            Kind.AUCTION,
            {"settle_at": "2024-12-16T00:00:00Z", "starting_bid": Decimal(100), "buy_now_price": Decimal(100)},
            "buyNowPrice",
        ),
        (
            Kind.AUCTION,
            {"settle_at": "2024-12-16T00:00:00Z", "reserve_price": Decimal(600), "buy_now_price": Decimal(500)},
            "reservePrice",
        ),
        (Kind.AUCTION, {"settle_at": "2024-12-16T00:00:00Z", "currency_code": "dollars"}, "currencyCode"),
    ],
)  # fmt: skip
def test_broken_rules_name_the_field(kind: Kind, changes: dict[str, object], field: str) -> None:
    assert field in problems(kind, **changes)


def test_every_problem_is_reported_at_once() -> None:
    found = problems(Kind.QUEUE, max_capacity=0, admission_rate=0, time_zone="Nowhere/City")
    assert set(found) == {"maxCapacity", "admissionRate", "timeZone"}


def test_creation_records_a_distribution_updated_event() -> None:
    queue = create(Kind.QUEUE, open_at="2024-12-15T09:00:00", max_capacity=10)
    [event] = queue.events
    assert isinstance(event, DistributionUpdated)
    assert (event.change, event.status, event.open_at) == ("created", "SCHEDULED", queue.open_at)
    assert event.changed_fields == ("openAt", "maxCapacity")


def test_an_update_changes_only_what_it_mentions() -> None:
    queue = create(Kind.QUEUE, open_at="2024-12-15T09:00:00", max_capacity=10, admission_rate=5)
    later = datetime(2024, 12, 2, tzinfo=UTC)
    queue.update(DistributionChanges(admission_rate=150, max_capacity=None), later)
    assert (queue.admission_rate, queue.max_capacity, queue.updated_at) == (150, None, later)
    assert queue.open_at == datetime(2024, 12, 15, 14, tzinfo=UTC)
    assert queue.events[-1].changed_fields == ("maxCapacity", "admissionRate")  # type: ignore[attr-defined]


def test_a_draft_becomes_scheduled_when_it_gets_an_opening_time() -> None:
    queue = create(Kind.QUEUE)
    queue.update(DistributionChanges(open_at="2024-12-15T09:00:00Z"), NOW)
    assert queue.status is Status.SCHEDULED


def test_a_rejected_update_changes_nothing() -> None:
    queue = create(Kind.QUEUE, open_at="2024-12-15T09:00:00Z", close_at="2024-12-15T10:00:00Z")
    before = (queue.close_at, queue.max_capacity, len(queue.events))
    with pytest.raises(ValidationFailed):
        queue.update(DistributionChanges(close_at="2024-12-15T08:00:00Z", max_capacity=5), NOW)
    assert (queue.close_at, queue.max_capacity, len(queue.events)) == before


@pytest.mark.parametrize("status", [Status.CLOSED, Status.COMPLETED, Status.DRAWN, Status.SETTLED])
def test_a_closed_distribution_cannot_be_updated(status: Status) -> None:
    queue = create(Kind.QUEUE)
    queue.status = status
    with pytest.raises(Conflict, match="Cannot update closed distribution"):
        queue.update(DistributionChanges(name="New"), NOW)


def test_an_open_auction_keeps_its_opening_time_and_prices() -> None:
    auction = create(Kind.AUCTION, open_at="2024-12-10T09:00:00Z", settle_at="2024-12-16T00:00:00Z")
    auction.status = Status.OPEN
    with pytest.raises(ValidationFailed) as failure:
        auction.update(
            DistributionChanges(open_at="2024-12-11T09:00:00Z", starting_bid=Decimal(5)), NOW
        )
    assert {d.field for d in failure.value.details} == {"openAt", "startingBid"}
    auction.update(DistributionChanges(close_at="2024-12-15T00:00:00Z", name="Later"), NOW)
    assert auction.name == "Later"


def test_times_cannot_be_removed_by_an_update() -> None:
    queue = create(Kind.QUEUE, open_at="2024-12-15T09:00:00Z")
    with pytest.raises(ValidationFailed) as failure:
        queue.update(DistributionChanges(open_at=None), NOW)
    assert failure.value.details[0].field == "openAt"


def test_deleting_records_a_deleted_event() -> None:
    draw = create(Kind.DRAW, draw_at="2024-12-15T09:00:00Z", winner_count=3)
    draw.delete(NOW)
    assert draw.deleted_at == NOW
    assert draw.events[-1].change == "deleted"  # type: ignore[attr-defined]


def test_a_new_currency_must_suit_the_prices_already_set() -> None:
    auction = create(Kind.AUCTION, settle_at="2024-12-16T00:00:00Z", starting_bid=Decimal("10.5"))
    with pytest.raises(ValidationFailed) as failure:
        auction.update(DistributionChanges(currency_code="JPY"), NOW)
    assert [d.field for d in failure.value.details] == ["startingBid"]
    assert auction.currency_code == "EUR"
