"""Storage of queue entries, arrival numbers and the held-places counter of capped queues."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from fanfare_core.adapters.postgres.versioned import save_versioned
from fanfare_core.domain.queues import EntryStatus, QueueEntry

_COLUMNS = (
    "queue_id",
    "consumer_id",
    "organization_id",
    "sequence_id",
    "arrival",
    "status",
    "entered_at",
    "admitted_at",
    "expires_at",
    "completed_at",
    "left_at",
    "denied_at",
    "deny_reason",
    "admission_token_id",
    "admission_token",
    "fingerprint_hash",
    "version",
)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM queue_entries"
_UPSERT = (
    f"INSERT INTO queue_entries ({', '.join(_COLUMNS)})"
    f" VALUES ({', '.join(['%s'] * (len(_COLUMNS) - 1))}, nextval('queue_entry_version'))"
    " ON CONFLICT (queue_id, consumer_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[4:])
    + " RETURNING version"
)


def _entry(row: tuple[Any, ...]) -> QueueEntry:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["status"] = EntryStatus(values["status"])
    return QueueEntry(**values)


class QueueEntryRepository:
    """Entries of one connection; ``seen`` are those whose events must be published."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self.seen: list[QueueEntry] = []

    async def next_arrival(self) -> int:
        cur = await self._conn.execute("SELECT nextval('queue_arrival_order')")
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])

    async def get_for_update(self, queue_id: str, consumer_id: str) -> QueueEntry | None:
        cur = await self._conn.execute(
            f"{_SELECT} WHERE queue_id = %s AND consumer_id = %s FOR UPDATE",
            (queue_id, consumer_id),
        )
        row = await cur.fetchone()
        return None if row is None else _entry(row)

    async def head_of_line(self, queue_id: str) -> QueueEntry | None:
        """The first QUEUED entry by arrival, locked (skipping one another admitter holds)."""
        cur = await self._conn.execute(
            f"{_SELECT} WHERE queue_id = %s AND status = 'QUEUED' ORDER BY arrival LIMIT 1"
            " FOR UPDATE SKIP LOCKED",
            (queue_id,),
        )
        row = await cur.fetchone()
        return None if row is None else _entry(row)

    async def get(self, queue_id: str, consumer_id: str) -> QueueEntry | None:
        cur = await self._conn.execute(
            f"{_SELECT} WHERE queue_id = %s AND consumer_id = %s", (queue_id, consumer_id)
        )
        row = await cur.fetchone()
        return None if row is None else _entry(row)

    async def save(self, entry: QueueEntry) -> None:
        """Insert or update ``entry``; it takes a new version."""
        await save_versioned(self._conn, _UPSERT, _COLUMNS, entry, self.seen)  # type: ignore[arg-type]

    async def position(self, entry: QueueEntry) -> int:
        """1 + the consumers still QUEUED ahead (the slow path, when Redis cannot answer)."""
        cur = await self._conn.execute(
            "SELECT count(*) FROM queue_entries WHERE queue_id = %s AND status = 'QUEUED'"
            " AND arrival < %s",
            (entry.queue_id, entry.arrival),
        )
        row = await cur.fetchone()
        return 1 + (int(row[0]) if row else 0)

    async def completed_in_sequence(self, consumer_id: str, sequence_id: str) -> int:
        cur = await self._conn.execute(
            "SELECT count(*) FROM queue_entries WHERE consumer_id = %s AND sequence_id = %s"
            " AND status = 'COMPLETED'",
            (consumer_id, sequence_id),
        )
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def holding(self, queue_id: str, now: datetime) -> int:
        cur = await self._conn.execute(
            "SELECT count(*) FROM queue_entries WHERE queue_id = %s AND (status = 'QUEUED'"
            " OR (status = 'ADMITTED' AND (expires_at IS NULL OR expires_at > %s)))",
            (queue_id, now),
        )
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def take_place(self, queue_id: str, capacity: int, now: datetime) -> bool:
        """Count one more held place of a capped queue if one is free (locks the counter).

        The counter starts from the real count, so a cap set after people entered holds.
        """
        await self._conn.execute(
            "INSERT INTO queue_holdings (queue_id, holding)"
            " SELECT %s, count(*) FROM queue_entries WHERE queue_id = %s AND (status = 'QUEUED'"
            " OR (status = 'ADMITTED' AND (expires_at IS NULL OR expires_at > %s)))"
            " ON CONFLICT (queue_id) DO NOTHING",
            (queue_id, queue_id, now),
        )
        cur = await self._conn.execute(
            "UPDATE queue_holdings SET holding = holding + 1"
            " WHERE queue_id = %s AND holding < %s RETURNING holding",
            (queue_id, capacity),
        )
        return await cur.fetchone() is not None

    async def count_place_and_next_arrival(self, queue_id: str) -> int:
        """Count a held place of an uncapped queue (only if a cap once made a counter) and
        draw the next arrival number, in one round trip."""
        cur = await self._conn.execute(
            "WITH counted AS (UPDATE queue_holdings SET holding = holding + 1"
            " WHERE queue_id = %s RETURNING 1) SELECT nextval('queue_arrival_order')",
            (queue_id,),
        )
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])

    async def free_places(self, queue_id: str, count: int = 1) -> None:
        await self._conn.execute(
            "UPDATE queue_holdings SET holding = greatest(holding - %s, 0) WHERE queue_id = %s",
            (count, queue_id),
        )

    async def expired_admissions(self, queue_id: str, now: datetime) -> list[QueueEntry]:
        cur = await self._conn.execute(
            f"{_SELECT} WHERE queue_id = %s AND status = 'ADMITTED' AND expires_at <= %s"
            " FOR UPDATE SKIP LOCKED",
            (queue_id, now),
        )
        return [_entry(row) for row in await cur.fetchall()]

    async def all_of_queue(self, queue_id: str, batch: int = 5000) -> AsyncIterator[QueueEntry]:
        """Every entry of a queue, in arrival order (to rebuild the Redis line)."""
        async with self._conn.cursor(name=f"rebuild_{queue_id}") as cur:
            cur.itersize = batch
            await cur.execute(f"{_SELECT} WHERE queue_id = %s ORDER BY arrival", (queue_id,))
            async for row in cur:
                yield _entry(row)
