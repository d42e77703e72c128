"""Storage of queues, draws and auctions (one table, the kind in a column)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from fanfare_core.domain.distributions import Distribution, Kind, Status

_COLUMNS = (
    "id",
    "organization_id",
    "sequence_id",
    "kind",
    "status",
    "name",
    "time_zone",
    "open_at",
    "close_at",
    "draw_at",
    "settle_at",
    "encryption_seed",
    "metadata",
    "max_capacity",
    "admission_rate",
    "session_duration_seconds",
    "winner_count",
    "max_entries",
    "starting_bid",
    "minimum_increment",
    "reserve_price",
    "buy_now_price",
    "currency_code",
    "created_at",
    "updated_at",
    "deleted_at",
)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM distributions"
_INSERT = (
    f"INSERT INTO distributions ({', '.join(_COLUMNS)})"
    f" VALUES ({', '.join(['%s'] * len(_COLUMNS))})"
)
_UPDATE = (
    "UPDATE distributions SET " + ", ".join(f"{c} = %s" for c in _COLUMNS[3:]) + " WHERE id = %s"
)


@dataclass(frozen=True, slots=True)
class DistributionFilter:
    """What a listing asks for: one kind of one organization, newest first."""

    organization_id: str
    kind: Kind
    status: Status | None = None
    sequence_id: str | None = None
    before_id: str | None = None
    limit: int = 50


def _from_row(row: tuple[Any, ...]) -> Distribution:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["kind"] = Kind(values["kind"])
    values["status"] = Status(values["status"])
    return Distribution(**values)


def _params(d: Distribution) -> list[Any]:
    values: list[Any] = []
    for column in _COLUMNS:
        value = getattr(d, column)
        if column == "metadata" and value is not None:
            value = Jsonb(value)
        elif column in ("kind", "status"):
            value = value.value
        values.append(value)
    return values


class DistributionRepository:
    """Distributions of one connection; ``seen`` are those whose events must be published."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self.seen: list[Distribution] = []

    async def add(self, distribution: Distribution) -> None:
        await self._conn.execute(_INSERT, _params(distribution))
        self.seen.append(distribution)

    async def save(self, distribution: Distribution) -> None:
        """Write back a distribution obtained with :meth:`get_for_update`."""
        params = _params(distribution)
        await self._conn.execute(_UPDATE, [*params[3:], distribution.id])
        if distribution not in self.seen:
            self.seen.append(distribution)

    async def get(
        self, organization_id: str, kind: Kind, distribution_id: str
    ) -> Distribution | None:
        return await self._one(organization_id, kind, distribution_id, lock=False)

    async def get_for_update(
        self, organization_id: str, kind: Kind, distribution_id: str
    ) -> Distribution | None:
        """The distribution, locked until the transaction ends (changes are serialized)."""
        return await self._one(organization_id, kind, distribution_id, lock=True)

    async def _one(
        self, organization_id: str, kind: Kind, distribution_id: str, *, lock: bool
    ) -> Distribution | None:
        cur = await self._conn.execute(
            f"{_SELECT} WHERE id = %s AND organization_id = %s AND kind = %s"
            f" AND deleted_at IS NULL{' FOR UPDATE' if lock else ''}",
            (distribution_id, organization_id, kind.value),
        )
        row = await cur.fetchone()
        return None if row is None else _from_row(row)

    async def change_status(
        self, distribution_id: str, expected: Status, new: Status, at: datetime
    ) -> bool:
        """Move a distribution from ``expected`` to ``new``; False if it was not in
        ``expected`` (someone else moved it first), so each transition happens once."""
        cur = await self._conn.execute(
            "UPDATE distributions SET status = %s, updated_at = %s"
            " WHERE id = %s AND status = %s AND deleted_at IS NULL",
            (new.value, at, distribution_id, expected.value),
        )
        return cur.rowcount == 1

    async def list(self, query: DistributionFilter) -> list[Distribution]:
        cur = await self._conn.execute(
            f"{_SELECT} WHERE organization_id = %s AND kind = %s AND deleted_at IS NULL"
            " AND (%s::text IS NULL OR status = %s)"
            " AND (%s::text IS NULL OR sequence_id = %s)"
            " AND (%s::text IS NULL OR id < %s)"
            " ORDER BY id DESC LIMIT %s",
            (
                query.organization_id,
                query.kind.value,
                query.status and query.status.value,
                query.status and query.status.value,
                query.sequence_id,
                query.sequence_id,
                query.before_id,
                query.before_id,
                query.limit,
            ),
        )
        return [_from_row(row) for row in await cur.fetchall()]
