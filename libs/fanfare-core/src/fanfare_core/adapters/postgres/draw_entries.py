"""Storage of draws: secrets and commitments, entries, the entry cap, results, and the bulk
writes of running a draw over a million entries."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from fanfare_core.adapters.postgres.versioned import save_versioned
from fanfare_core.domain.draw_selection import InvalidEntries
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
# An entry still ENTERED once its draw has a result took part and was not selected: the
# draw recorded only winners and backups, and the loser pass stores the rest in chunks
# afterwards (:meth:`DrawEntryRepository.record_losers`). Reads show it as stored by then.
_DRAWN_ENTERED = "(e.status = 'ENTERED' AND r.draw_id IS NOT NULL)"
_SHOWN = {
    "status": f"CASE WHEN {_DRAWN_ENTERED} THEN 'LOST' ELSE e.status END",
    "lost_reason": (
        f"CASE WHEN {_DRAWN_ENTERED} THEN '{LostReason.NOT_SELECTED.value}' ELSE e.lost_reason END"
    ),
    "in_draw": f"(e.in_draw OR {_DRAWN_ENTERED})",
}
_SELECT = (
    f"SELECT {', '.join(_SHOWN.get(c, f'e.{c}') for c in _COLUMNS)}"
    " FROM draw_entries AS e LEFT JOIN draw_results AS r ON r.draw_id = e.draw_id"
)
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


#: A text array sent as one string of lines (see :func:`_lines`).
_LINES = "string_to_array(%s, E'\\n')"


def _lines(values: Sequence[str]) -> str:
    """``values`` joined with line feeds, for :data:`_LINES`. A draw's ten thousand winners
    sent as arrays cost psycopg's array dumper a Python loop over every element (about a
    fifth of a second for their tokens, in a profile of the draw); one string costs it next
    to nothing. A value that is empty or holds a line feed would come back changed, so it
    is refused."""
    joined = "\n".join(values)
    if joined.count("\n") != max(len(values) - 1, 0) or "" in values:
        raise ValueError("a value sent as a line is empty or holds a line feed")
    return joined


@dataclass(frozen=True, slots=True)
class EnteredIds:
    """The consumer ids of a draw's entries as read: groups of ``(count, ids)``, the ids
    joined with line feeds, in no particular order. Pure data: its method can run in a
    worker thread."""

    groups: tuple[tuple[int, str], ...]

    def in_canonical_order(self) -> list[str]:
        """The ids in bytewise order (code point order is UTF-8 byte order); about a third
        of a second for a million. An id with a line feed (which the draw refuses) comes
        back split, which the count check turns into an error rather than a wrong list."""
        ids = [i for _, joined in self.groups for i in joined.split("\n")]
        if len(ids) != sum(count for count, _ in self.groups):
            raise InvalidEntries("an entry contains a line feed")
        ids.sort()
        return ids


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
            f"{_SELECT} WHERE e.draw_id = %s AND e.consumer_id = %s", (draw_id, consumer_id)
        )
        row = await cur.fetchone()
        return None if row is None else _entry(row)

    async def get_for_update(self, draw_id: str, consumer_id: str) -> DrawEntry | None:
        cur = await self._conn.execute(
            f"{_SELECT} WHERE e.draw_id = %s AND e.consumer_id = %s FOR UPDATE OF e",
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

    async def entered_ids(self, draw_id: str) -> EnteredIds:
        """The consumer ids of every ENTERED entry, in a few aggregated rows of one
        sequential scan: a million ids arrive as a handful of long strings rather than a
        million messages. Sorting them is left to :meth:`EnteredIds.in_canonical_order`,
        which needs no connection."""
        # Sixteen groups keep each string far below PostgreSQL's 1 GB limit on one value.
        # The planner guesses a group per row for the expression, and would sort the
        # million rows to group them (half the read's time); hashing them into sixteen
        # groups is what is wanted, so sorting is off for this statement alone (a failure
        # rolls the transaction back, and the setting with it).
        cur = await self._conn.execute(
            "SELECT current_setting('enable_sort'), set_config('enable_sort', 'off', true)"
        )
        setting = await cur.fetchone()
        assert setting is not None
        cur = await self._conn.execute(
            "SELECT count(*), string_agg(consumer_id, E'\\n') FROM draw_entries"
            " WHERE draw_id = %s AND status = 'ENTERED' GROUP BY hashtext(consumer_id) & 15",
            (draw_id,),
        )
        groups = tuple((int(n), str(ids)) for n, ids in await cur.fetchall())
        await self._conn.execute("SELECT set_config('enable_sort', %s, true)", (setting[0],))
        return EnteredIds(groups)

    async def fingerprints(self, draw_id: str, consumer_ids: Sequence[str]) -> dict[str, str]:
        """The fingerprint hashes the given consumers entered with (those that have one)."""
        cur = await self._conn.execute(
            "SELECT consumer_id, fingerprint_hash FROM draw_entries WHERE draw_id = %s"
            f" AND consumer_id = ANY({_LINES}) AND fingerprint_hash IS NOT NULL",
            (draw_id, _lines(consumer_ids)),
        )
        return {str(c): str(f) for c, f in await cur.fetchall()}

    async def record_winners(
        self, draw_id: str, wins: Sequence[Win], won_at: datetime, claim_expires_at: datetime
    ) -> int:
        """Turn the winners (ENTERED) WON, with their rank and admission token, in one
        statement. Returns how many."""
        cur = await self._conn.execute(
            "UPDATE draw_entries AS e SET status = 'WON', in_draw = true, won_at = %s,"
            " claim_expires_at = %s, rank = w.rank, admission_token_id = w.token_id,"
            f" admission_token = w.token, version = {_ONE_VERSION}"
            f" FROM unnest({_LINES}, {_LINES}::int[], {_LINES}, {_LINES})"
            " AS w(consumer_id, rank, token_id, token)"
            " WHERE e.draw_id = %s AND e.consumer_id = w.consumer_id AND e.status = 'ENTERED'",
            (
                won_at,
                claim_expires_at,
                _lines([w.consumer_id for w in wins]),
                _lines([str(w.rank) for w in wins]),
                _lines([w.token_id for w in wins]),
                _lines([w.token for w in wins]),
                draw_id,
            ),
        )
        return cur.rowcount

    async def record_backups(self, draw_id: str, backups: Sequence[str], first_rank: int) -> int:
        """Turn the backups (ENTERED) LOST, ``NOT_SELECTED``, with their place in the drawn
        order from ``first_rank`` on, so promotion takes them in order. Returns how many."""
        ranks = [str(rank) for rank in range(first_rank, first_rank + len(backups))]
        cur = await self._conn.execute(
            "UPDATE draw_entries AS e SET status = 'LOST', lost_reason = %s, in_draw = true,"
            f" rank = b.rank, version = {_ONE_VERSION}"
            f" FROM unnest({_LINES}, {_LINES}::int[]) AS b(consumer_id, rank)"
            " WHERE e.draw_id = %s AND e.consumer_id = b.consumer_id AND e.status = 'ENTERED'",
            (LostReason.NOT_SELECTED.value, _lines(backups), _lines(ranks), draw_id),
        )
        return cur.rowcount

    # -- the loser pass ------------------------------------------------------------------

    async def take_loser_pass(self, draw_id: str) -> datetime | None:
        """When the draw was drawn, if its losers are still to be stored and no other
        transaction is storing them now (the pass's lock is held until this one ends)."""
        cur = await self._conn.execute(
            "SELECT pg_try_advisory_xact_lock(hashtextextended('draw losers ' || %s, 0))",
            (draw_id,),
        )
        row = await cur.fetchone()
        if row is None or not row[0]:
            return None
        cur = await self._conn.execute(
            "SELECT drawn_at FROM draw_results WHERE draw_id = %s AND losers_recorded_at IS NULL",
            (draw_id,),
        )
        row = await cur.fetchone()
        return None if row is None else row[0]

    async def record_losers(
        self, draw_id: str, after: str, limit: int
    ) -> tuple[list[str], str | None]:
        """Store the entrants of a drawn draw that are still ENTERED among the next
        ``limit`` entries after ``after`` in canonical order as LOST (``NOT_SELECTED``):
        the range's end is found in the primary key, then one ranged UPDATE stores them,
        so a pass over a million entries reads each once. Returns the ids it stored, in
        canonical order, and the range's end, from which the next call goes on; ``None``
        once no entry is left after ``after``."""
        cur = await self._conn.execute(
            "SELECT consumer_id FROM draw_entries WHERE draw_id = %s AND consumer_id > %s"
            " ORDER BY consumer_id OFFSET %s LIMIT 1",
            (draw_id, after, limit - 1),
        )
        row = await cur.fetchone()
        last = None if row is None else str(row[0])
        cur = await self._conn.execute(
            "UPDATE draw_entries SET status = 'LOST', lost_reason = %s, in_draw = true,"
            f" version = {_ONE_VERSION} WHERE draw_id = %s AND consumer_id > %s"
            f"{'' if last is None else ' AND consumer_id <= %s'} AND status = 'ENTERED'"
            " RETURNING consumer_id",
            (LostReason.NOT_SELECTED.value, draw_id, after, *([] if last is None else [last])),
        )
        return sorted(str(row[0]) for row in await cur.fetchall()), last

    async def finish_loser_pass(self, draw_id: str, now: datetime) -> None:
        await self._conn.execute(
            "UPDATE draw_results SET losers_recorded_at = %s"
            " WHERE draw_id = %s AND losers_recorded_at IS NULL",
            (now, draw_id),
        )

    async def add_result(self, result: DrawResult, losers_recorded_at: datetime | None) -> None:
        """Record the result; ``losers_recorded_at`` when the draw left no loser to store
        (everyone who entered was selected), else ``None`` until the loser pass ends."""
        lists = {"winners": result.winners, "backups": result.backups}
        values = [_lines(lists[c]) if c in lists else getattr(result, c) for c in _RESULT_COLUMNS]
        placeholders = [_LINES if c in lists else "%s" for c in _RESULT_COLUMNS]
        await self._conn.execute(
            f"INSERT INTO draw_results ({', '.join(_RESULT_COLUMNS)}, losers_recorded_at)"
            f" VALUES ({', '.join(placeholders)}, %s)",
            [*values, losers_recorded_at],
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
            f"{_SELECT} WHERE e.draw_id = %s AND e.rank IS NOT NULL AND e.status = 'WON'"
            " AND e.claimed_at IS NULL AND e.claim_expires_at <= %s"
            " ORDER BY e.rank FOR UPDATE OF e",
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

    async def complete_result(self, draw_id: str, now: datetime) -> bool:
        """Mark the draw's result completed, unless it is already or its losers are still
        to be stored (so ``draw.completed`` follows every ``draw.consumer.lost``)."""
        cur = await self._conn.execute(
            "UPDATE draw_results SET completed_at = %s WHERE draw_id = %s"
            " AND completed_at IS NULL AND losers_recorded_at IS NOT NULL",
            (now, draw_id),
        )
        return cur.rowcount == 1

    async def entry_file(self, draw_id: str) -> AsyncIterator[bytes]:
        """The published entry list: the consumer ids that took part, bytewise sorted, one
        per line (the bytes the entries digest covers), streamed in chunks of many ids.

        Read through a server-side cursor rather than COPY, whose text format would escape
        a backslash or a tab in an id and so publish bytes other than the ones drawn."""
        async with self._conn.cursor("draw_entry_file") as cur:
            await cur.execute(  # an entry still ENTERED after the draw took part in it
                "SELECT consumer_id FROM draw_entries WHERE draw_id = %s"
                " AND (in_draw OR status = 'ENTERED') ORDER BY consumer_id",
                (draw_id,),
            )
            while rows := await cur.fetchmany(_ENTRY_FILE_CHUNK):
                yield "".join([f"{row[0]}\n" for row in rows]).encode()


#: Ids per chunk of the published entry list (a couple of megabytes).
_ENTRY_FILE_CHUNK = 50_000
