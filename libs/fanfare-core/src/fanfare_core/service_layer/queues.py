"""Consumers in queues: enter, leave, status, and the storefront server's admit, complete,
deny and validate.

PostgreSQL records every change (with its event, through the outbox) before the answer;
Redis holds the waiting line that status polls read; the line is rebuilt from PostgreSQL
whenever Redis has lost it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.adapters.redis.queue_line import LineRead, LineState, QueueLine
from fanfare_core.auth.tokens import InvalidToken, TokenClaims, TokenService
from fanfare_core.batches import TakenInTurn, together
from fanfare_core.clock import Clock
from fanfare_core.domain.distributions import Distribution, Kind
from fanfare_core.domain.errors import NotFound, TooManyRequests
from fanfare_core.domain.queues import (
    NOT_IN_QUEUE,
    QUEUE_NOT_FOUND,
    DenyReason,
    EntryStatus,
    QueueEntry,
    QueueFull,
    check_open,
    session_length,
)
from fanfare_core.domain.timing import format_instant
from fanfare_core.ids import new_id
from fanfare_core.logs import get_logger

log = get_logger(__name__)
Pool = AsyncConnectionPool[AsyncConnection]
ADMISSION = "admission"
#: Counts enters against their rate limits: given each enter's ``(consumer id, client
#: address)``, in order, the seconds each must wait, or None where it may go on.
EnterGate = Callable[[Sequence[tuple[str, str]]], Awaitable[Sequence[int | None]]]
#: A batch's existing entries, locked, and its new arrival numbers.
Locked = tuple[dict[str, QueueEntry], list[int]]


@dataclass(frozen=True, slots=True)
class ConsumerState:
    """``QueueConsumerState`` of the spec."""

    queue_id: str
    consumer_id: str
    status: str
    position: int | None
    entered_at: str
    admitted_at: str | None
    admission_token: str | None
    deny_reason: str | None


@dataclass(frozen=True, slots=True)
class QueueInfo:
    """What the directory knows of a queue: its settings and its sequence's order limit."""

    queue: Distribution
    order_limit: int | None


@dataclass(frozen=True, slots=True)
class _Enter:
    """One consumer's request to enter, waiting for its queue's next batch."""

    info: QueueInfo
    consumer_id: str
    fingerprint_hash: str | None
    address: str  # the client's, which the gate's per-address limit counts
    confirming: asyncio.Future[None] | None  # the caller's check, under way (see enter)


class QueueDirectory:
    """Queues by id, cached briefly in the process: hot routes must not query PostgreSQL.

    Entries live ``ttl_seconds``; :meth:`forget` drops one at once (the consumer API calls it
    when a ``distribution.updated`` event arrives). Time rules compare the cached
    ``openAt``/``closeAt`` with the clock, so a stale status never opens a queue early.

    Requests that miss together share one lookup: when a queue's entry expires under a
    crowd (thousands of polls a second), one query refreshes it instead of one per poll
    that arrives while the first is on its way.
    """

    def __init__(self, pool: Pool, ttl_seconds: float = 2.0) -> None:
        self._pool = pool
        self._ttl = ttl_seconds
        self._cache: dict[tuple[str, str], tuple[float, QueueInfo | None]] = {}
        self._loading: dict[tuple[str, str], asyncio.Task[QueueInfo | None]] = {}

    async def get(self, organization_id: str, queue_id: str) -> QueueInfo:
        key = (organization_id, queue_id)
        cached = self._cache.get(key)
        if cached is not None and time.monotonic() - cached[0] < self._ttl:
            info = cached[1]
        else:
            loading = self._loading.get(key)
            if loading is None:
                loading = self._loading[key] = asyncio.create_task(self._load_and_keep(key))
            # Shielded: one caller going away does not cancel the others' lookup.
            info = await asyncio.shield(loading)
        if info is None:
            raise NotFound(QUEUE_NOT_FOUND)
        return info

    def forget(self, queue_id: str) -> None:
        """Drop what is known of the queue; a lookup already on its way is answered to
        those waiting for it, but not kept (it may have read the queue before the change)."""
        for key in [k for k in self._cache if k[1] == queue_id]:
            del self._cache[key]
        for key in [k for k in self._loading if k[1] == queue_id]:
            del self._loading[key]

    async def _load_and_keep(self, key: tuple[str, str]) -> QueueInfo | None:
        started = time.monotonic()
        try:
            info = await self._load(*key)
        finally:
            current = self._loading.get(key) is asyncio.current_task()
            if current:
                del self._loading[key]
        if current:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (started, info)
        return info

    async def _load(self, organization_id: str, queue_id: str) -> QueueInfo | None:
        async with UnitOfWork(self._pool) as uow:
            queue = await uow.distributions.get(organization_id, Kind.QUEUE, queue_id)
            if queue is None:
                return None
            sequence = await uow.catalog.sequence(organization_id, queue.sequence_id)
        return QueueInfo(queue, sequence.order_limit if sequence else None)


def _sticky_denial(entry: QueueEntry) -> bool:
    """Denied for a reason entering again does not lift (an order limit can lift)."""
    return (
        entry.status is EntryStatus.DENIED and entry.deny_reason != DenyReason.ORDER_LIMIT_EXCEEDED
    )


def _at_the_door(
    info: QueueInfo,
    firsts: dict[str, _Enter],
    found: dict[str, QueueEntry],
    completed: dict[str, int],
    now: datetime,
    outcomes: dict[str, QueueEntry | Exception],
    written: list[QueueEntry],
) -> tuple[list[_Enter], int]:
    """Sort a batch's consumers: those who keep the place (or denial) they have are
    answered with it, those past the sequence's order limit are denied (``written``), and
    the rest are newcomers to the back of the line. Returns the newcomers and how many of
    them held an admission that ran out (a place still counted until freed)."""
    newcomers: list[_Enter] = []
    lapsed = 0
    for consumer_id, request in firsts.items():
        entry = found.get(consumer_id)
        if entry is not None and (entry.holds_place(now) or _sticky_denial(entry)):
            outcomes[consumer_id] = entry
        elif info.order_limit is not None and completed.get(consumer_id, 0) >= info.order_limit:
            entry = entry or QueueEntry.first_entry(
                queue=info.queue, consumer_id=consumer_id, arrival=0,
                fingerprint_hash=request.fingerprint_hash, now=now,
            )  # fmt: skip
            entry.events.clear()  # denied at the door: the consumer never entered
            entry.deny(DenyReason.ORDER_LIMIT_EXCEEDED, now)
            outcomes[consumer_id] = entry
            written.append(entry)
        else:
            if entry is not None and entry.status is EntryStatus.ADMITTED:
                entry.expire(now)
                lapsed += 1
            newcomers.append(request)
    return newcomers, lapsed


async def _locks_and_draw(
    uow: UnitOfWork, queue_id: str, consumer_ids: list[str], arrivals: int
) -> Locked:
    """The batch's first round trip: the BEGIN, its locks and its arrival numbers."""
    trip = await uow.round_trip()
    sent = uow.queue_entries.send_locks_and_draw(trip, queue_id, consumer_ids, arrivals)
    await trip.run()
    return uow.queue_entries.take_locks(sent)


async def _stopped(batch: list[_Enter], waits: Sequence[int | None]) -> dict[int, Exception]:
    """The enters of ``batch`` (by index) that go no further, each with its answer: those
    the gate stopped, and ahead of them those their caller's check refused."""
    stopped: dict[int, Exception] = {
        index: TooManyRequests(wait) for index, wait in enumerate(waits) if wait is not None
    }
    # The checks were asked before the batch began: answered by now, as a rule, and then
    # read without a turn of the loop.
    pending = [r.confirming for r in batch if r.confirming and not r.confirming.done()]
    if pending:
        await asyncio.wait(pending)
    for index, request in enumerate(batch):
        refused = _refusal(request.confirming)
        if refused is not None:
            stopped[index] = refused
    return stopped


def _refusal(confirming: asyncio.Future[None] | None) -> Exception | None:
    """What a finished check of an enter's caller refused it with, if anything."""
    if confirming is None:
        return None
    if confirming.cancelled():
        return RuntimeError("the check of the caller was cancelled")
    error = confirming.exception()
    if error is None or isinstance(error, Exception):
        return error
    return RuntimeError(f"the check of the caller failed: {error!r}")


def _full(queue: Distribution) -> QueueFull:
    return QueueFull(retry_after_seconds=max(1, min(60, 60 // max(1, queue.admission_rate or 1))))


def confirmation_code(token_id: str) -> str:
    """A short code support staff can match to an admission (derived from its token id)."""
    digest = hashlib.sha256(token_id.encode()).digest()
    return base64.b32encode(digest).decode()[:9]


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """``true`` of the spec when ``valid``; otherwise the error object's fields."""

    valid: bool
    error: str | None = None
    message: str | None = None
    code: str | None = None
    confirmation_code: str | None = None


class QueueService:
    """The use cases of consumers in queues."""

    def __init__(
        self,
        *,
        pool: Pool,
        line: QueueLine,
        directory: QueueDirectory,
        tokens: Callable[[], TokenService],
        clock: Clock,
        gate: EnterGate | None = None,
    ) -> None:
        """``gate``, when given, counts every enter against its rate limits, a batch at a
        time (the consumer API's per-consumer and per-address limits)."""
        self._gate = gate
        self._pool = pool
        self._line = line
        self.directory = directory
        self._tokens = tokens
        self._clock = clock
        self._rebuilding: set[str] = set()
        self._enters: TakenInTurn[str, _Enter, ConsumerState] = TakenInTurn(
            self._take_enters, name="enters"
        )

    # -- consumers ---------------------------------------------------------------------

    async def enter(
        self,
        organization_id: str,
        queue_id: str,
        consumer_id: str,
        fingerprint_hash: str | None,
        *,
        address: str = "",
        confirming: asyncio.Future[None] | None = None,
    ) -> ConsumerState:
        """Take a place at the back of the line, or keep the one already held;
        :class:`TooManyRequests` when the gate says the consumer or its ``address`` must
        wait.

        ``confirming``, when given, is a check of the caller still under way (whether the
        shopper's session was logged out: see
        :func:`~fanfare_core.http.consumer_auth.shopper_confirming_later`). The batch
        awaits it with its locks, and what it raises is the answer, ahead of any other,
        and the consumer gets no place; its arrival number is a gap, as a stopped enter's.

        Enters of one queue are taken in turn by one task per queue and process
        (:mod:`~fanfare_core.batches`): a crowd's enters share one
        transaction, one commit and one Redis round trip, and the gate counts them all in
        one call while PostgreSQL takes the batch's locks. A batch's entries are in Redis
        before the next batch draws arrival numbers, so the positions it answers count
        everyone this process let in before (see docs/queues.md on several processes).
        """
        try:
            info = await self.directory.get(organization_id, queue_id)
            check_open(info.queue, self._clock.now())
            request = _Enter(info, consumer_id, fingerprint_hash, address, confirming)
            return await self._enters.submit(queue_id, request)
        except Exception:
            if confirming is not None:
                await confirming  # its refusal comes first
            raise

    async def _take_enters(
        self, queue_id: str, batch: list[_Enter]
    ) -> list[ConsumerState | Exception]:
        info = batch[-1].info  # the newest settings any of them read
        queue = info.queue
        now = self._clock.now()
        asking = list(dict.fromkeys(request.consumer_id for request in batch))
        outcomes: dict[str, QueueEntry | Exception] = {}
        written: list[QueueEntry] = []
        uncapped = queue.max_capacity is None
        async with UnitOfWork(self._pool) as uow:
            entries = uow.queue_entries
            # An uncapped queue has a place for everyone: arrival numbers are drawn with
            # the locks, one for each consumer (those who already hold a place, or whom
            # the gate stops, leave a gap in the numbers, which positions never show).
            # Meanwhile the gate counts every enter against its limits.
            (found, drawn), waits = await self._lock_and_count(
                _locks_and_draw(uow, queue_id, asking, len(asking) if uncapped else 0), batch
            )
            stopped = await _stopped(batch, waits)
            firsts: dict[str, _Enter] = {}
            for index, request in enumerate(batch):  # a double click: one entry
                if index not in stopped:
                    firsts.setdefault(request.consumer_id, request)
            completed = (
                {}
                if info.order_limit is None
                else await entries.completed_in_sequence_of(list(firsts), queue.sequence_id)
            )
            newcomers, lapsed = _at_the_door(info, firsts, found, completed, now, outcomes, written)
            if lapsed:
                await entries.free_places(queue_id, lapsed)
            if uncapped:
                arrivals: list[int] = drawn[: len(newcomers)]
            else:
                arrivals = await self._take_places(
                    uow, queue, len(newcomers), set(firsts), now, written
                )
            for request, arrival in zip(newcomers, arrivals, strict=False):
                entry = found.get(request.consumer_id)
                if entry is None:
                    entry = QueueEntry.first_entry(
                        queue=queue, consumer_id=request.consumer_id, arrival=arrival,
                        fingerprint_hash=request.fingerprint_hash, now=now,
                    )  # fmt: skip
                else:
                    entry.enter_again(arrival, request.fingerprint_hash, now)
                outcomes[request.consumer_id] = entry
                written.append(entry)
            for request in newcomers[len(arrivals) :]:  # the cap stopped them
                outcomes[request.consumer_id] = _full(queue)
                entry = found.get(request.consumer_id)
                if entry is not None and entry.status is EntryStatus.LEFT and entry.events:
                    written.append(entry)  # its lapsed admission was freed above
            # The entries, the places they hold, their events and the COMMIT: one round trip.
            trip = await uow.round_trip()
            sent = entries.send_many(trip, written)
            if uncapped and arrivals:
                entries.send_add_places(trip, queue_id, len(arrivals))
            await uow.commit_in(trip)
            entries.take_versions(sent)
        answered = [o for o in outcomes.values() if isinstance(o, QueueEntry)]
        settled = await self._settle(queue_id, written, answered)
        states: dict[str, ConsumerState | Exception] = {
            c: outcome for c, outcome in outcomes.items() if isinstance(outcome, Exception)
        }
        states.update((e.consumer_id, state) for e, state in zip(answered, settled, strict=True))
        return [stopped.get(index) or states[r.consumer_id] for index, r in enumerate(batch)]

    async def _lock_and_count(
        self, locking: Awaitable[Locked], batch: list[_Enter]
    ) -> tuple[Locked, Sequence[int | None]]:
        """What ``locking`` gives, and what the gate says of each enter of ``batch``,
        asked meanwhile (without a gate, every enter may go on)."""
        if self._gate is None:
            return await locking, [None] * len(batch)
        locked, waits = await together(
            locking, self._gate([(request.consumer_id, request.address) for request in batch])
        )
        if len(waits) != len(batch):
            raise RuntimeError(f"the gate answered {len(waits)} of {len(batch)} enters")
        return locked, waits

    async def leave(self, organization_id: str, queue_id: str, consumer_id: str) -> ConsumerState:
        await self.directory.get(organization_id, queue_id)
        return await self._change(queue_id, consumer_id, lambda entry, now: entry.leave(now))

    async def status(self, organization_id: str, queue_id: str, consumer_id: str) -> ConsumerState:
        """The consumer's state: one Redis round trip while the line is complete."""
        await self.directory.get(organization_id, queue_id)
        read = await self._line.read(queue_id, consumer_id)
        if read.state is not None:
            return _from_line(queue_id, consumer_id, read.state)
        if not read.ready:
            self._rebuild_soon(queue_id)
        async with UnitOfWork(self._pool) as uow:
            entry = await uow.queue_entries.get(queue_id, consumer_id)
        if entry is None:
            raise NotFound(NOT_IN_QUEUE)
        if read.ready:
            # Redis missed a committed change (its write-through failed): rebuild.
            await self._line.forget(queue_id)
            self._rebuild_soon(queue_id)
        return await self._state(entry, from_database=True)

    # -- storefront server --------------------------------------------------------------

    async def admit(self, organization_id: str, queue_id: str, consumer_id: str) -> ConsumerState:
        """Admit a queued consumer now with a signed admission token (server-side)."""
        info = await self.directory.get(organization_id, queue_id)
        return await self._change(
            queue_id, consumer_id, lambda entry, now: self._admit(entry, info.queue, now)
        )

    async def admit_next(self, organization_id: str, queue_id: str) -> ConsumerState | None:
        """Admit the consumer at the head of the line, if anyone waits (the scheduler)."""
        info = await self.directory.get(organization_id, queue_id)
        now = self._clock.now()
        async with UnitOfWork(self._pool) as uow:
            entry = await uow.queue_entries.head_of_line(queue_id)
            if entry is None:
                return None
            self._admit(entry, info.queue, now)
            await uow.queue_entries.save(entry)
            await uow.commit()
        (state,) = await self._settle(entry.queue_id, [entry], [entry])
        return state

    def _admit(self, entry: QueueEntry, queue: Distribution, now: datetime) -> None:
        if entry.status is EntryStatus.ADMITTED and entry.holds_place(now):
            return
        # Whole seconds, as the token's ``exp`` says: token and place expire together.
        expires_at = (now + session_length(queue)).replace(microsecond=0)
        token_id, token = self._admission_token(entry, expires_at, now)
        entry.admit(token_id, token, expires_at, now)

    async def complete(
        self, organization_id: str, queue_id: str, consumer_id: str
    ) -> tuple[ConsumerState, str | None]:
        await self.directory.get(organization_id, queue_id)
        state = await self._change(queue_id, consumer_id, lambda e, now: e.complete(now))
        async with UnitOfWork(self._pool) as uow:
            entry = await uow.queue_entries.get(queue_id, consumer_id)
        completed_at = entry.completed_at if entry else None
        return state, None if completed_at is None else format_instant(completed_at)

    async def deny(
        self, organization_id: str, queue_id: str, consumer_id: str, reason: DenyReason
    ) -> ConsumerState:
        await self.directory.get(organization_id, queue_id)
        return await self._change(queue_id, consumer_id, lambda e, now: e.deny(reason, now))

    async def validate(
        self,
        organization_id: str,
        queue_id: str,
        consumer_id: str,
        token: str,
        fingerprint_hash: str | None,
    ) -> ValidationResult:
        """Whether ``token`` is a live admission of ``consumer_id`` to this queue, presented
        from the device that entered (when the storefront tells which device it sees)."""
        await self.directory.get(organization_id, queue_id)
        now = self._clock.now()
        try:
            claims = self._tokens().verify(token, audience=queue_id, token_type=ADMISSION, now=now)
        except InvalidToken as error:
            if error.reason == "expired":
                return _invalid("TOKEN_EXPIRED", "TK001", "This admission has expired.")
            return _invalid("INVALID_TOKEN", "TK002", "This is not a valid admission token.")
        async with UnitOfWork(self._pool) as uow:
            entry = await uow.queue_entries.get(queue_id, consumer_id)
        return _judge_admission(claims, consumer_id, entry, fingerprint_hash)

    async def holding(self, organization_id: str, queue_id: str) -> tuple[QueueInfo, int]:
        """The queue and how many consumers hold a place (QUEUED or admitted, live)."""
        info = await self.directory.get(organization_id, queue_id)
        now = self._clock.now()
        ready, count = await self._line.counts(queue_id, now)
        if not ready:
            self._rebuild_soon(queue_id)
            async with UnitOfWork(self._pool) as uow:
                count = await uow.queue_entries.holding(queue_id, now)
        return info, count

    async def expire_admissions_of(self, queue_id: str) -> int:
        """Free the places of admissions whose session ran out; return how many."""
        now = self._clock.now()
        async with UnitOfWork(self._pool) as uow:
            expired = await uow.queue_entries.expired_admissions(queue_id, now)
            for entry in expired:
                entry.expire(now)
                await uow.queue_entries.save(entry)
            if expired:
                await uow.queue_entries.free_places(queue_id, len(expired))
            await uow.commit()
        await self._write_through(queue_id, expired)
        return len(expired)

    # -- internals ------------------------------------------------------------------------

    async def _take_places(
        self,
        uow: UnitOfWork,
        queue: Distribution,
        count: int,
        entering: set[str],
        now: datetime,
        freed: list[QueueEntry],
    ) -> list[int]:
        """Take up to ``count`` places at the back of a capped queue's line, as many as its
        cap leaves: their arrival numbers, ascending. Admissions that ran out and were freed
        to make room (of consumers other than ``entering``) are added to ``freed``."""
        entries = uow.queue_entries
        capacity = queue.max_capacity
        if count == 0 or capacity is None:
            return []
        taken = await entries.take_places(queue.id, capacity, count, now)
        if taken < count:
            # Sessions that ran out still count until freed: free them and look again.
            expired = [
                entry
                for entry in await entries.expired_admissions(queue.id, now)
                if entry.consumer_id not in entering  # those are being entered again
            ]
            for entry in expired:
                entry.expire(now)
            freed.extend(expired)
            if expired:
                await entries.free_places(queue.id, len(expired))
                taken += await entries.take_places(queue.id, capacity, count - taken, now)
        return await entries.next_arrivals(taken)

    async def _change(
        self,
        queue_id: str,
        consumer_id: str,
        change: Callable[[QueueEntry, datetime], None],
    ) -> ConsumerState:
        now = self._clock.now()
        async with UnitOfWork(self._pool) as uow:
            entry = await uow.queue_entries.get_for_update(queue_id, consumer_id)
            if entry is None:
                raise NotFound(NOT_IN_QUEUE)
            held_before = entry.holds_place(now)
            before = len(entry.events)
            change(entry, now)
            if len(entry.events) == before:
                return await self._state(entry)  # nothing changed (idempotent repeat)
            await uow.queue_entries.save(entry)
            if held_before and not entry.holds_place(now):
                await uow.queue_entries.free_places(queue_id)
            await uow.commit()
        (state,) = await self._settle(entry.queue_id, [entry], [entry])
        return state

    def _admission_token(
        self, entry: QueueEntry, expires_at: datetime, now: datetime
    ) -> tuple[str, str]:
        token_id = new_id("adm")
        extra: dict[str, object] = {}
        if entry.fingerprint_hash is not None:
            extra["fph"] = entry.fingerprint_hash
        token = self._tokens().issue(
            subject=entry.consumer_id,
            audience=entry.queue_id,
            token_type=ADMISSION,
            now=now,
            lifetime=expires_at - now,
            extra=extra,
            token_id=token_id,
        )
        return token_id, token

    async def _write_through(self, queue_id: str, entries: list[QueueEntry]) -> None:
        """Copy committed entries of one queue to Redis in one round trip; if that fails,
        make readers rebuild the line."""
        try:
            await self._line.write(entries)
        except Exception as error:  # the changes are committed; Redis can wait
            await self._line_failed(queue_id, error)

    async def _line_failed(self, queue_id: str, error: Exception) -> None:
        log.warning("queue line write-through failed", queue=queue_id, error=repr(error))
        try:
            await self._line.forget(queue_id)
        except Exception:
            log.warning("queue line could not be marked stale", queue=queue_id)

    async def _settle(
        self, queue_id: str, written: list[QueueEntry], answered: list[QueueEntry]
    ) -> list[ConsumerState]:
        """Write committed entries of one queue through to Redis and answer the states of
        ``answered`` as Redis then has them: one round trip."""
        try:
            reads = await self._line.write_and_read(
                queue_id, written, [entry.consumer_id for entry in answered]
            )
        except Exception as error:  # the changes are committed; Redis can wait
            await self._line_failed(queue_id, error)
            return [await self._state(entry, from_database=True) for entry in answered]
        return [await self._state(entry, read) for entry, read in zip(answered, reads, strict=True)]

    async def _state(
        self, entry: QueueEntry, read: LineRead | None = None, *, from_database: bool = False
    ) -> ConsumerState:
        position = None
        if entry.status is EntryStatus.QUEUED:
            if read is None and not from_database:
                read = await self._line.read(entry.queue_id, entry.consumer_id)
            if read is not None and read.ready and read.state is not None:
                position = read.state.position
            else:
                async with UnitOfWork(self._pool) as uow:
                    position = await uow.queue_entries.position(entry)
        return ConsumerState(
            queue_id=entry.queue_id,
            consumer_id=entry.consumer_id,
            status=entry.status.value,
            position=position
            if entry.status is EntryStatus.QUEUED
            else (0 if entry.status is EntryStatus.ADMITTED else None),
            entered_at=format_instant(entry.entered_at),
            admitted_at=None if entry.admitted_at is None else format_instant(entry.admitted_at),
            admission_token=entry.admission_token,
            deny_reason=entry.deny_reason,
        )

    def _rebuild_soon(self, queue_id: str) -> None:
        if queue_id in self._rebuilding:
            return
        self._rebuilding.add(queue_id)
        task = asyncio.create_task(self._rebuild(queue_id))
        task.add_done_callback(lambda _: self._rebuilding.discard(queue_id))

    async def _rebuild(self, queue_id: str) -> None:
        try:
            async with UnitOfWork(self._pool) as uow:
                done = await self._line.rebuild(queue_id, _entries(uow, queue_id))
            log.info("queue line rebuilt", queue=queue_id, done=done)
        except Exception as error:  # readers fall back to PostgreSQL meanwhile
            log.warning("queue line rebuild failed", queue=queue_id, error=repr(error))

    async def rebuild(self, queue_id: str) -> bool:
        """Rebuild one queue's line now (tests and operators)."""
        async with UnitOfWork(self._pool) as uow:
            return await self._line.rebuild(queue_id, _entries(uow, queue_id))


async def _entries(uow: UnitOfWork, queue_id: str) -> AsyncIterator[QueueEntry]:
    async for entry in uow.queue_entries.all_of_queue(queue_id):
        yield entry


def _judge_admission(
    claims: TokenClaims, consumer_id: str, entry: QueueEntry | None, fingerprint_hash: str | None
) -> ValidationResult:
    """The verdict on a genuine admission token, given the entry it should belong to."""
    if claims.subject != consumer_id:
        return _invalid("CONSUMER_MISMATCH", "TK005", "This admission belongs to another consumer.")
    if entry is not None and entry.status is EntryStatus.COMPLETED:
        return _invalid("ADMISSION_COMPLETED", "TK004", "This admission was already used.")
    if entry is None or entry.admission_token_id != claims.token_id:
        return _invalid("TOKEN_REVOKED", "TK003", "This admission is no longer valid.")
    if (
        fingerprint_hash is not None
        and claims.fingerprint_hash is not None
        and fingerprint_hash != claims.fingerprint_hash
    ):
        return ValidationResult(
            valid=False,
            error="DEVICE_MISMATCH",
            message=(
                "This access token can only be used on the device that originally "
                "entered the queue."
            ),
            code="FP002",
            confirmation_code=confirmation_code(claims.token_id),
        )
    return ValidationResult(valid=True)


def _invalid(error: str, code: str, message: str) -> ValidationResult:
    return ValidationResult(valid=False, error=error, message=message, code=code)


def _from_line(queue_id: str, consumer_id: str, state: LineState) -> ConsumerState:
    admitted = state.status is EntryStatus.ADMITTED
    return ConsumerState(
        queue_id=queue_id,
        consumer_id=consumer_id,
        status=state.status.value,
        position=state.position
        if state.status is EntryStatus.QUEUED
        else (0 if admitted else None),
        entered_at=state.entered_at,
        admitted_at=state.admitted_at,
        admission_token=state.admission_token,
        deny_reason=state.deny_reason,
    )
