"""Storage of queue entries, arrival numbers and the held-places counter of capped queues."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from fanfare_core.adapters.postgres.json_rows import json_rows
from fanfare_core.adapters.postgres.round_trip import Answer, RoundTrip
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
# The types of the columns _UPSERT_MANY reads from its JSON rows (all but version).
_TYPES = dict.fromkeys(_COLUMNS[:-1], "text") | {
    "arrival": "bigint",
    **dict.fromkeys(
        ("entered_at", "admitted_at", "expires_at", "completed_at", "left_at", "denied_at"),
        "timestamptz",
    ),
}
# The entries travel as one JSON array of rows (see json_rows).
_UPSERT_MANY = (
    f"INSERT INTO queue_entries ({', '.join(_COLUMNS)}) SELECT "
    + ", ".join(f"(row->>{i})::{_TYPES[c]}" for i, c in enumerate(_COLUMNS[:-1]))
    + ", nextval('queue_entry_version') FROM json_array_elements(%s::json) AS row"
    " ON CONFLICT (queue_id, consumer_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[4:])
    + " RETURNING consumer_id, version"
)

_LOCK_MANY = (
    f"{_SELECT} WHERE queue_id = %s AND consumer_id = ANY(%s) ORDER BY consumer_id FOR UPDATE"
)
_NEXT_ARRIVALS = "SELECT nextval('queue_arrival_order') FROM generate_series(1, %s)"


@dataclass(frozen=True, slots=True)
class SentEntries:
    """An upsert of entries sent by :meth:`QueueEntryRepository.send_many`."""

    answer: Answer | None
    entries: Sequence[QueueEntry]


@dataclass(frozen=True, slots=True)
class SentLocks:
    """The statements of :meth:`QueueEntryRepository.send_locks_and_draw`."""

    locked: Answer
    drawn: Answer | None


def _entry(row: tuple[Any, ...]) -> QueueEntry:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["status"] = EntryStatus(values["status"])
    return QueueEntry(**values)


class QueueEntryRepository:
    """Entries of one connection; ``seen`` are those whose events must be published."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self.seen: list[QueueEntry] = []

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

    @staticmethod
    def send_locks_and_draw(
        trip: RoundTrip, queue_id: str, consumer_ids: Sequence[str], arrivals: int
    ) -> SentLocks:
        """Lock the entries of these consumers that exist, in one order (consumer id) so
        that batches of other processes cannot deadlock with this one, and draw
        ``arrivals`` new arrival numbers: queued in ``trip`` (a unit of work's first, with
        its ``BEGIN``); :meth:`take_locks` reads them once it has run."""
        locked = trip.send(_LOCK_MANY, (queue_id, list(consumer_ids)))
        drawn = trip.send(_NEXT_ARRIVALS, (arrivals,)) if arrivals else None
        return SentLocks(locked, drawn)

    @staticmethod
    def take_locks(sent: SentLocks) -> tuple[dict[str, QueueEntry], list[int]]:
        """The locked entries by consumer, and the arrival numbers drawn (ascending)."""
        found = {entry.consumer_id: entry for entry in map(_entry, sent.locked.rows)}
        if sent.drawn is None:
            return found, []
        return found, sorted(int(row[0]) for row in sent.drawn.rows)

    def send_many(self, trip: RoundTrip, entries: Sequence[QueueEntry]) -> SentEntries:
        """Insert or update the entries of different consumers in one statement, queued
        in ``trip`` (with the commit that follows). The entries' events are to publish from
        now on; :meth:`take_versions` gives them their new versions once it has run."""
        if not entries:
            return SentEntries(None, entries)
        columns = _COLUMNS[:-1]
        rows = [[getattr(entry, column) for column in columns] for entry in entries]
        answer = trip.send(_UPSERT_MANY, (json_rows(rows),))
        for entry in entries:
            if not any(e is entry for e in self.seen):
                self.seen.append(entry)
        return SentEntries(answer, entries)

    @staticmethod
    def take_versions(sent: SentEntries) -> None:
        if sent.answer is None:
            return
        by_consumer = {entry.consumer_id: entry for entry in sent.entries}
        for consumer_id, version in sent.answer.rows:
            by_consumer[str(consumer_id)].version = int(version)

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

    async def completed_in_sequence_of(
        self, consumer_ids: Sequence[str], sequence_id: str
    ) -> dict[str, int]:
        """Completed purchases in the sequence of each of these consumers who has any."""
        cur = await self._conn.execute(
            "SELECT consumer_id, count(*) FROM queue_entries WHERE consumer_id = ANY(%s)"
            " AND sequence_id = %s AND status = 'COMPLETED' GROUP BY consumer_id",
            (list(consumer_ids), sequence_id),
        )
        return {str(consumer_id): int(count) for consumer_id, count in await cur.fetchall()}

    async def holding(self, queue_id: str, now: datetime) -> int:
        cur = await self._conn.execute(
            "SELECT count(*) FROM queue_entries WHERE queue_id = %s AND (status = 'QUEUED'"
            " OR (status = 'ADMITTED' AND (expires_at IS NULL OR expires_at > %s)))",
            (queue_id, now),
        )
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def take_places(self, queue_id: str, capacity: int, count: int, now: datetime) -> int:
        """Count up to ``count`` more held places of a capped queue, as many as are free;
        returns how many. Locks the counter until the transaction ends.

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
            "SELECT holding FROM queue_holdings WHERE queue_id = %s FOR UPDATE", (queue_id,)
        )
        row = await cur.fetchone()
        assert row is not None
        taken = max(0, min(count, capacity - int(row[0])))
        if taken:
            await self._conn.execute(
                "UPDATE queue_holdings SET holding = holding + %s WHERE queue_id = %s",
                (taken, queue_id),
            )
        return taken

    async def next_arrivals(self, count: int) -> list[int]:
        """``count`` new arrival numbers, ascending."""
        cur = await self._conn.execute(_NEXT_ARRIVALS, (count,))
        return sorted(int(row[0]) for row in await cur.fetchall())

    @staticmethod
    def send_add_places(trip: RoundTrip, queue_id: str, count: int) -> None:
        """Count ``count`` more held places of an uncapped queue (only if a cap once made a
        counter: the counter then stays right should a cap be set again), in ``trip``."""
        trip.send(
            "UPDATE queue_holdings SET holding = holding + %s WHERE queue_id = %s",
            (count, queue_id),
        )

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
