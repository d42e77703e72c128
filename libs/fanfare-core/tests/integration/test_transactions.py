"""Round trips to PostgreSQL: each round trip of a unit of work is one, with its BEGIN and
its COMMIT (psycopg alone would add a round trip for each)."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from psycopg import AsyncConnection
from psycopg.errors import UniqueViolation
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool

from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.adapters.redis.client import open_redis
from fanfare_core.adapters.redis.queue_line import QueueLine
from fanfare_core.auth.signing_keys import KeyRing, new_signing_key
from fanfare_core.auth.tokens import TokenService
from fanfare_core.clock import SystemClock
from fanfare_core.domain.distributions import DistributionChanges, Kind
from fanfare_core.ids import new_id
from fanfare_core.service_layer.distributions import create_distribution
from fanfare_core.service_layer.queues import QueueDirectory, QueueService
from fanfare_testing import counting_round_trips, distribution_updated, one_connection

Pool = AsyncConnectionPool[AsyncConnection]


@pytest.fixture
async def single(settings) -> AsyncIterator[Pool]:  # type: ignore[no-untyped-def]
    async with one_connection(settings) as pool:
        yield pool


async def the_connection(pool: Pool) -> AsyncConnection:
    async with pool.connection() as conn:
        return conn


async def events_of(pool: Pool, organization_id: str) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM outbox WHERE subject LIKE %s", (f"%.{organization_id}.%",)
        )
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def test_a_round_trip_that_begins_and_one_that_commits_are_two_round_trips(
    single, tenant
) -> None:  # type: ignore[no-untyped-def]
    conn = await the_connection(single)
    with counting_round_trips(conn) as trips:
        async with UnitOfWork(single) as uow:
            trip = await uow.round_trip()
            first = trip.send("SELECT 1")
            txid = trip.send("SELECT txid_current()")
            await trip.run()
            assert first.rows == [(1,)]
            assert uow.connection.info.transaction_status is TransactionStatus.INTRANS
            trip = await uow.round_trip()
            again = trip.send("SELECT txid_current()")
            uow.record(distribution_updated(tenant.organization_id))
            await uow.commit_in(trip)
            assert again.rows == txid.rows  # one transaction throughout
    assert trips.count == 2
    # The BEGIN, two reads; a read, the events, the COMMIT.
    assert trips.completed == ["BEGIN", "SELECT 1", "SELECT 1", "SELECT 1", "SELECT 1", "COMMIT"]
    assert not conn.autocommit  # psycopg's own transactions again
    assert await events_of(single, tenant.organization_id) == 1


async def test_a_commit_alone_is_one_round_trip(single, tenant) -> None:  # type: ignore[no-untyped-def]
    async with UnitOfWork(single) as uow:
        await uow.connection.execute("SELECT 1")  # psycopg's BEGIN, then the statement
        uow.record(distribution_updated(tenant.organization_id))
        with counting_round_trips(uow.connection) as trips:
            await uow.commit()
        assert uow.connection.info.transaction_status is TransactionStatus.IDLE
    assert trips.count == 1
    assert await events_of(single, tenant.organization_id) == 1


async def test_a_commit_with_nothing_done_sends_nothing(single) -> None:  # type: ignore[no-untyped-def]
    async with UnitOfWork(single) as uow:
        with counting_round_trips(uow.connection) as trips:
            await uow.commit()
    assert trips.messages == []


async def test_leaving_without_a_commit_rolls_back_and_restores_the_connection(single) -> None:  # type: ignore[no-untyped-def]
    organization = new_id("org")
    async with UnitOfWork(single) as uow:
        trip = await uow.round_trip()
        trip.send(
            "INSERT INTO organizations (id, name, time_zone, currency_code, created_at)"
            " VALUES (%s, 'Rolled back', 'UTC', 'USD', now())",
            (organization,),
        )
        await trip.run()
        assert uow.connection.autocommit  # its BEGIN was ours
    conn = await the_connection(single)
    assert not conn.autocommit
    async with single.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM organizations WHERE id = %s", (organization,)
        )
        assert await cur.fetchone() == (0,)


async def insert_twice(pool: Pool, organization: str) -> None:
    async with UnitOfWork(pool) as uow:
        trip = await uow.round_trip()
        for _ in range(2):
            trip.send(
                "INSERT INTO organizations (id, name, time_zone, currency_code, created_at)"
                " VALUES (%s, 'Twice', 'UTC', 'USD', now())",
                (organization,),
            )
        await uow.commit_in(trip)


async def test_a_failed_round_trip_rolls_back_and_the_connection_serves_the_next(single) -> None:  # type: ignore[no-untyped-def]
    organization = new_id("org")
    with pytest.raises(UniqueViolation):
        await insert_twice(single, organization)
    async with UnitOfWork(single) as uow:
        cur = await uow.connection.execute(
            "SELECT count(*) FROM organizations WHERE id = %s", (organization,)
        )
        assert await cur.fetchone() == (0,)
        assert not uow.connection.autocommit


async def test_a_batch_of_enters_takes_two_round_trips_to_postgresql(
    single, settings, tenant
) -> None:  # type: ignore[no-untyped-def]
    """The batch's locks and arrival numbers (with its BEGIN), then its rows, events and
    COMMIT: the two waits every enter of a crowd has on PostgreSQL."""
    redis = open_redis(settings.redis_url, max_connections=4)
    service = QueueService(
        pool=single, line=QueueLine(redis), directory=QueueDirectory(single, ttl_seconds=60),
        tokens=lambda: TokenService(KeyRing((new_signing_key(datetime.now(UTC)),)), "fanfare"),
        clock=SystemClock(),
    )  # fmt: skip
    queue = await create_distribution(
        UnitOfWork(single), SystemClock(), tenant.principal, Kind.QUEUE,
        sequence_id=tenant.sequence_id,
        changes=DistributionChanges(open_at="2020-01-01T00:00:00Z"),
    )  # fmt: skip
    org = tenant.organization_id
    try:
        await service.enter(org, queue.id, new_id("cons"), None)  # the directory is read
        await service.rebuild(queue.id)  # positions come from the Redis line, as on launch day
        conn = await the_connection(single)
        crowd = [new_id("cons") for _ in range(3)]
        with counting_round_trips(conn) as trips:
            entered = await asyncio.gather(*(service.enter(org, queue.id, c, None) for c in crowd))
        assert [state.position for state in entered] == [2, 3, 4]  # one batch, in order
        assert trips.count == 2
        # Locks (none held yet), three arrival numbers, the rows, the places (no counter:
        # the queue has no cap), the events, and the COMMIT.
        assert trips.completed == [
            "BEGIN", "SELECT 0", "SELECT 3", "INSERT 0 3", "UPDATE 0", "SELECT 1", "COMMIT"
        ]  # fmt: skip
    finally:
        await redis.aclose()


async def test_a_connection_left_in_autocommit_mode_leaves_the_pool_without_it(settings) -> None:  # type: ignore[no-untyped-def]
    """Should an explicit transaction end without handing the connection back (an error
    on the way), the pool undoes it as it hands the connection out: its next user gets
    psycopg's transactions."""
    async with one_connection(settings) as pool:
        conn = await pool.getconn()
        await conn.set_autocommit(True)
        await pool.putconn(conn)
        async with pool.connection() as again:
            assert again is conn
            assert not again.autocommit
