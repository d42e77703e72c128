"""Storage of draws: secrets and commitments, entries, the entry cap, results, and the bulk
writes of running a draw over a million entries."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from fanfare_core.adapters.postgres.versioned import save_versioned
from fanfare_core.domain.draws import DrawEntry, DrawResult, EntryStatus, LostReason

_COLUMNS = (
    "draw_id",
    "consumer_id",
    "organization_id",
    "status",
    "entered_at",
    "left_at",
    "denied_at",
    "deny_reason",
    "won_at",
    "claim_expires_at",
    "claimed_at",
    "lost_reason",
    "admission_token_id",
    "admission_token",
    "fingerprint_hash",
    "rank",
    "in_draw",
    "version",
)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM draw_entries"
_UPSERT = (
    f"INSERT INTO draw_entries ({', '.join(_COLUMNS)})"
    f" VALUES ({', '.join(['%s'] * (len(_COLUMNS) - 1))}, nextval('draw_entry_version'))"
    " ON CONFLICT (draw_id, consumer_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[3:])
    + " RETURNING version"
)
_RESULT_COLUMNS = (
    "draw_id",
    "organization_id",
    "algorithm",
    "seed",
    "commitment",
    "entries_digest",
    "entry_count",
    "winner_count",
    "winners",
    "backups",
    "backups_used",
    "claim_seconds",
    "drawn_at",
    "completed_at",
)
_SELECT_RESULT = f"SELECT {', '.join(_RESULT_COLUMNS)} FROM draw_results"
# One version for every row a bulk statement changes (an InitPlan, evaluated once).
_ONE_VERSION = "(SELECT nextval('draw_entry_version'))"


def _entry(row: tuple[Any, ...]) -> DrawEntry:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["status"] = EntryStatus(values["status"])
    return DrawEntry(**values)


def _result(row: tuple[Any, ...]) -> DrawResult:
    values = dict(zip(_RESULT_COLUMNS, row, strict=True))
    values["seed"] = bytes(values["seed"])
    values["winners"] = tuple(values["winners"])
    values["backups"] = tuple(values["backups"])
    return DrawResult(**values)


@dataclass(frozen=True, slots=True)
class Win:
    """A winner as the draw records it: place in the order and admission token."""

    consumer_id: str
    rank: int
    token_id: str
    token: str


@dataclass(frozen=True, slots=True)
class WinTally:
    """Wins claimed, wins not claimed yet (in time or not), and wins whose claim expired."""

    claimed: int
    unclaimed: int
    expired: int


class DrawEntryRepository:
    """Draw storage of one connection; ``seen`` are entries whose events must be published."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self.seen: list[DrawEntry] = []

    # -- the draw lock -------------------------------------------------------------------

    async def hold_entries_open(self, draw_id: str) -> bool:
        """Take the draw's lock in shared mode (entering, leaving and denying do) and tell
        whether the draw has already run. Running the draw takes the lock exclusively, so
        no entry can change between reading the entries and recording the result."""
        await self._conn.execute(
            "SELECT pg_advisory_xact_lock_shared(hashtextextended(%s, 0))", (draw_id,)
        )
        # A new statement, so a new snapshot: it sees a draw that committed while we waited.
        cur = await self._conn.execute("SELECT 1 FROM draw_results WHERE draw_id = %s", (draw_id,))
        return await cur.fetchone() is not None

    async def lock_for_drawing(self, draw_id: str) -> None:
        """Wait for entries being written to commit, and keep new ones out until we do."""
        await self._conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (draw_id,)
        )

    # -- secret and commitment -----------------------------------------------------------

    async def ensure_secret(
        self, draw_id: str, seed: bytes, commitment: str, now: datetime
    ) -> tuple[bytes, str]:
        """The draw's seed and commitment, storing the ones given if it has none yet."""
        await self._conn.execute(
            "INSERT INTO draw_secrets (draw_id, seed, commitment, created_at)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (draw_id) DO NOTHING",
            (draw_id, seed, commitment, now),
        )
        cur = await self._conn.execute(
            "SELECT seed, commitment FROM draw_secrets WHERE draw_id = %s", (draw_id,)
        )
        row = await cur.fetchone()
        assert row is not None
        return bytes(row[0]), str(row[1])

    # -- entries -------------------------------------------------------------------------

    async def get(self, draw_id: str, consumer_id: str) -> DrawEntry | None:
        cur = await self._conn.execute(
            f"{_SELECT} WHERE draw_id = %s AND consumer_id = %s", (draw_id, consumer_id)
        )
        row = await cur.fetchone()
        return None if row is None else _entry(row)

    async def get_for_update(self, draw_id: str, consumer_id: str) -> DrawEntry | None:
        cur = await self._conn.execute(
            f"{_SELECT} WHERE draw_id = %s AND consumer_id = %s FOR UPDATE",
            (draw_id, consumer_id),
        )
        row = await cur.fetchone()
        return None if row is None else _entry(row)

    async def save(self, entry: DrawEntry) -> None:
        """Insert or update ``entry``; it takes a new version."""
        await save_versioned(self._conn, _UPSERT, _COLUMNS, entry, self.seen)  # type: ignore[arg-type]

    async def count_entered(self, draw_id: str) -> int:
        cur = await self._conn.execute(
            "SELECT count(*) FROM draw_entries WHERE draw_id = %s AND status = 'ENTERED'",
            (draw_id,),
        )
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def take_place(self, draw_id: str, max_entries: int) -> bool:
        """Count one more entry of a capped draw if there is room (locks the counter, which
        starts from the real count, so a cap set after people entered holds too)."""
        await self._conn.execute(
            "INSERT INTO draw_entry_counts (draw_id, entered)"
            " SELECT %s, count(*) FROM draw_entries WHERE draw_id = %s AND status = 'ENTERED'"
            " ON CONFLICT (draw_id) DO NOTHING",
            (draw_id, draw_id),
        )
        cur = await self._conn.execute(
            "UPDATE draw_entry_counts SET entered = entered + 1"
            " WHERE draw_id = %s AND entered < %s RETURNING entered",
            (draw_id, max_entries),
        )
        return await cur.fetchone() is not None

    async def free_place(self, draw_id: str) -> None:
        """An entry of a capped draw left or was denied (a no-op for uncapped draws)."""
        await self._conn.execute(
            "UPDATE draw_entry_counts SET entered = greatest(entered - 1, 0) WHERE draw_id = %s",
            (draw_id,),
        )

    # -- running the draw ----------------------------------------------------------------

    async def entered_in_canonical_order(self, draw_id: str) -> list[str]:
        """The consumer ids of every ENTERED entry in bytewise order, read with one COPY.

        Sorted here rather than by PostgreSQL: a sequential read and a sort of a million
        short strings in Python take half the time of reading them in index order.
        Python orders text by code point, which is UTF-8 byte order.
        """
        data = bytearray()
        async with self._conn.cursor() as cur:
            async with cur.copy(
                "COPY (SELECT consumer_id FROM draw_entries WHERE draw_id = %s"
                " AND status = 'ENTERED') TO STDOUT",
                (draw_id,),
            ) as copy:
                async for chunk in copy:
                    data += chunk
            if b"\\" not in data:
                ids = data.decode().split("\n")[:-1] if data else []
            else:  # COPY's text format escapes backslashes: read such ids as plain rows
                await cur.execute(
                    "SELECT consumer_id FROM draw_entries WHERE draw_id = %s"
                    " AND status = 'ENTERED'",
                    (draw_id,),
                )
                ids = [str(row[0]) for row in await cur.fetchall()]
        ids.sort()
        return ids

    async def record_winners(
        self, draw_id: str, wins: Sequence[Win], won_at: datetime, claim_expires_at: datetime
    ) -> None:
        await self._conn.execute(
            "UPDATE draw_entries AS e SET status = 'WON', won_at = %s, claim_expires_at = %s,"
            " rank = w.rank, admission_token_id = w.token_id, admission_token = w.token,"
            f" in_draw = true, version = {_ONE_VERSION}"
            " FROM unnest(%s::text[], %s::int[], %s::text[], %s::text[])"
            " AS w(consumer_id, rank, token_id, token)"
            " WHERE e.draw_id = %s AND e.consumer_id = w.consumer_id AND e.status = 'ENTERED'",
            (
                won_at,
                claim_expires_at,
                [w.consumer_id for w in wins],
                [w.rank for w in wins],
                [w.token_id for w in wins],
                [w.token for w in wins],
                draw_id,
            ),
        )

    async def record_losers(
        self, draw_id: str, backups: Sequence[str], first_backup_rank: int
    ) -> int:
        """Every other ENTERED entry is LOST (NOT_SELECTED); backups keep their rank.
        Returns how many lost."""
        ranks = list(range(first_backup_rank, first_backup_rank + len(backups)))
        await self._conn.execute(
            "UPDATE draw_entries AS e SET rank = b.rank"
            " FROM unnest(%s::text[], %s::int[]) AS b(consumer_id, rank)"
            " WHERE e.draw_id = %s AND e.consumer_id = b.consumer_id",
            (list(backups), ranks, draw_id),
        )
        cur = await self._conn.execute(
            "UPDATE draw_entries SET status = 'LOST', lost_reason = %s, in_draw = true,"
            f" version = {_ONE_VERSION} WHERE draw_id = %s AND status = 'ENTERED'",
            (LostReason.NOT_SELECTED.value, draw_id),
        )
        return cur.rowcount

    async def add_result(self, result: DrawResult) -> None:
        values = [getattr(result, c) for c in _RESULT_COLUMNS]
        values[_RESULT_COLUMNS.index("winners")] = list(result.winners)
        values[_RESULT_COLUMNS.index("backups")] = list(result.backups)
        await self._conn.execute(
            f"INSERT INTO draw_results ({', '.join(_RESULT_COLUMNS)})"
            f" VALUES ({', '.join(['%s'] * len(_RESULT_COLUMNS))})",
            values,
        )

    async def result(self, draw_id: str, *, lock: bool = False) -> DrawResult | None:
        cur = await self._conn.execute(
            f"{_SELECT_RESULT} WHERE draw_id = %s{' FOR UPDATE' if lock else ''}", (draw_id,)
        )
        row = await cur.fetchone()
        return None if row is None else _result(row)

    # -- after the draw ------------------------------------------------------------------

    async def expired_wins(self, draw_id: str, now: datetime) -> list[DrawEntry]:
        """Unclaimed wins whose claim window has run out, locked, in rank order."""
        cur = await self._conn.execute(
            f"{_SELECT} WHERE draw_id = %s AND rank IS NOT NULL AND status = 'WON'"
            " AND claimed_at IS NULL AND claim_expires_at <= %s ORDER BY rank FOR UPDATE",
            (draw_id, now),
        )
        return [_entry(row) for row in await cur.fetchall()]

    async def use_backups(self, draw_id: str, used: int) -> None:
        await self._conn.execute(
            "UPDATE draw_results SET backups_used = %s WHERE draw_id = %s", (used, draw_id)
        )

    async def win_tally(self, draw_id: str) -> WinTally:
        cur = await self._conn.execute(
            "SELECT count(*) FILTER (WHERE status = 'WON' AND claimed_at IS NOT NULL),"
            " count(*) FILTER (WHERE status = 'WON' AND claimed_at IS NULL),"
            " count(*) FILTER (WHERE lost_reason = %s)"
            " FROM draw_entries WHERE draw_id = %s AND rank IS NOT NULL",
            (LostReason.CLAIM_EXPIRED.value, draw_id),
        )
        row = await cur.fetchone()
        assert row is not None
        return WinTally(int(row[0]), int(row[1]), int(row[2]))

    async def fingerprints(self, draw_id: str, consumer_ids: Sequence[str]) -> dict[str, str]:
        """The fingerprint hashes the given consumers entered with (those that have one)."""
        cur = await self._conn.execute(
            "SELECT consumer_id, fingerprint_hash FROM draw_entries WHERE draw_id = %s"
            " AND consumer_id = ANY(%s) AND fingerprint_hash IS NOT NULL",
            (draw_id, list(consumer_ids)),
        )
        return {str(row[0]): str(row[1]) for row in await cur.fetchall()}

    async def complete_result(self, draw_id: str, now: datetime) -> bool:
        cur = await self._conn.execute(
            "UPDATE draw_results SET completed_at = %s WHERE draw_id = %s AND completed_at IS NULL",
            (now, draw_id),
        )
        return cur.rowcount == 1

    async def entry_file(self, draw_id: str) -> AsyncIterator[bytes]:
        """The published entry list: the consumer ids that took part, bytewise sorted, one
        per line (the bytes the entries digest covers), streamed as COPY sends them."""
        async with (
            self._conn.cursor() as cur,
            cur.copy(
                "COPY (SELECT consumer_id FROM draw_entries WHERE draw_id = %s AND in_draw"
                " ORDER BY consumer_id) TO STDOUT",
                (draw_id,),
            ) as copy,
        ):
            async for chunk in copy:
                yield bytes(chunk)
