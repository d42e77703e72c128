"""Statements sent together in one round trip (``RoundTrip``), against a real PostgreSQL:
answers as psycopg's cursors would give them, failures as psycopg raises them, statements
prepared once per connection, and a trip cut short never leaving a connection that
answers the wrong statements."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from psycopg import AsyncConnection
from psycopg.errors import DivisionByZero, UndefinedTable, UniqueViolation
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool

from fanfare_core.adapters.postgres import round_trip
from fanfare_core.adapters.postgres.round_trip import RoundTrip
from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.ids import new_id
from fanfare_testing import counting_round_trips, one_connection

Pool = AsyncConnectionPool[AsyncConnection]


@pytest.fixture
async def single(settings) -> AsyncIterator[Pool]:  # type: ignore[no-untyped-def]
    async with one_connection(settings) as pool:
        yield pool


@pytest.fixture
async def conn(single: Pool) -> AsyncIterator[AsyncConnection]:
    async with single.connection() as conn:
        await conn.set_autocommit(True)
        yield conn


QUERY = (
    "SELECT %s::int, %s::text, %s::timestamptz, %s::numeric, %s::text[], %s::json,"
    " %s::int IS NULL, '100%%'"
)


async def test_answers_are_what_psycopg_cursors_give(conn: AsyncConnection) -> None:
    at = datetime(2026, 12, 6, 21, 0, tzinfo=UTC)
    params = (7, "café", at, Decimal("12.50"), ["a", "b"], '{"k": 1}', None)
    trip = RoundTrip(conn)
    typed = trip.send(QUERY, params)
    rows = trip.send("SELECT g FROM generate_series(1, %s) AS g", (3,))
    await trip.run()
    cur = await conn.execute(QUERY, params)
    assert typed.rows == await cur.fetchall()
    assert typed.rows == [(7, "café", at, Decimal("12.50"), ["a", "b"], {"k": 1}, True, "100%")]
    assert (rows.rows, rows.rowcount, rows.one()) == ([(1,), (2,), (3,)], 3, (1,))


async def test_every_statement_goes_in_one_round_trip(conn: AsyncConnection) -> None:
    await conn.execute("CREATE TEMPORARY TABLE trip_rows (id text PRIMARY KEY, n int)")
    trip = RoundTrip(conn)
    trip.send("BEGIN")
    inserted = trip.send("INSERT INTO trip_rows VALUES ('a', 1), ('b', 2), ('c', 3)")
    updated = trip.send("UPDATE trip_rows SET n = n + 1 WHERE n > %s", (1,))
    counted = trip.send("SELECT sum(n) FROM trip_rows")
    trip.send("COMMIT")
    with counting_round_trips(conn) as trips:
        await trip.run()
    assert trips.count == 1
    assert trips.completed == ["BEGIN", "INSERT 0 3", "UPDATE 2", "SELECT 1", "COMMIT"]
    assert (inserted.rowcount, updated.rowcount, counted.rows) == (3, 2, [(8,)])
    assert conn.info.transaction_status is TransactionStatus.IDLE
    with counting_round_trips(conn) as again:
        await trip.run()  # what ran is not sent twice
    assert again.messages == []


async def prepared_here(conn: AsyncConnection) -> int:
    cur = await conn.execute(
        "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'fanfare\\_%%'"
    )
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def test_a_statement_is_prepared_once_per_connection(conn: AsyncConnection) -> None:
    query = "SELECT %s::text || ' prepared once'"
    before = await prepared_here(conn)
    for words in (("first", "again"), ("second", "third")):
        trip = RoundTrip(conn)
        answers = [trip.send(query, (word,)) for word in words]  # twice in one trip
        with counting_round_trips(conn) as trips:
            await trip.run()
        assert [answer.rows for answer in answers] == [[(f"{w} prepared once",)] for w in words]
        parsed = [rest for way, name, rest in trips.messages if (way, name) == ("F", "Parse")]
        assert len(parsed) == (1 if words[0] == "first" else 0)
    assert await prepared_here(conn) == before + 1


async def test_a_failure_is_raised_after_every_answer_and_stops_what_follows(
    conn: AsyncConnection,
) -> None:
    trip = RoundTrip(conn)
    trip.send("BEGIN")
    before = trip.send("SELECT 1")
    trip.send("SELECT 1 / %s", (0,))
    after = trip.send("SELECT 'never run, never prepared'")
    with pytest.raises(DivisionByZero):
        await trip.run()
    assert (before.rows, after.rowcount) == ([(1,)], -1)
    assert conn.info.transaction_status is TransactionStatus.INERROR
    await conn.rollback()
    # The statement aborted before it was prepared is prepared when it is sent again.
    trip = RoundTrip(conn)
    again = trip.send("SELECT 'never run, never prepared'")
    await trip.run()
    assert again.rows == [("never run, never prepared",)]


async def test_a_failure_is_psycopgs_own_error(conn: AsyncConnection) -> None:
    trip = RoundTrip(conn)
    trip.send("SELECT * FROM no_such_table_anywhere")
    with pytest.raises(UndefinedTable) as raised:
        await trip.run()
    assert raised.value.sqlstate == "42P01"
    assert "no_such_table_anywhere" in str(raised.value)


async def test_only_percent_s_placeholders_are_taken(conn: AsyncConnection) -> None:
    trip = RoundTrip(conn)
    with pytest.raises(ValueError, match="only %s placeholders"):
        trip.send("SELECT %(name)s", {"name": 1})  # type: ignore[arg-type]


async def test_a_trip_cut_short_closes_the_connection_and_the_pool_replaces_it(
    single: Pool,
) -> None:
    async with UnitOfWork(single) as uow:
        first = uow.connection
        trip = await uow.round_trip()
        trip.send("SELECT pg_sleep(5)")
        running = asyncio.ensure_future(trip.run())
        await asyncio.sleep(0.2)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        assert first.closed  # its answer would have met the next statement
    async with UnitOfWork(single) as uow:
        assert uow.connection is not first
        trip = await uow.round_trip()
        answer = trip.send("SELECT %s::text", ("served",))
        await uow.commit_in(trip)
        assert answer.rows == [("served",)]


async def test_a_round_trips_commit_keeps_what_it_wrote(single: Pool, tenant) -> None:  # type: ignore[no-untyped-def]
    organization = new_id("org")
    insert = (
        "INSERT INTO organizations (id, name, time_zone, currency_code, created_at)"
        " VALUES (%s, 'Kept', 'UTC', 'USD', now())"
    )
    async with UnitOfWork(single) as uow:
        trip = await uow.round_trip()
        trip.send(insert, (organization,))
        await uow.commit_in(trip)
    async with UnitOfWork(single) as uow:
        trip = await uow.round_trip()
        trip.send(insert, (organization,))  # a second time: refused, nothing changes
        with pytest.raises(UniqueViolation):
            await uow.commit_in(trip)
    async with single.connection() as conn:
        cur = await conn.execute("SELECT name FROM organizations WHERE id = %s", (organization,))
        assert await cur.fetchall() == [("Kept",)]


async def prepare_then_fail(pool: Pool, query: str) -> None:
    """A unit of work whose round trip prepares ``query``, and which then fails."""
    async with UnitOfWork(pool) as uow:
        trip = await uow.round_trip()
        first = trip.send(query, (1,))
        await trip.run()
        assert first.rows == [(2,)]
        await uow.connection.execute("SELECT 1 / 0")  # the unit of work rolls back


async def test_prepared_statements_outlive_a_rollback(single: Pool) -> None:
    """psycopg's cleanup after a rollback (``DEALLOCATE ALL`` once it has prepared
    statements itself) must not take the round trips' with it: the pool's connections
    leave preparing to them."""
    query = "SELECT %s::int + 1"
    async with single.connection() as conn:
        assert conn.prepare_threshold is None
        for _ in range(6):  # enough for psycopg to prepare it, were it to
            await conn.execute(query, (1,))
    with pytest.raises(DivisionByZero):
        await prepare_then_fail(single, query)
    async with UnitOfWork(single) as uow:
        trip = await uow.round_trip()
        again = trip.send(query, (2,))
        with counting_round_trips(uow.connection) as trips:
            await trip.run()
        assert again.rows == [(3,)]
    assert [name for way, name, _ in trips.messages if way == "F"].count("Parse") == 0


async def test_a_connection_that_prepares_for_psycopg_is_sent_statements_unprepared(
    settings,  # type: ignore[no-untyped-def]
) -> None:
    """Statements prepared there would be lost to psycopg's cleanup after a rollback, and
    their names with it: sent unnamed, they leave nothing behind."""
    async with await AsyncConnection.connect(settings.database_url, autocommit=True) as conn:
        assert conn.prepare_threshold is not None
        for value in (1, 2):
            trip = RoundTrip(conn)
            trip.send("BEGIN")
            answer = trip.send("SELECT %s::int * 10", (value,))
            trip.send("COMMIT")
            await trip.run()
            assert answer.rows == [(value * 10,)]
        for _ in range(6):
            await conn.execute("SELECT %s::int", (1,))  # psycopg prepares it
        await conn.execute("BEGIN")
        await conn.rollback()  # psycopg: DEALLOCATE ALL
        trip = RoundTrip(conn)
        answer = trip.send("SELECT %s::int * 10", (3,))
        await trip.run()
        assert answer.rows == [(30,)]
        assert await prepared_here(conn) == 0


async def test_beyond_the_most_kept_prepared_statements_go_unnamed(
    conn: AsyncConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = await prepared_here(conn)
    monkeypatch.setattr(round_trip, "MAX_NAMED", len(round_trip._named.get(conn, {})) + 1)
    trip = RoundTrip(conn)
    answers = [trip.send(f"SELECT %s::int + {n}", (1,)) for n in (10, 20, 30)]
    await trip.run()
    assert [answer.rows for answer in answers] == [[(11,)], [(21,)], [(31,)]]
    assert await prepared_here(conn) == before + 1  # the first kept, the others unnamed
