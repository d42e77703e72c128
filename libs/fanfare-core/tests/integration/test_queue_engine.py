"""The queue engine against real PostgreSQL and Redis: exact FIFO, capacity, rebuilds."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.adapters.redis.client import FanfareRedis, open_redis
from fanfare_core.adapters.redis.queue_line import QueueLine
from fanfare_core.adapters.redis.rate_limit import RateLimits
from fanfare_core.auth.signing_keys import KeyRing, new_signing_key
from fanfare_core.auth.tokens import TokenService
from fanfare_core.clock import SystemClock
from fanfare_core.domain.distributions import DistributionChanges, Kind
from fanfare_core.domain.errors import NotFound, TooManyRequests
from fanfare_core.domain.queues import DenyReason, QueueClosed, QueueFull, QueueNotOpenYet
from fanfare_core.ids import new_id
from fanfare_core.service_layer import catalog
from fanfare_core.service_layer.distributions import create_distribution, update_distribution
from fanfare_core.service_layer.queues import QueueDirectory, QueueService
from fanfare_testing import queued_in_arrival_order

TOKENS = TokenService(KeyRing((new_signing_key(datetime.now(UTC)),)), "fanfare")


@pytest.fixture
async def redis(settings) -> AsyncIterator[FanfareRedis]:  # type: ignore[no-untyped-def]
    client = open_redis(settings.redis_url, max_connections=8)
    yield client
    await client.aclose()


@pytest.fixture
def service(pool, redis) -> QueueService:  # type: ignore[no-untyped-def]
    return QueueService(
        pool=pool,
        line=QueueLine(redis),
        directory=QueueDirectory(pool, ttl_seconds=0),
        tokens=lambda: TOKENS,
        clock=SystemClock(),
    )


async def open_queue(pool, tenant, **changes: object) -> str:  # type: ignore[no-untyped-def]
    queue = await create_distribution(
        UnitOfWork(pool),
        SystemClock(),
        tenant.principal,
        Kind.QUEUE,
        sequence_id=changes.pop("sequence_id", tenant.sequence_id),  # type: ignore[arg-type]
        changes=DistributionChanges(open_at="2020-01-01T00:00:00Z", **changes),  # type: ignore[arg-type]
    )
    return queue.id


def consumers(count: int) -> list[str]:
    return [new_id("cons") for _ in range(count)]


async def line_of(service: QueueService, pool, tenant, people: list[str]) -> str:  # type: ignore[no-untyped-def]
    """A new open queue these consumers entered one after the other, its Redis line
    rebuilt (ready): answers come from Redis."""
    queue = await open_queue(pool, tenant)
    for person in people:
        await service.enter(tenant.organization_id, queue, person, None)
    await service.rebuild(queue)
    return queue


async def test_positions_are_exact_and_fifo(service, pool, tenant) -> None:  # type: ignore[no-untyped-def]
    org = tenant.organization_id
    queue = await open_queue(pool, tenant)
    people = consumers(5)
    for expected, person in enumerate(people, start=1):
        assert (await service.enter(org, queue, person, None)).position == expected
    # Entering again keeps the place.
    assert (await service.enter(org, queue, people[2], None)).position == 3
    # Someone ahead leaves: everyone behind moves up.
    left = await service.leave(org, queue, people[1])
    assert (left.status, left.position) == ("LEFT", None)
    assert [(await service.status(org, queue, p)).position for p in people[2:]] == [2, 3, 4]
    # Leaving and entering again goes to the back.
    assert (await service.enter(org, queue, people[1], None)).position == 5
    # Admission removes one from the line and issues a token bound to the queue.
    admitted = await service.admit(org, queue, people[0])
    assert (admitted.status, admitted.position) == ("ADMITTED", 0)
    assert admitted.admission_token is not None
    claims = TOKENS.verify(
        admitted.admission_token, audience=queue, token_type="admission", now=datetime.now(UTC)
    )
    assert claims.subject == people[0]
    assert (await service.status(org, queue, people[2])).position == 1
    with pytest.raises(NotFound, match="Consumer not in queue"):
        await service.leave(org, queue, consumers(1)[0])


async def test_time_rules_hold_without_the_scheduler(service, pool, tenant) -> None:  # type: ignore[no-untyped-def]
    org = tenant.organization_id
    future = await create_distribution(
        UnitOfWork(pool), SystemClock(), tenant.principal, Kind.QUEUE,
        sequence_id=tenant.sequence_id,
        changes=DistributionChanges(open_at="2099-01-01T00:00:00Z"),
    )  # fmt: skip
    with pytest.raises(QueueNotOpenYet) as not_yet:
        await service.enter(org, future.id, consumers(1)[0], None)
    assert not_yet.value.opens_at == datetime(2099, 1, 1, tzinfo=UTC)
    closed = await open_queue(pool, tenant, close_at="2021-01-01T00:00:00Z")
    with pytest.raises(QueueClosed):
        await service.enter(org, closed, consumers(1)[0], None)
    with pytest.raises(NotFound, match="Queue not found"):
        await service.enter("org_other", closed, consumers(1)[0], None)


async def test_capacity_is_never_exceeded_under_concurrency(service, pool, tenant) -> None:  # type: ignore[no-untyped-def]
    org = tenant.organization_id
    queue = await open_queue(pool, tenant, max_capacity=20)
    people = consumers(120)

    async def attempt(person: str) -> str | None:
        try:
            return (await service.enter(org, queue, person, None)).consumer_id
        except QueueFull:
            return None

    admitted = [p for p in await asyncio.gather(*(attempt(p) for p in people)) if p]
    assert len(admitted) == 20
    positions = sorted([(await service.status(org, queue, p)).position or 0 for p in admitted])
    assert positions == list(range(1, 21))
    # A place frees when someone leaves.
    await service.leave(org, queue, admitted[0])
    assert (await service.enter(org, queue, people[-1], None)).position == 20


async def test_order_limit_denies_at_the_door(service, pool, tenant) -> None:  # type: ignore[no-untyped-def]
    org = tenant.organization_id
    limited = await catalog.create_sequence(
        UnitOfWork(pool), SystemClock(), tenant.principal,
        experience_id=tenant.experience_id, name="One each", order_limit=1,
    )  # fmt: skip
    first = await open_queue(pool, tenant, sequence_id=limited.id)
    second = await open_queue(pool, tenant, sequence_id=limited.id)
    buyer = consumers(1)[0]
    await service.enter(org, first, buyer, None)
    await service.admit(org, first, buyer)
    await service.complete(org, first, buyer)
    denied = await service.enter(org, second, buyer, None)
    assert (denied.status, denied.deny_reason, denied.position) == (
        "DENIED", "ORDER_LIMIT_EXCEEDED", None,
    )  # fmt: skip
    # A fraud denial sticks; entering again does not undo it.
    other = consumers(1)[0]
    await service.enter(org, second, other, None)
    await service.deny(org, second, other, DenyReason.FRAUD_DETECTED)
    assert (await service.enter(org, second, other, None)).deny_reason == "FRAUD_DETECTED"


async def test_the_line_is_rebuilt_from_postgres_after_redis_loses_it(
    service, pool, tenant, redis
) -> None:  # type: ignore[no-untyped-def]
    org = tenant.organization_id
    queue = await open_queue(pool, tenant)
    people = consumers(30)
    for person in people:
        await service.enter(org, queue, person, None)
    await service.leave(org, queue, people[4])
    await service.admit(org, queue, people[0])
    expected = {p: await service.status(org, queue, p) for p in people}
    keys = [key async for key in redis.scan_iter(match=f"fq:{{{queue}}}:*")]
    await redis.delete(*keys)
    # Answers come from PostgreSQL at once, and the line is rebuilt behind them.
    assert {p: await service.status(org, queue, p) for p in people} == expected

    async def rebuilt() -> None:
        while not await redis.exists(f"fq:{{{queue}}}:ready"):  # noqa: ASYNC110 - polls Redis
            await asyncio.sleep(0.02)

    await asyncio.wait_for(rebuilt(), timeout=10)
    line = QueueLine(redis)
    for person in people:
        read = await line.read(queue, person)
        assert read.ready
        assert read.state is not None
        assert read.state.status.value == expected[person].status
        if expected[person].status == "QUEUED":
            assert read.state.position == expected[person].position
    assert {p: await service.status(org, queue, p) for p in people} == expected
    assert (await service.enter(org, queue, consumers(1)[0], None)).position == 29


class NoDatabase:
    """Stands in for the pool: any use fails the test."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the status poll used the database ({name})")


async def command_counts(redis: FanfareRedis) -> dict[str, int]:
    stats = await redis.info("commandstats")
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}


def commands_since(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    counted = {name: calls - before.get(name, 0) for name, calls in after.items()}
    return {name: calls for name, calls in counted.items() if calls and name != "info"}


async def test_a_status_poll_is_one_redis_round_trip_and_no_database_query(
    pool, tenant, private_valkey
) -> None:  # type: ignore[no-untyped-def]
    redis = open_redis(private_valkey.url, max_connections=8)  # nothing else talks to this one
    service = QueueService(
        pool=pool,
        line=QueueLine(redis),
        directory=QueueDirectory(pool, ttl_seconds=60),
        tokens=lambda: TOKENS,
        clock=SystemClock(),
    )
    org = tenant.organization_id
    people = consumers(3)
    queue = await line_of(service, pool, tenant, people)
    await service.status(org, queue, people[0])  # warms the queue directory
    service._pool = NoDatabase()  # type: ignore[assignment]
    service.directory._pool = NoDatabase()  # type: ignore[assignment]

    before = await command_counts(redis)
    states = [await service.status(org, queue, p) for p in people]
    one_by_one = commands_since(before, await command_counts(redis))
    assert [s.position for s in states] == [1, 2, 3]
    # One script call per poll (the only command sent), reading EXISTS + HMGET + ZRANK.
    assert one_by_one == {"evalsha": 3, "exists": 3, "hmget": 3, "zrank": 3}

    before = await command_counts(redis)
    together = await asyncio.gather(*(service.status(org, queue, p) for p in people))
    batched = commands_since(before, await command_counts(redis))
    assert [s.position for s in together] == [1, 2, 3]
    # Polls of one queue asked in the same turn of the event loop share one round trip.
    assert batched == {"evalsha": 1, "exists": 1, "hmget": 3, "zrank": 3}
    await redis.aclose()


# -- enters taken in batches ----------------------------------------------------------------


async def test_simultaneous_enters_are_answered_their_exact_positions(
    service, pool, tenant
) -> None:  # type: ignore[no-untyped-def]
    """With the Redis line ready, a crowd entering at once (several batches) is answered
    each consumer's own place in the recorded arrival order, not just a permutation."""
    org = tenant.organization_id
    early = consumers(5)
    queue = await line_of(service, pool, tenant, early)
    crowd = consumers(600)  # more than one batch holds
    states = await asyncio.gather(*(service.enter(org, queue, c, None) for c in crowd))
    answered = {state.consumer_id: state.position for state in states}
    order = await queued_in_arrival_order(pool, queue)
    assert order[:5] == early
    assert [answered[c] for c in order[5:]] == list(range(6, 606))
    polled = [(await service.status(org, queue, c)).position for c in order]
    assert polled == list(range(1, 606))


async def test_the_same_consumer_twice_in_a_batch_enters_once(service, pool, tenant) -> None:  # type: ignore[no-untyped-def]
    org = tenant.organization_id
    queue = await open_queue(pool, tenant)
    person, other = consumers(2)
    states = await asyncio.gather(
        service.enter(org, queue, person, None),
        service.enter(org, queue, other, None),
        service.enter(org, queue, person, None),
    )
    assert states[0] == states[2]
    # Which of the two reaches the batch first is the event loop's affair (each looks the
    # queue up first); whoever did is first in the record and was told so.
    order = await queued_in_arrival_order(pool, queue)
    assert sorted(order) == sorted([person, other])
    assert {s.consumer_id: s.position for s in states} == {order[0]: 1, order[1]: 2}
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM outbox WHERE subject LIKE %s",
            (f"%.{queue}.queue.consumer.entered",),
        )
        assert await cur.fetchone() == (2,)


async def test_a_lapsed_admission_entering_again_frees_its_old_place(service, pool, tenant) -> None:  # type: ignore[no-untyped-def]
    """A consumer whose admission ran out (not yet swept) enters again: the old place is
    freed, not counted twice, so the cap still lets exactly as many in."""
    org = tenant.organization_id
    queue = await open_queue(pool, tenant, max_capacity=2)
    lapsed, second, third = consumers(3)
    await service.enter(org, queue, lapsed, None)
    await service.admit(org, queue, lapsed)
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE queue_entries SET expires_at = now() - interval '1 second'"
            " WHERE queue_id = %s AND consumer_id = %s",
            (queue, lapsed),
        )
    again = await service.enter(org, queue, lapsed, None)
    assert (again.status, again.position) == ("QUEUED", 1)
    assert (await service.enter(org, queue, second, None)).position == 2
    with pytest.raises(QueueFull):
        await service.enter(org, queue, third, None)
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT holding FROM queue_holdings WHERE queue_id = %s", (queue,))
        assert await cur.fetchone() == (2,)
        cur = await conn.execute(
            "SELECT payload FROM outbox WHERE subject LIKE %s ORDER BY position",
            (f"%.{queue}.queue.consumer.left",),
        )
        left = [bytes(row[0]) for row in await cur.fetchall()]
    assert len(left) == 1
    assert b"SESSION_EXPIRED" in left[0]


async def test_the_gate_stops_enters_over_their_limits_and_the_line_shows_no_gap(
    pool, redis, tenant
) -> None:  # type: ignore[no-untyped-def]
    limits = RateLimits(redis, window_seconds=60)
    address = new_id("addr")

    async def gate(enters):  # type: ignore[no-untyped-def]
        # One enter per consumer and minute, four per address: as the consumer API's
        # limits, smaller.
        return await limits.wait_seconds_many(
            [[(f"c:{consumer}", 1), (f"a:{where}", 4)] for consumer, where in enters]
        )

    service = QueueService(
        pool=pool, line=QueueLine(redis), directory=QueueDirectory(pool, ttl_seconds=60),
        tokens=lambda: TOKENS, clock=SystemClock(), gate=gate,
    )  # fmt: skip
    org = tenant.organization_id
    queue = await open_queue(pool, tenant)
    await service.directory.get(org, queue)  # known: the enters below arrive in order
    first, second, third, fourth = consumers(4)
    # The first consumer clicks twice (the second click is over its own limit, and counts
    # against the address as every enter does); the fourth is the address's fifth enter.
    outcomes = await asyncio.gather(
        *(service.enter(org, queue, c, None, address=address)
          for c in (first, first, second, third, fourth)),
        return_exceptions=True,
    )  # fmt: skip
    placed = [o for o in outcomes if not isinstance(o, BaseException)]
    stopped = [o for o in outcomes if isinstance(o, TooManyRequests)]
    assert [(o.consumer_id, o.position) for o in placed] == [(first, 1), (second, 2), (third, 3)]
    assert [outcomes.index(o) for o in stopped] == [1, 4]
    assert all(1 <= o.retry_after_seconds <= 60 for o in stopped)
    # Stopped enters wrote nothing; the arrival number drawn for the fourth is a gap
    # positions never show.
    assert await queued_in_arrival_order(pool, queue) == [first, second, third]
    other = new_id("cons")
    later = await service.enter(org, queue, other, None, address=new_id("addr"))
    assert later.position == 4


class HeldDirectory(QueueDirectory):
    """The directory with each lookup counted and held, once read, until its gate opens."""

    def __init__(self, pool, ttl_seconds: float) -> None:  # type: ignore[no-untyped-def]
        super().__init__(pool, ttl_seconds)
        self.gates: list[asyncio.Event] = []

    async def _load(self, organization_id: str, queue_id: str):  # type: ignore[no-untyped-def]
        gate = asyncio.Event()
        self.gates.append(gate)
        info = await super()._load(organization_id, queue_id)
        await gate.wait()
        return info

    async def let_through(self, *loads: int) -> None:
        for load in loads:
            self.gates[load].set()
            await asyncio.sleep(0.01)


async def test_a_crowd_missing_the_queue_together_shares_one_lookup(pool, tenant) -> None:  # type: ignore[no-untyped-def]
    org, queue = tenant.organization_id, await open_queue(pool, tenant, name="Shared")
    directory = HeldDirectory(pool, ttl_seconds=60)
    crowd = [asyncio.create_task(directory.get(org, queue)) for _ in range(50)]
    await asyncio.sleep(0.05)
    assert len(directory.gates) == 1
    await directory.let_through(0)
    infos = await asyncio.gather(*crowd)
    assert {info.queue.name for info in infos} == {"Shared"}
    await directory.get(org, queue)  # remembered
    assert len(directory.gates) == 1
    # An unknown queue is looked up once too, and each caller is told it is not there.
    unknown = new_id("q")
    lost = [asyncio.create_task(directory.get(org, unknown)) for _ in range(3)]
    await asyncio.sleep(0.05)
    await directory.let_through(1)
    outcomes = await asyncio.gather(*lost, return_exceptions=True)
    assert all(isinstance(outcome, NotFound) for outcome in outcomes)
    assert len(directory.gates) == 2


async def test_a_lookup_on_its_way_when_the_queue_changes_is_not_kept(pool, tenant) -> None:  # type: ignore[no-untyped-def]
    org, queue = tenant.organization_id, await open_queue(pool, tenant, name="Before")
    directory = HeldDirectory(pool, ttl_seconds=60)
    before = asyncio.create_task(directory.get(org, queue))
    await asyncio.sleep(0.05)  # it has read "Before"
    await update_distribution(
        UnitOfWork(pool), SystemClock(), tenant.principal, Kind.QUEUE, queue,
        DistributionChanges(name="After"),
    )  # fmt: skip
    directory.forget(queue)  # its distribution.updated event arrives
    after = asyncio.create_task(directory.get(org, queue))
    await asyncio.sleep(0.05)
    assert len(directory.gates) == 2  # the later caller did not wait for the older lookup
    await directory.let_through(1, 0)  # the older lookup ends last
    assert ((await before).queue.name, (await after).queue.name) == ("Before", "After")
    assert (await directory.get(org, queue)).queue.name == "After"
    assert len(directory.gates) == 2
