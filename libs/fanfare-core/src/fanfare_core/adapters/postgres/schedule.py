"""The scheduler's queries: transitions that are due, and when the next one will be.

Every transition is one conditional UPDATE (``WHERE status = <previous>``), so running it
twice, or from two replicas, moves each distribution once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg import AsyncConnection

# When participation ends: closeAt, else drawAt for draws and settleAt for auctions;
# a queue without closeAt stays open until an admin closes it.
_CLOSES = "coalesce(close_at, CASE kind WHEN 'draw' THEN draw_at WHEN 'auction' THEN settle_at END)"
_SETTLES = "CASE kind WHEN 'draw' THEN draw_at WHEN 'auction' THEN settle_at END"


@dataclass(frozen=True, slots=True)
class Moved:
    distribution_id: str
    organization_id: str
    kind: str
    previous: str
    status: str


async def open_due(conn: AsyncConnection, now: datetime) -> list[Moved]:
    cur = await conn.execute(
        "UPDATE distributions SET status = 'OPEN', updated_at = %s WHERE deleted_at IS NULL"
        " AND status = 'SCHEDULED' AND open_at <= %s"
        " RETURNING id, organization_id, kind, 'SCHEDULED', 'OPEN'",
        (now, now),
    )
    return [Moved(*row) for row in await cur.fetchall()]


async def close_due(conn: AsyncConnection, now: datetime) -> list[Moved]:
    cur = await conn.execute(
        f"UPDATE distributions SET status = 'CLOSED', updated_at = %s WHERE deleted_at IS NULL"
        f" AND status = 'OPEN' AND {_CLOSES} <= %s"
        " RETURNING id, organization_id, kind, 'OPEN', 'CLOSED'",
        (now, now),
    )
    return [Moved(*row) for row in await cur.fetchall()]


async def complete_drained_queues(conn: AsyncConnection, now: datetime) -> list[Moved]:
    """Closed queues in which nobody is queued or holds a live admission."""
    cur = await conn.execute(
        "UPDATE distributions d SET status = 'COMPLETED', updated_at = %s"
        " WHERE d.deleted_at IS NULL AND d.kind = 'queue' AND d.status = 'CLOSED'"
        " AND NOT EXISTS (SELECT 1 FROM queue_entries e WHERE e.queue_id = d.id"
        "   AND (e.status = 'QUEUED' OR (e.status = 'ADMITTED' AND e.expires_at > %s)))"
        " RETURNING id, organization_id, kind, 'CLOSED', 'COMPLETED'",
        (now, now),
    )
    return [Moved(*row) for row in await cur.fetchall()]


@dataclass(frozen=True, slots=True)
class Due:
    distribution_id: str
    organization_id: str
    kind: str


async def request_due_settlements(conn: AsyncConnection, now: datetime) -> list[Due]:
    """Closed draws and auctions whose drawAt/settleAt has come, each requested once."""
    cur = await conn.execute(
        f"WITH due AS (SELECT id, organization_id, kind FROM distributions"
        f"   WHERE deleted_at IS NULL AND status = 'CLOSED' AND kind IN ('draw', 'auction')"
        f"   AND {_SETTLES} <= %s),"
        " asked AS (INSERT INTO settlement_requests (distribution_id, requested_at, reason)"
        "   SELECT id, %s, 'DUE' FROM due ON CONFLICT DO NOTHING RETURNING distribution_id)"
        " SELECT due.id, due.organization_id, due.kind FROM due"
        " JOIN asked ON asked.distribution_id = due.id",
        (now, now),
    )
    return [Due(*row) for row in await cur.fetchall()]


async def claim_settlement(
    conn: AsyncConnection, distribution_id: str, now: datetime, reason: str
) -> bool:
    """Mark settlement as requested (True the first time only)."""
    cur = await conn.execute(
        "INSERT INTO settlement_requests (distribution_id, requested_at, reason)"
        " VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
        (distribution_id, now, reason),
    )
    return cur.rowcount == 1


async def next_instant(conn: AsyncConnection) -> datetime | None:
    """The earliest instant at which some transition or request will be due."""
    cur = await conn.execute(
        f"SELECT min(t) FROM ("
        f" SELECT min(open_at) AS t FROM distributions"
        f"   WHERE deleted_at IS NULL AND status = 'SCHEDULED'"
        f" UNION ALL SELECT min({_CLOSES}) FROM distributions"
        f"   WHERE deleted_at IS NULL AND status = 'OPEN'"
        f" UNION ALL SELECT min({_SETTLES}) FROM distributions d"
        f"   WHERE deleted_at IS NULL AND status = 'CLOSED' AND kind IN ('draw', 'auction')"
        f"   AND NOT EXISTS (SELECT 1 FROM settlement_requests s WHERE s.distribution_id = d.id)"
        f") instants"
    )
    row = await cur.fetchone()
    return None if row is None else row[0]


async def pacing_candidates(conn: AsyncConnection) -> list[tuple[str, str, int]]:
    """Open queues with an admission rate and someone waiting: (id, organization, rate)."""
    cur = await conn.execute(
        "SELECT d.id, d.organization_id, d.admission_rate FROM distributions d"
        " WHERE d.deleted_at IS NULL AND d.kind = 'queue' AND d.status = 'OPEN'"
        " AND d.admission_rate IS NOT NULL AND EXISTS (SELECT 1 FROM queue_entries e"
        "   WHERE e.queue_id = d.id AND e.status = 'QUEUED')"
    )
    return [(str(a), str(b), int(c)) for a, b, c in await cur.fetchall()]


async def queues_with_expired_admissions(conn: AsyncConnection, now: datetime) -> list[str]:
    cur = await conn.execute(
        "SELECT DISTINCT queue_id FROM queue_entries"
        " WHERE status = 'ADMITTED' AND expires_at <= %s",
        (now,),
    )
    return [str(row[0]) for row in await cur.fetchall()]


async def draws_to_promote(conn: AsyncConnection, now: datetime) -> list[tuple[str, str]]:
    """Drawn draws with a win whose claim window ran out unclaimed, or with no win left
    open (so they can complete): ``(organization, draw)`` pairs."""
    cur = await conn.execute(
        "SELECT d.organization_id, d.id FROM distributions d"
        " WHERE d.kind = 'draw' AND d.status = 'DRAWN' AND d.deleted_at IS NULL"
        " AND EXISTS (SELECT 1 FROM draw_results r WHERE r.draw_id = d.id) AND ("
        "   EXISTS (SELECT 1 FROM draw_entries e WHERE e.draw_id = d.id AND e.status = 'WON'"
        "     AND e.claimed_at IS NULL AND e.claim_expires_at <= %s)"
        "   OR NOT EXISTS (SELECT 1 FROM draw_entries e WHERE e.draw_id = d.id"
        "     AND e.status = 'WON' AND e.claimed_at IS NULL AND e.claim_expires_at > %s))",
        (now, now),
    )
    return [(str(a), str(b)) for a, b in await cur.fetchall()]


async def draws_with_losers_to_record(conn: AsyncConnection) -> list[tuple[str, str]]:
    """Drawn draws whose loser pass has not finished (cut short by a failure, or still
    running elsewhere): ``(organization, draw)`` pairs."""
    cur = await conn.execute(
        "SELECT organization_id, draw_id FROM draw_results WHERE losers_recorded_at IS NULL"
    )
    return [(str(a), str(b)) for a, b in await cur.fetchall()]
