"""Statements sent to PostgreSQL together and answered in one round trip, cheaply.

psycopg's pipeline mode sends statements together too, but does work in Python for each
statement as it is queued: it tries to send it and to read any answer at once, a
readiness check and a pass through its waiting generator every time, and one more for
the block's end. For an enter batch's two pipelines (six statements with the ``BEGIN``
and ``COMMIT``), that cost 0.92 ms of client CPU at the median in a loop on the
benchmark's machine, and 1.41 ms after 20 ms idle (as a lone enter finds the core),
against 0.36 and 0.62 ms sent as here (before statements were prepared): the hottest
path of a flash crowd pays it once a batch (docs/benchmarks.md).

A :class:`RoundTrip` queues statements in Python, then sends them all in libpq's
pipeline mode with one Sync, waits on the socket until the Sync's answer has come, and
leaves the connection as it found it, outside pipeline mode. Parameters are adapted and
rows loaded by psycopg's own adapters, as its cursors would. Each statement is prepared
on a connection the first time it is sent there (in the same round trip), so PostgreSQL
parses it once: unprepared, the batch's statements had lengthened each round trip. That
needs a connection on which psycopg prepares nothing itself (``prepare_threshold`` None,
as the services' pool makes them): psycopg deallocates every prepared statement after a
rollback if it had prepared any. On other connections statements go unnamed, parsed
each time, as they do beyond the first :data:`MAX_NAMED` of a connection.

A statement that fails makes the rest up to the Sync fail unrun, as in any pipeline; the
first failure is raised, as psycopg raises it, once every answer is in, and the
connection stays usable (its transaction failed, and a rollback ends it). A round trip
cut short (cancelled, or a broken connection) closes the connection, whose answers can no
longer be matched: the pool then replaces it.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import weakref
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from psycopg import AsyncConnection, abc, adapt
from psycopg import errors as e
from psycopg.adapt import PyFormat
from psycopg.pq import ExecStatus
from psycopg.pq.abc import PGconn

_PLACEHOLDER = re.compile(r"%(.)", re.DOTALL)

_Key = tuple[bytes, tuple[int, ...]]  # a query and its parameters' types
#: Statements a connection has prepared, by query and parameters' types: their names.
_named: weakref.WeakKeyDictionary[AsyncConnection, dict[_Key, bytes]] = weakref.WeakKeyDictionary()
_names = itertools.count(1)
#: The most statements one connection keeps prepared; others go unnamed, parsed each time.
MAX_NAMED = 64


@lru_cache(maxsize=256)
def numbered(query: str) -> bytes:
    """``query`` with psycopg's ``%s`` placeholders numbered as PostgreSQL's ``$1, $2, …``
    (and ``%%`` as ``%``); any other ``%`` sequence is refused."""
    count = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal count
        if match.group(1) == "%":
            return "%"
        if match.group(1) != "s":
            raise ValueError(f"only %s placeholders are supported, not %{match.group(1)}")
        count += 1
        return f"${count}"

    return _PLACEHOLDER.sub(replace, query).encode()


class Answer:
    """What one statement of a :class:`RoundTrip` answered, once the trip has run."""

    __slots__ = ("rowcount", "rows")

    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []
        #: Rows returned or affected (-1 until answered).
        self.rowcount = -1

    def one(self) -> tuple[Any, ...] | None:
        """The first row, or None."""
        return self.rows[0] if self.rows else None


class RoundTrip:
    """Statements on ``conn`` (idle, not in a pipeline), sent and answered together by
    :meth:`run`."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._queued: list[tuple[bytes, Sequence[Any], Answer]] = []

    def send(self, query: str, params: Sequence[Any] = ()) -> Answer:
        """Queue ``query`` (psycopg's ``%s`` placeholders) with ``params``; its
        :class:`Answer` is filled in by :meth:`run`."""
        answer = Answer()
        self._queued.append((numbered(query), params, answer))
        return answer

    async def run(self) -> None:
        """Send every queued statement and read every answer: one round trip. Raises the
        first statement's failure, as psycopg would."""
        queued, self._queued = self._queued, []
        if not queued:
            return
        conn = self._conn
        async with conn.lock:
            pgconn = conn.pgconn
            pgconn.enter_pipeline_mode()
            answered = False
            try:
                transformer = adapt.Transformer.from_context(conn)
                # psycopg deallocates every prepared statement of a connection after a
                # rollback if it prepared any itself: ours only where it prepares none.
                named = _named.setdefault(conn, {}) if conn.prepare_threshold is None else None
                answers: list[Answer] = []
                preparing: dict[_Key, tuple[bytes, Answer]] = {}
                for query, params, answer in queued:
                    values, formats = None, None
                    types: tuple[int, ...] = ()
                    if params:
                        values = transformer.dump_sequence(params, [PyFormat.AUTO] * len(params))
                        types, formats = tuple(transformer.types or ()), transformer.formats
                    name = _prepared(pgconn, named, preparing, answers, (query, types))
                    if name is None:  # unnamed: parsed for this execution alone
                        pgconn.send_query_params(query, values, types, formats)
                    else:
                        pgconn.send_query_prepared(name, values, formats)
                    answers.append(answer)
                pgconn.pipeline_sync()
                await _flushed(conn)
                failure = await _answers(conn, transformer, answers)
                answered = True
            finally:
                if answered:
                    pgconn.exit_pipeline_mode()
                else:  # answers still on their way cannot be told apart from the next ones
                    pgconn.finish()
            for key, (name, prepared) in preparing.items():
                if prepared.rowcount >= 0 and named is not None:  # (not if it was aborted)
                    named[key] = name
        if failure is not None:
            raise failure


def _prepared(
    pgconn: PGconn,
    named: dict[_Key, bytes] | None,
    preparing: dict[_Key, tuple[bytes, Answer]],
    answers: list[Answer],
    key: _Key,
) -> bytes | None:
    """The name to run ``key`` under, prepared first in this round trip when it is new
    (its answer then comes first); None to send it unnamed."""
    if named is None:
        return None
    if key in named:
        return named[key]
    if key in preparing:
        return preparing[key][0]
    if len(named) + len(preparing) >= MAX_NAMED:
        return None
    name = f"fanfare_{next(_names)}".encode()
    pgconn.send_prepare(name, key[0], key[1])
    preparing[key] = (name, Answer())
    answers.append(preparing[key][1])
    return name


async def _flushed(conn: AsyncConnection) -> None:
    """Wait until libpq has written everything it holds (at once, as a rule)."""
    pgconn = conn.pgconn
    while pgconn.flush():
        loop = asyncio.get_running_loop()
        writable: asyncio.Future[None] = loop.create_future()
        loop.add_writer(pgconn.socket, _settle, writable)
        try:
            await writable
        finally:
            loop.remove_writer(pgconn.socket)


async def _answers(
    conn: AsyncConnection, transformer: abc.Transformer, answers: list[Answer]
) -> e.Error | None:
    """Read the answers of the statements sent, in order, up to the Sync's; return the
    first failure. One reader is registered for the whole wait."""
    pgconn = conn.pgconn
    loop = asyncio.get_running_loop()
    readable: asyncio.Future[None] = loop.create_future()

    def woken() -> None:
        _settle(readable)  # the future of the current wait

    failure: e.Error | None = None
    index = 0  # the statement whose answer comes next
    loop.add_reader(pgconn.socket, woken)
    try:
        while True:
            pgconn.consume_input()
            while not pgconn.is_busy():
                result = pgconn.get_result()
                if result is None:  # the end of one statement's answer
                    index += 1
                    continue
                status = result.status
                if status == ExecStatus.PIPELINE_SYNC:
                    if index != len(answers):
                        raise e.InternalError(f"{index} answers to {len(answers)} statements")
                    return failure
                if status == ExecStatus.TUPLES_OK:
                    transformer.set_pgresult(result)
                    answers[index].rows = transformer.load_rows(0, result.ntuples, tuple)
                    answers[index].rowcount = result.ntuples
                elif status == ExecStatus.COMMAND_OK:
                    answers[index].rowcount = int(result.command_tuples or 0)
                elif status == ExecStatus.FATAL_ERROR and failure is None:
                    failure = e.error_from_result(result, encoding=conn.info.encoding)
                elif status not in (ExecStatus.FATAL_ERROR, ExecStatus.PIPELINE_ABORTED):
                    unexpected = ExecStatus(status).name
                    raise e.InternalError(f"unexpected answer in a round trip: {unexpected}")
            readable = loop.create_future()
            await readable
    finally:
        loop.remove_reader(pgconn.socket)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
