"""Distributions: queues, draws and auctions, and the rules of their settings and status.

One aggregate serves the three kinds; the kind decides which settings apply and which
statuses exist. Requests are described by a :class:`DistributionChanges`; every rule is
checked before anything changes, and all problems are reported at once.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Any, TypeAlias, TypeVar

from fanfare_core.domain.errors import Conflict, ErrorCollector
from fanfare_core.domain.events import DistributionUpdated, Event
from fanfare_core.domain.money import InvalidAmount, is_currency_code, to_amount
from fanfare_core.domain.timing import InvalidTime, has_offset, parse_instant, zone

MAX_INT = 2_147_483_647
MAX_NAME_LENGTH = 200
MAX_SEED_LENGTH = 200
MAX_METADATA_BYTES = 16_384


class Kind(StrEnum):
    """The three kinds of distribution. The value is also the id prefix."""

    QUEUE = "queue"
    DRAW = "draw"
    AUCTION = "auction"

    @property
    def label(self) -> str:
        """The capitalised name used in messages: ``Queue not found``."""
        return self.value.capitalize()

    @property
    def not_found(self) -> str:
        return f"{self.label} not found"


class Status(StrEnum):
    """Every status a distribution can have; :data:`LIFECYCLES` says which apply to a kind."""

    DRAFT = "DRAFT"
    SCHEDULED = "SCHEDULED"
    OPEN = "OPEN"
    CLOSED = "CLOSED"
    COMPLETED = "COMPLETED"
    DRAWN = "DRAWN"
    SETTLED = "SETTLED"


LIFECYCLES: dict[Kind, tuple[Status, ...]] = {
    Kind.QUEUE: (Status.DRAFT, Status.SCHEDULED, Status.OPEN, Status.CLOSED, Status.COMPLETED),
    Kind.DRAW: (
        Status.DRAFT,
        Status.SCHEDULED,
        Status.OPEN,
        Status.CLOSED,
        Status.DRAWN,
        Status.COMPLETED,
    ),
    Kind.AUCTION: (Status.DRAFT, Status.SCHEDULED, Status.OPEN, Status.CLOSED, Status.SETTLED),
}

#: Once a distribution reaches one of these, its settings are frozen.
CLOSED_STATUSES = frozenset({Status.CLOSED, Status.COMPLETED, Status.DRAWN, Status.SETTLED})


class NotGiven(Enum):
    """Marks a field the request did not mention (as opposed to ``null``)."""

    NOT_GIVEN = "NOT_GIVEN"


NOT_GIVEN = NotGiven.NOT_GIVEN
T = TypeVar("T")
Maybe: TypeAlias = T | NotGiven


@dataclass(frozen=True, slots=True, kw_only=True)
class DistributionChanges:
    """The settings a create or update request mentions, in API terms (times as text)."""

    name: Maybe[str | None] = NOT_GIVEN
    time_zone: Maybe[str] = NOT_GIVEN
    open_at: Maybe[str | None] = NOT_GIVEN
    close_at: Maybe[str | None] = NOT_GIVEN
    draw_at: Maybe[str | None] = NOT_GIVEN
    settle_at: Maybe[str | None] = NOT_GIVEN
    encryption_seed: Maybe[str] = NOT_GIVEN
    metadata: Maybe[dict[str, Any] | None] = NOT_GIVEN
    max_capacity: Maybe[int | None] = NOT_GIVEN
    admission_rate: Maybe[int | None] = NOT_GIVEN
    session_duration_seconds: Maybe[int | None] = NOT_GIVEN
    winner_count: Maybe[int | None] = NOT_GIVEN
    max_entries: Maybe[int | None] = NOT_GIVEN
    starting_bid: Maybe[Decimal | None] = NOT_GIVEN
    minimum_increment: Maybe[Decimal | None] = NOT_GIVEN
    reserve_price: Maybe[Decimal | None] = NOT_GIVEN
    buy_now_price: Maybe[Decimal | None] = NOT_GIVEN
    currency_code: Maybe[str] = NOT_GIVEN

    def given(self) -> dict[str, object]:
        """The mentioned fields by attribute name."""
        return {
            name: getattr(self, name)
            for name in self.__dataclass_fields__
            if getattr(self, name) is not NOT_GIVEN
        }


# The API name of each setting, for messages and events.
API_NAMES = {
    "name": "name",
    "time_zone": "timeZone",
    "open_at": "openAt",
    "close_at": "closeAt",
    "draw_at": "drawAt",
    "settle_at": "settleAt",
    "encryption_seed": "encryptionSeed",
    "metadata": "metadata",
    "max_capacity": "maxCapacity",
    "admission_rate": "admissionRate",
    "session_duration_seconds": "sessionDurationSeconds",
    "winner_count": "winnerCount",
    "max_entries": "maxEntries",
    "starting_bid": "startingBid",
    "minimum_increment": "minimumIncrement",
    "reserve_price": "reservePrice",
    "buy_now_price": "buyNowPrice",
    "currency_code": "currencyCode",
}

TIME_FIELDS = ("open_at", "close_at", "draw_at", "settle_at")
AMOUNTS = ("starting_bid", "minimum_increment", "reserve_price", "buy_now_price")
# What an auction's bidders rely on: its prices, units for sale and currency.
AUCTION_TERMS = frozenset({*AMOUNTS, "winner_count", "currency_code"})
KIND_FIELDS: dict[Kind, frozenset[str]] = {
    Kind.QUEUE: frozenset({"max_capacity", "admission_rate", "session_duration_seconds"}),
    Kind.DRAW: frozenset({"draw_at", "winner_count", "max_entries"}),
    Kind.AUCTION: AUCTION_TERMS | {"settle_at"},
}
REQUIRED_AT_CREATION: dict[Kind, tuple[str, ...]] = {
    Kind.QUEUE: (),
    Kind.DRAW: ("draw_at", "winner_count"),
    Kind.AUCTION: ("settle_at",),
}
# Settings that bidders or entrants rely on once participation has started.
FROZEN_WHEN_OPEN: dict[Kind, frozenset[str]] = {
    Kind.QUEUE: frozenset({"open_at"}),
    Kind.DRAW: frozenset({"open_at"}),
    Kind.AUCTION: AUCTION_TERMS | {"open_at"},
}
POSITIVE_INTS = ("max_capacity", "admission_rate", "session_duration_seconds", "max_entries")


@dataclass(frozen=True, slots=True)
class OrganizationDefaults:
    """What a distribution inherits from its organization when the request is silent."""

    time_zone: str
    currency_code: str


@dataclass(slots=True, kw_only=True)
class Distribution:
    """A queue, draw or auction: its settings, its status, and the events it has recorded."""

    id: str
    organization_id: str
    sequence_id: str
    kind: Kind
    status: Status
    name: str | None
    time_zone: str
    open_at: datetime | None
    close_at: datetime | None
    draw_at: datetime | None
    settle_at: datetime | None
    encryption_seed: str
    metadata: dict[str, Any] | None
    max_capacity: int | None
    admission_rate: int | None
    session_duration_seconds: int | None
    winner_count: int | None
    max_entries: int | None
    starting_bid: Decimal | None
    minimum_increment: Decimal | None
    reserve_price: Decimal | None
    buy_now_price: Decimal | None
    currency_code: str | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None
    events: list[Event] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def create(
        cls,
        *,
        kind: Kind,
        distribution_id: str,
        organization_id: str,
        sequence_id: str,
        changes: DistributionChanges,
        defaults: OrganizationDefaults,
        now: datetime,
    ) -> Distribution:
        """A new distribution, DRAFT without an opening time and SCHEDULED with one.

        Raises :class:`ValidationFailed` listing every broken rule.
        """
        errors = ErrorCollector()
        given = _applicable(kind, changes, errors)
        for name in REQUIRED_AT_CREATION[kind]:
            if given.get(name) is None:
                errors.add(API_NAMES[name], "is required")
        blank = cls(
            id=distribution_id,
            organization_id=organization_id,
            sequence_id=sequence_id,
            kind=kind,
            status=Status.DRAFT,
            name=None,
            time_zone=defaults.time_zone,
            open_at=None,
            close_at=None,
            draw_at=None,
            settle_at=None,
            encryption_seed=str(uuid.uuid4()),
            metadata=None,
            max_capacity=None,
            admission_rate=None,
            session_duration_seconds=None,
            winner_count=1 if kind is Kind.AUCTION else None,
            max_entries=None,
            starting_bid=None,
            minimum_increment=None,
            reserve_price=None,
            buy_now_price=None,
            currency_code=defaults.currency_code if kind is Kind.AUCTION else None,
            created_at=now,
            updated_at=now,
        )
        created = blank._with_changes(given, errors)
        errors.raise_if_any()
        created.status = Status.SCHEDULED if created.open_at is not None else Status.DRAFT
        created._record("created", tuple(API_NAMES[name] for name in given), now)
        return created

    def update(self, changes: DistributionChanges, now: datetime) -> None:
        """Apply the mentioned settings, or raise without changing anything.

        A closed distribution refuses every change (:class:`Conflict`); an open one refuses
        changes to what participants already rely on (its opening time, an auction's prices).
        """
        if self.status in CLOSED_STATUSES:
            raise Conflict("Cannot update closed distribution")
        errors = ErrorCollector()
        given = _applicable(self.kind, changes, errors)
        if "encryption_seed" in given:
            errors.add("encryptionSeed", "cannot be changed")
        for name in ("open_at", "close_at", "draw_at", "settle_at", "time_zone", "winner_count"):
            if name in given and given[name] is None:
                errors.add(API_NAMES[name], "cannot be null")
        if self.status is Status.OPEN:
            for name in FROZEN_WHEN_OPEN[self.kind] & given.keys():
                errors.add(API_NAMES[name], "cannot change once the distribution is open")
        updated = self._with_changes(given, errors)
        errors.raise_if_any()
        changed = tuple(
            API_NAMES[name] for name in given if getattr(updated, name) != getattr(self, name)
        )
        for name in given:
            setattr(self, name, getattr(updated, name))
        if self.status is Status.DRAFT and self.open_at is not None:
            self.status = Status.SCHEDULED
        self.updated_at = now
        self._record("updated", changed, now)

    def delete(self, now: datetime) -> None:
        """Remove the distribution; the scheduler drops its timers."""
        self.deleted_at = now
        self.updated_at = now
        self._record("deleted", (), now)

    def _with_changes(self, given: dict[str, object], errors: ErrorCollector) -> Distribution:
        """A copy with ``given`` applied, after checking every rule into ``errors``."""
        values = _times(given, str(given.get("time_zone", self.time_zone)), errors)
        values |= _settings(given, self.currency_code or "USD", errors)
        candidate = replace(self, events=[], **values)  # type: ignore[arg-type]
        _check_schedule(candidate, errors)
        _check_prices(candidate, errors)
        return candidate

    def _record(self, change: str, changed_fields: tuple[str, ...], now: datetime) -> None:
        self.events.append(
            DistributionUpdated(
                organization_id=self.organization_id,
                occurred_at=now,
                distribution_id=self.id,
                kind=self.kind.value,
                status=self.status.value,
                change=change,
                changed_fields=changed_fields,
                open_at=self.open_at,
                close_at=self.close_at,
                draw_at=self.draw_at,
                settle_at=self.settle_at,
            )
        )


def parse_status(kind: Kind, text: str) -> Status:
    """The status named ``text`` if the kind has it, else :class:`ValueError`."""
    try:
        status = Status(text)
    except ValueError:
        status = None
    if status is None or status not in LIFECYCLES[kind]:
        allowed = ", ".join(s.value for s in LIFECYCLES[kind])
        raise ValueError(f"must be one of {allowed}")
    return status


def _applicable(
    kind: Kind, changes: DistributionChanges, errors: ErrorCollector
) -> dict[str, object]:
    """The mentioned settings that apply to ``kind``; the others are recorded as errors."""
    others = set().union(*(KIND_FIELDS[k] for k in Kind if k is not kind)) - KIND_FIELDS[kind]
    given = changes.given()
    for name in sorted(others & given.keys()):
        errors.add(API_NAMES[name], f"does not apply to a {kind.value}")
        del given[name]
    return given


def _times(given: dict[str, object], tz_name: str, errors: ErrorCollector) -> dict[str, object]:
    """The time zone and the mentioned instants, naive ones read in that time zone.

    With an unknown zone, instants that carry their own offset are still checked, so one
    response can list every problem.
    """
    values: dict[str, object] = {}
    local_zone = None
    try:
        local_zone = zone(tz_name)
        values["time_zone"] = local_zone.key
    except InvalidTime as error:
        errors.add("timeZone", str(error))
    for name in TIME_FIELDS:
        if name not in given:
            continue
        text = given[name]
        if text is None:
            values[name] = None
            continue
        if local_zone is None and not has_offset(str(text)):
            continue
        try:
            values[name] = parse_instant(str(text), local_zone or zone("UTC"))
        except InvalidTime as error:
            errors.add(API_NAMES[name], str(error))
    return values


def _settings(
    given: dict[str, object], current_currency: str, errors: ErrorCollector
) -> dict[str, object]:
    """The mentioned settings other than times, each checked."""
    values: dict[str, object] = {}
    for name in POSITIVE_INTS:
        if name in given:
            values[name] = _positive_int(name, given[name], errors, nullable=True)
    if "winner_count" in given:
        values["winner_count"] = _positive_int(
            "winner_count", given["winner_count"], errors, nullable=False
        )
    if "name" in given:
        values["name"] = _name(given["name"], errors)
    if "encryption_seed" in given:
        values["encryption_seed"] = _seed(given["encryption_seed"], errors)
    if "metadata" in given:
        values["metadata"] = _metadata(given["metadata"], errors)
    currency = str(given.get("currency_code", current_currency))
    if "currency_code" in given:
        if is_currency_code(currency):
            values["currency_code"] = currency
        else:
            errors.add("currencyCode", "must be an ISO 4217 code such as USD")
    for name in AMOUNTS:
        if name in given:
            values[name] = _amount(name, given[name], currency, errors)
    return values


def _positive_int(
    name: str, value: object, errors: ErrorCollector, *, nullable: bool
) -> int | None:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(API_NAMES[name], "must be a whole number")
        return None
    if value < 1:
        errors.add(API_NAMES[name], "must be a positive number")
    elif value > MAX_INT:
        errors.add(API_NAMES[name], f"must be at most {MAX_INT}")
    return value


def _name(value: object, errors: ErrorCollector) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        errors.add("name", "must be a non-empty string")
        return None
    if len(value) > MAX_NAME_LENGTH:
        errors.add("name", f"must be at most {MAX_NAME_LENGTH} characters")
    return value


def _seed(value: object, errors: ErrorCollector) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_SEED_LENGTH:
        errors.add("encryptionSeed", f"must be a string of 1 to {MAX_SEED_LENGTH} characters")
        return ""
    return value


def _metadata(value: object, errors: ErrorCollector) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        errors.add("metadata", "must be an object")
        return None
    if len(json.dumps(value, separators=(",", ":"))) > MAX_METADATA_BYTES:
        errors.add("metadata", f"must be at most {MAX_METADATA_BYTES} bytes of JSON")
    return value


def _amount(name: str, value: object, currency: str, errors: ErrorCollector) -> Decimal | None:
    if value is None:
        return None
    try:
        return to_amount(value, currency)
    except InvalidAmount as error:
        errors.add(API_NAMES[name], str(error))
        return None


def _check_schedule(d: Distribution, errors: ErrorCollector) -> None:
    if d.open_at and d.close_at and d.close_at <= d.open_at:
        errors.add("closeAt", "must be after openAt")
    for name in ("draw_at", "settle_at"):
        instant: datetime | None = getattr(d, name)
        if instant is None:
            continue
        if d.close_at and instant < d.close_at:
            errors.add(API_NAMES[name], "must not be before closeAt")
        elif d.open_at and instant <= d.open_at:
            errors.add(API_NAMES[name], "must be after openAt")


def _check_prices(d: Distribution, errors: ErrorCollector) -> None:
    if d.currency_code is not None:
        # A new currency must suit the prices already set, not only those sent with it.
        for name in AMOUNTS:
            amount: Decimal | None = getattr(d, name)
            if amount is None:
                continue
            try:
                to_amount(amount, d.currency_code)
            except InvalidAmount as error:
                errors.add(API_NAMES[name], str(error))
    if d.minimum_increment is not None and d.minimum_increment == 0:
        errors.add("minimumIncrement", "must be greater than zero")
    if d.buy_now_price is not None:
        if d.starting_bid is not None and d.buy_now_price <= d.starting_bid:
            errors.add("buyNowPrice", "must be greater than startingBid")
        if d.reserve_price is not None and d.reserve_price > d.buy_now_price:
            errors.add("reservePrice", "must not exceed buyNowPrice")
