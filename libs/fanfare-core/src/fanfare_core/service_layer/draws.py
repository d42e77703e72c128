"""Consumers in draws: enter, leave and status; the storefront server's claim and deny;
running a draw, promoting backups, and the public proof.

Every change is committed to PostgreSQL with its events (through the outbox) before the
answer. A draw runs once (``draw_results`` has one row per draw); entries and departures
take the draw's lock in shared mode and running it takes the lock exclusively, so the
entry list the draw reads is exactly the one it records.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from fanfare_core.adapters.postgres import outbox
from fanfare_core.adapters.postgres.draw_entries import Win
from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.auth.tokens import TokenService
from fanfare_core.batches import together
from fanfare_core.clock import Clock
from fanfare_core.domain.distributions import CLOSED_STATUSES, Distribution, Kind, Status
from fanfare_core.domain.draw_selection import Selection, commitment_of, select
from fanfare_core.domain.draws import (
    DEFAULT_CLAIM_WINDOW,
    DRAW_NOT_FOUND,
    DRAWN_STATUSES,
    NOT_DRAWN_YET,
    NOT_IN_DRAW,
    DenyReason,
    DrawClosed,
    DrawEntry,
    DrawFull,
    DrawResult,
    EntryStatus,
    LostReason,
    check_open,
    effective_status,
    entries_close_at,
    is_due,
)
from fanfare_core.domain.errors import Conflict, NotFound
from fanfare_core.domain.events import (
    DistributionStatusChanged,
    DrawCompleted,
    DrawConsumerLost,
    DrawConsumerWon,
)
from fanfare_core.domain.timing import format_instant, format_optional_instant
from fanfare_core.events.envelope import encode_event, encode_variants
from fanfare_core.ids import new_id, new_ids
from fanfare_core.logs import get_logger

log = get_logger(__name__)
Pool = AsyncConnectionPool[AsyncConnection]
ADMISSION = "admission"
NOT_DUE = "Draw is not due yet"
#: Losers stored per transaction by :meth:`DrawService.record_losers`.
LOSERS_PER_TRANSACTION = 50_000


@dataclass(frozen=True, slots=True)
class DrawConsumerState:
    """A consumer's state in a draw, as the consumer routes answer it."""

    draw_id: str
    consumer_id: str
    status: str
    entered_at: str
    won_at: str | None
    admission_token: str | None
    deny_reason: str | None
    claim_expires_at: str | None
    claimed_at: str | None


@dataclass(frozen=True, slots=True)
class DrawView:
    """A draw as shoppers see it."""

    draw: Distribution
    status: str
    entry_count: int
    commitment: str


@dataclass(frozen=True, slots=True)
class DrawInfo:
    """What the directory knows of a draw: its settings and, once drawn, its entry count."""

    draw: Distribution
    drawn_entry_count: int | None


@dataclass(frozen=True, slots=True)
class DrawTimings:
    """How long the steps of one run of a draw took, in seconds of wall-clock time, as its
    ``draw recorded`` log line shows them: ``read`` (the ids), ``select`` (sorting and
    selecting), ``winners`` (signing the winners' tokens, recording winners and backups
    and their events), ``result`` (result and status), in sequence; ``total`` is their
    sum."""

    draw_id: str
    entries: int
    seconds: dict[str, float]


@dataclass(frozen=True, slots=True)
class Promotion:
    """What one round of :meth:`DrawService.promote_backups` did."""

    expired: int
    promoted: int
    completed: bool


class DrawDirectory:
    """Draws by id, cached briefly in the process (as queues are): hot routes must not query
    PostgreSQL. :meth:`forget` drops one at once (on ``distribution.updated`` and
    ``distribution.status_changed`` events). Time rules compare the cached times with the
    clock, so a stale status never opens a draw early nor keeps it open late."""

    def __init__(self, pool: Pool, ttl_seconds: float = 2.0) -> None:
        self._pool = pool
        self._ttl = ttl_seconds
        self._cache: dict[tuple[str, str], tuple[float, DrawInfo | None]] = {}

    async def get(self, organization_id: str, draw_id: str, *, fresh: bool = False) -> DrawInfo:
        key = (organization_id, draw_id)
        cached = self._cache.get(key)
        if not fresh and cached is not None and time.monotonic() - cached[0] < self._ttl:
            info = cached[1]
        else:
            info = await self._load(organization_id, draw_id)
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (time.monotonic(), info)
        if info is None:
            raise NotFound(DRAW_NOT_FOUND)
        return info

    def forget(self, draw_id: str) -> None:
        for key in [k for k in self._cache if k[1] == draw_id]:
            del self._cache[key]

    async def _load(self, organization_id: str, draw_id: str) -> DrawInfo | None:
        async with UnitOfWork(self._pool) as uow:
            draw = await uow.distributions.get(organization_id, Kind.DRAW, draw_id)
            if draw is None:
                return None
            result = await uow.draw_entries.result(draw_id)
        return DrawInfo(draw, None if result is None else result.entry_count)


class DrawService:
    """The use cases of consumers in draws, and of running them."""

    def __init__(
        self,
        *,
        pool: Pool,
        directory: DrawDirectory,
        tokens: Callable[[], TokenService],
        clock: Clock,
        claim_window: timedelta = DEFAULT_CLAIM_WINDOW,
        count_seconds: float = 2.0,
        observe: Callable[[DrawTimings], None] | None = None,
    ) -> None:
        """``observe``, when given, is called with the timings of every draw this service
        runs (benchmarks use it; the same figures are logged)."""
        self._pool = pool
        self._observe = observe
        self.directory = directory
        self._tokens = tokens
        self._clock = clock
        self._claim_window = claim_window
        self._count_seconds = count_seconds
        self._commitments: dict[str, str] = {}
        self._counts: dict[str, tuple[float, int]] = {}
        self._results: dict[str, DrawResult] = {}

    # -- shoppers ------------------------------------------------------------------------

    async def describe(self, organization_id: str, draw_id: str) -> DrawView:
        """The draw, its consumer-side status, how many entered and its commitment."""
        info = await self.directory.get(organization_id, draw_id)
        now = self._clock.now()
        if info.draw.status not in DRAWN_STATUSES and is_due(info.draw, now):
            # Due but not known to be drawn: look again until it is (the run may be done).
            info = await self.directory.get(organization_id, draw_id, fresh=True)
        count = info.drawn_entry_count
        if count is None:
            count = await self._entry_count(draw_id)
        return DrawView(
            draw=info.draw,
            status=effective_status(info.draw, now),
            entry_count=count,
            commitment=await self.commitment(draw_id),
        )

    async def commitment(self, draw_id: str) -> str:
        """The draw's public commitment, making its secret seed first if it has none."""
        known = self._commitments.get(draw_id)
        if known is not None:
            return known
        async with UnitOfWork(self._pool) as uow:
            _, commitment = await _ensure_secret(uow, draw_id, self._clock.now())
            await uow.commit()
        if len(self._commitments) > 100_000:
            self._commitments.clear()
        self._commitments[draw_id] = commitment
        return commitment

    async def enter(
        self, organization_id: str, draw_id: str, consumer_id: str, fingerprint_hash: str | None
    ) -> DrawConsumerState:
        """Enter the draw once; entering again answers the entry as it is."""
        draw = (await self.directory.get(organization_id, draw_id)).draw
        now = self._clock.now()
        check_open(draw, now)
        await self.commitment(draw_id)  # committed to before any entry exists
        async with UnitOfWork(self._pool) as uow:
            entries = uow.draw_entries
            if await entries.hold_entries_open(draw_id):
                raise DrawClosed()
            entry = await entries.get_for_update(draw_id, consumer_id)
            if entry is not None and entry.status is not EntryStatus.LEFT:
                return _state(entry, now)  # entered already, or denied (which sticks)
            if draw.max_entries is not None and not await entries.take_place(
                draw_id, draw.max_entries
            ):
                raise DrawFull()
            if entry is None:
                entry = DrawEntry.first_entry(
                    draw=draw, consumer_id=consumer_id, fingerprint_hash=fingerprint_hash, now=now
                )
            else:
                entry.enter_again(fingerprint_hash, now)
            await entries.save(entry)
            await uow.commit()
        return _state(entry, now)

    async def leave(
        self, organization_id: str, draw_id: str, consumer_id: str
    ) -> DrawConsumerState:
        """Withdraw an entry before entries close."""
        draw = (await self.directory.get(organization_id, draw_id)).draw
        now = self._clock.now()
        closes = entries_close_at(draw)
        if draw.status in CLOSED_STATUSES or (closes is not None and now >= closes):
            raise DrawClosed()
        async with UnitOfWork(self._pool) as uow:
            entries = uow.draw_entries
            if await entries.hold_entries_open(draw_id):
                raise DrawClosed()
            entry = await entries.get_for_update(draw_id, consumer_id)
            if entry is None:
                raise NotFound(NOT_IN_DRAW)
            entry.leave(now)
            await entries.save(entry)
            if draw.max_entries is not None:
                await entries.free_place(draw_id)
            await uow.commit()
        return _state(entry, now)

    async def status(
        self, organization_id: str, draw_id: str, consumer_id: str
    ) -> DrawConsumerState:
        await self.directory.get(organization_id, draw_id)
        async with UnitOfWork(self._pool) as uow:
            entry = await uow.draw_entries.get(draw_id, consumer_id)
        if entry is None:
            raise NotFound(NOT_IN_DRAW)
        return _state(entry, self._clock.now())

    # -- storefront server -----------------------------------------------------------------

    async def claim(
        self, organization_id: str, draw_id: str, consumer_id: str
    ) -> DrawConsumerState:
        """The winner used the win (checked out). Once every win is claimed or expired the
        draw is COMPLETED."""
        draw = (await self.directory.get(organization_id, draw_id)).draw
        now = self._clock.now()
        async with UnitOfWork(self._pool) as uow:
            result = await uow.draw_entries.result(draw_id, lock=True)  # result, then entry
            entry = await uow.draw_entries.get_for_update(draw_id, consumer_id)
            if entry is None:
                raise NotFound(NOT_IN_DRAW)
            if entry.claimed_at is None:
                entry.claim(now)
                await uow.draw_entries.save(entry)
                if result is not None:
                    await self._complete_if_done(uow, draw, now)
                await uow.commit()
        return _state(entry, now)

    async def deny(
        self, organization_id: str, draw_id: str, consumer_id: str, reason: DenyReason
    ) -> DrawConsumerState:
        """Deny a consumer: before the draw they take no part; after it an unclaimed win is
        forfeited and the next backup wins in their place."""
        draw = (await self.directory.get(organization_id, draw_id)).draw
        now = self._clock.now()
        async with UnitOfWork(self._pool) as uow:
            entries = uow.draw_entries
            drawn = await entries.hold_entries_open(draw_id)
            result = await entries.result(draw_id, lock=True) if drawn else None
            entry = await entries.get_for_update(draw_id, consumer_id)
            if entry is None:
                raise NotFound(NOT_IN_DRAW)
            before, forfeits = entry.status, entry.status is EntryStatus.WON
            entry.deny(reason, now)
            if not entry.events:
                return _state(entry, now)  # denied already for this reason
            await entries.save(entry)
            if before is EntryStatus.ENTERED and draw.max_entries is not None:
                await entries.free_place(draw_id)
            if result is not None and forfeits:
                await self._promote(uow, draw, result, 1, now)
                await self._complete_if_done(uow, draw, now)
            await uow.commit()
        return _state(entry, now)

    # -- running the draw --------------------------------------------------------------------

    async def run_draw(
        self, organization_id: str, draw_id: str, *, backup_count: int | None = None
    ) -> DrawResult:
        """Run the draw once it is due (``drawAt`` passed): select winners and backups from
        every ENTERED entry with ``fanfare-draw-v1``, record the winners (WON, with an
        admission token valid for the claim window), the backups (LOST, keeping their
        rank), their events, the result and its proof, and the DRAWN status, in one
        transaction. Every other entrant is LOST from that commit on (reads derive it from
        the result); :meth:`record_losers` then stores their statuses and events.
        Idempotent: a second call returns the recorded result.

        ``backup_count`` defaults to the winner count.
        """
        now = self._clock.now()
        async with UnitOfWork(self._pool) as uow:
            draw = await uow.distributions.get_for_update(organization_id, Kind.DRAW, draw_id)
            if draw is None:
                raise NotFound(DRAW_NOT_FOUND)
            recorded = await uow.draw_entries.result(draw_id)
            if recorded is not None:
                return recorded
            if not is_due(draw, now):
                raise Conflict(NOT_DUE)
            result = await self._draw(uow, draw, backup_count, now)
            await uow.commit()
        self.directory.forget(draw_id)
        return result

    async def settle(self, organization_id: str, draw_id: str) -> DrawResult:
        """Run the draw (see :meth:`run_draw`), then store its losers, in one call. (The
        settlement worker does the two apart: it acks the request once the draw commits,
        and a loop of its own stores the losers.) Safe to repeat after a failure."""
        result = await self.run_draw(organization_id, draw_id)
        await self.record_losers(organization_id, draw_id)
        return result

    async def _draw(
        self, uow: UnitOfWork, draw: Distribution, backup_count: int | None, now: datetime
    ) -> DrawResult:
        """Everything :meth:`run_draw` records, in its transaction. Sorting, selecting and
        signing the winners' tokens run in a worker thread, so the event loop (and the
        settlement worker's other duties) go on meanwhile."""
        entries = uow.draw_entries
        phases = _Phases()
        await entries.lock_for_drawing(draw.id)
        seed, commitment = await _ensure_secret(uow, draw.id, now)
        entered = await entries.entered_ids(draw.id)
        phases.lap("read")
        winner_count = draw.winner_count or 1
        backups = winner_count if backup_count is None else backup_count
        # Whole seconds, as the token's ``exp`` says: token and claim window end together.
        claim_expires_at = (now + self._claim_window).replace(microsecond=0)

        def choose() -> Selection:
            canonical = entered.in_canonical_order()  # sorted here; the key makes ids distinct
            return select(seed, canonical, winner_count, backups, sorted_distinct=True)

        selection = await asyncio.to_thread(choose)
        phases.lap("select")
        # The events need only the selection: encoded in a thread while PostgreSQL finds
        # the winners' fingerprints. The tokens need those, and are signed while it
        # records the backups.
        events, fingerprints = await together(
            asyncio.to_thread(lambda: list(_draw_events(draw, selection, claim_expires_at, now))),
            entries.fingerprints(draw.id, selection.winners),
        )
        wins, ranked = await together(
            asyncio.to_thread(
                self._wins, draw.id, selection.winners, fingerprints, claim_expires_at, now
            ),
            entries.record_backups(draw.id, selection.backups, len(selection.winners) + 1),
        )
        won = await entries.record_winners(draw.id, wins, now, claim_expires_at)
        if (won, ranked) != (len(wins), len(selection.backups)):  # the draw's lock forbids it
            raise RuntimeError(f"{won} winners and {ranked} backups recorded, not all")
        await outbox.append_encoded(uow.connection, events)
        phases.lap("winners")
        result = DrawResult(
            draw_id=draw.id,
            organization_id=draw.organization_id,
            algorithm=selection.algorithm,
            seed=seed,
            commitment=commitment,
            entries_digest=selection.entries_digest,
            entry_count=selection.entry_count,
            winner_count=winner_count,
            winners=selection.winners,
            backups=selection.backups,
            backups_used=0,
            claim_seconds=int(self._claim_window.total_seconds()),
            drawn_at=now,
        )
        selected = len(selection.winners) + len(selection.backups)
        await entries.add_result(result, now if selected == selection.entry_count else None)
        await self._change_status(uow, draw, DRAWN_FROM, Status.DRAWN, now)
        if not wins:
            await self._complete_if_done(uow, draw, now)
        phases.lap("result")
        log.info(
            "draw recorded",
            draw=draw.id,
            entries=result.entry_count,
            winners=len(wins),
            **{f"{name}_seconds": round(seconds, 3) for name, seconds in phases.seconds.items()},
        )
        if self._observe is not None:
            self._observe(DrawTimings(draw.id, result.entry_count, dict(phases.seconds)))
        return result

    async def record_losers(
        self, organization_id: str, draw_id: str, *, chunk: int = LOSERS_PER_TRANSACTION
    ) -> int:
        """Store the losers of a drawn draw: every entrant still ENTERED becomes LOST
        (``NOT_SELECTED``) with its ``draw.consumer.lost`` event, ``chunk`` entries per
        transaction in canonical order, then the draw notes that its losers are stored.
        Reads show them LOST from the draw's commit on, so this changes what is stored, not
        what anyone sees. Returns how many it stored: 0 when there is nothing to do or
        another process is doing it (they take turns by transaction), and a pass cut short
        by a failure resumes where it stopped when called again."""
        await self.directory.get(organization_id, draw_id)  # the organization's draw
        after, stored, started = "", 0, time.perf_counter()
        while True:
            async with UnitOfWork(self._pool) as uow:
                entries = uow.draw_entries
                drawn_at = await entries.take_loser_pass(draw_id)
                if drawn_at is None:
                    return stored
                losers, last = await entries.record_losers(draw_id, after, chunk)
                await outbox.append_encoded(
                    uow.connection, _lost_events(organization_id, draw_id, losers, drawn_at)
                )
                if last is None:
                    now = self._clock.now()
                    await entries.finish_loser_pass(draw_id, now)
                    draw = await uow.distributions.get(organization_id, Kind.DRAW, draw_id)
                    if draw is not None:  # every win may have been claimed meanwhile
                        await self._complete_if_done(uow, draw, now)
                await uow.commit()
            stored += len(losers)
            if last is None:
                break
            after = last
        log.info(
            "draw losers recorded",
            draw=draw_id,
            losers=stored,
            seconds=round(time.perf_counter() - started, 3),
        )
        return stored

    def _wins(
        self,
        draw_id: str,
        winners: tuple[str, ...],
        fingerprints: dict[str, str],
        claim_expires_at: datetime,
        now: datetime,
    ) -> list[Win]:
        wins = []
        for rank, consumer_id in enumerate(winners, start=1):
            token_id, token = self._admission_token(
                draw_id, consumer_id, fingerprints.get(consumer_id), claim_expires_at, now
            )
            wins.append(Win(consumer_id, rank, token_id, token))
        return wins

    async def promote_backups(self, organization_id: str, draw_id: str) -> Promotion:
        """Forfeit wins whose claim window ran out unclaimed (LOST, ``CLAIM_EXPIRED``) and
        let the next backups, in their drawn order, win in their place (with a new claim
        window). The settlement worker calls this; it is safe to call at any time."""
        now = self._clock.now()
        async with UnitOfWork(self._pool) as uow:
            draw = await uow.distributions.get(organization_id, Kind.DRAW, draw_id)
            if draw is None:
                raise NotFound(DRAW_NOT_FOUND)
            result = await uow.draw_entries.result(draw_id, lock=True)
            if result is None:
                raise Conflict(NOT_DRAWN_YET)
            expired = await uow.draw_entries.expired_wins(draw_id, now)
            for entry in expired:
                entry.expire(now)
                await uow.draw_entries.save(entry)
            promoted = await self._promote(uow, draw, result, len(expired), now)
            completed = await self._complete_if_done(uow, draw, now)
            await uow.commit()
        return Promotion(len(expired), promoted, completed)

    async def _promote(
        self, uow: UnitOfWork, draw: Distribution, result: DrawResult, wanted: int, now: datetime
    ) -> int:
        """Make up to ``wanted`` backups winners, in order, skipping any denied since."""
        used = result.backups_used
        promoted = 0
        claim_expires_at = (now + result.claim_window).replace(microsecond=0)
        while promoted < wanted and used < len(result.backups):
            entry = await uow.draw_entries.get_for_update(draw.id, result.backups[used])
            used += 1
            if entry is None or entry.lost_reason != LostReason.NOT_SELECTED.value:
                continue
            if entry.status is not EntryStatus.LOST:
                continue
            token_id, token = self._admission_token(
                draw.id, entry.consumer_id, entry.fingerprint_hash, claim_expires_at, now
            )
            entry.win(
                rank=entry.rank or result.winner_count + used,
                token_id=token_id,
                token=token,
                claim_expires_at=claim_expires_at,
                now=now,
            )
            await uow.draw_entries.save(entry)
            promoted += 1
        if used != result.backups_used:
            await uow.draw_entries.use_backups(draw.id, used)
        return promoted

    async def _complete_if_done(self, uow: UnitOfWork, draw: Distribution, now: datetime) -> bool:
        """COMPLETED once no win is waiting to be claimed (each was claimed or expired)."""
        tally = await uow.draw_entries.win_tally(draw.id)
        if tally.unclaimed or not await uow.draw_entries.complete_result(draw.id, now):
            return False
        await self._change_status(uow, draw, (Status.DRAWN,), Status.COMPLETED, now)
        uow.record(
            DrawCompleted(
                organization_id=draw.organization_id, occurred_at=now, draw_id=draw.id,
                claimed=tally.claimed, expired=tally.expired,
            )
        )  # fmt: skip
        self.directory.forget(draw.id)
        return True

    async def _change_status(
        self,
        uow: UnitOfWork,
        draw: Distribution,
        expected: tuple[Status, ...],
        new: Status,
        now: datetime,
    ) -> None:
        for previous in expected:
            if await uow.distributions.change_status(draw.id, previous, new, now):
                uow.record(
                    DistributionStatusChanged(
                        organization_id=draw.organization_id, occurred_at=now,
                        distribution_id=draw.id, kind=Kind.DRAW.value, status=new.value,
                        previous_status=previous.value,
                    )
                )  # fmt: skip
                return

    def _admission_token(
        self,
        draw_id: str,
        consumer_id: str,
        fingerprint_hash: str | None,
        expires_at: datetime,
        now: datetime,
    ) -> tuple[str, str]:
        token_id = new_id("adm")
        token = self._tokens().issue(
            subject=consumer_id,
            audience=draw_id,
            token_type=ADMISSION,
            now=now,
            lifetime=expires_at - now,
            extra={} if fingerprint_hash is None else {"fph": fingerprint_hash},
            token_id=token_id,
        )
        return token_id, token

    # -- the proof -------------------------------------------------------------------------

    async def proof(self, organization_id: str, draw_id: str) -> DrawResult:
        """The recorded result (``Draw not drawn yet`` before the draw has run)."""
        await self.directory.get(organization_id, draw_id)
        known = self._results.get(draw_id)
        if known is not None:
            return known
        async with UnitOfWork(self._pool) as uow:
            result = await uow.draw_entries.result(draw_id)
        if result is None:
            raise NotFound(NOT_DRAWN_YET)
        if len(self._results) > 1_000:
            self._results.clear()
        self._results[draw_id] = result  # what a proof shows never changes
        return result

    async def entry_file(self, organization_id: str, draw_id: str) -> AsyncIterator[bytes]:
        """The entry list the draw used, as the bytes its digest covers (checks first, so
        a missing draw or result answers 404 before streaming starts)."""
        await self.proof(organization_id, draw_id)
        return self._stream_entries(draw_id)

    async def _stream_entries(self, draw_id: str) -> AsyncIterator[bytes]:
        async with UnitOfWork(self._pool) as uow:
            async for chunk in uow.draw_entries.entry_file(draw_id):
                yield chunk

    # -- internals -------------------------------------------------------------------------

    async def _entry_count(self, draw_id: str) -> int:
        cached = self._counts.get(draw_id)
        if cached is not None and time.monotonic() - cached[0] < self._count_seconds:
            return cached[1]
        async with UnitOfWork(self._pool) as uow:
            count = await uow.draw_entries.count_entered(draw_id)
        if len(self._counts) > 10_000:
            self._counts.clear()
        self._counts[draw_id] = (time.monotonic(), count)
        return count


#: The statuses a draw can be drawn from (the scheduler may not have moved it yet).
DRAWN_FROM = (Status.CLOSED, Status.OPEN, Status.SCHEDULED, Status.DRAFT)


def _draw_events(
    draw: Distribution, selection: Selection, claim_expires_at: datetime, now: datetime
) -> Iterator[tuple[str, str, bytes]]:
    """The events of the draw's own transaction: each winner's won event, in rank order,
    then each backup's lost event."""
    for rank, consumer_id in enumerate(selection.winners, start=1):
        won = DrawConsumerWon(
            organization_id=draw.organization_id, occurred_at=now, draw_id=draw.id,
            consumer_id=consumer_id, status=EntryStatus.WON.value, rank=rank,
            claim_expires_at=claim_expires_at,
        )  # fmt: skip
        event_id = new_id("evt")
        yield (event_id, *encode_event(won, event_id))
    yield from _lost_events(draw.organization_id, draw.id, selection.backups, now)


def _lost_events(
    organization_id: str, draw_id: str, consumer_ids: Sequence[str], drawn_at: datetime
) -> Iterator[tuple[str, str, bytes]]:
    """``draw.consumer.lost`` (``NOT_SELECTED``) of each of ``consumer_ids``, encoded in
    bulk as they are written (fifty thousand take a small fraction of a second)."""
    lost = DrawConsumerLost(
        organization_id=organization_id, occurred_at=drawn_at, draw_id=draw_id,
        consumer_id="", status=EntryStatus.LOST.value, reason=LostReason.NOT_SELECTED.value,
    )  # fmt: skip
    return encode_variants(lost, "consumer_id", consumer_ids, new_ids("evt", len(consumer_ids)))


@dataclass(slots=True)
class _Phases:
    """Wall-clock seconds of a draw's steps, lap by lap."""

    seconds: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    last: float = 0.0

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = now - (self.last or self.started)
        self.seconds["total"] = now - self.started
        self.last = now


async def _ensure_secret(uow: UnitOfWork, draw_id: str, now: datetime) -> tuple[bytes, str]:
    seed = secrets.token_bytes(32)
    return await uow.draw_entries.ensure_secret(draw_id, seed, commitment_of(seed), now)


def _state(entry: DrawEntry, now: datetime) -> DrawConsumerState:
    shown = entry.shown_status(now)
    return DrawConsumerState(
        draw_id=entry.draw_id,
        consumer_id=entry.consumer_id,
        status=shown.value,
        entered_at=format_instant(entry.entered_at),
        won_at=format_optional_instant(entry.won_at),
        admission_token=entry.admission_token if shown is EntryStatus.WON else None,
        deny_reason=entry.deny_reason,
        claim_expires_at=format_optional_instant(entry.claim_expires_at),
        claimed_at=format_optional_instant(entry.claimed_at),
    )
