"""Distributions run by themselves: the real scheduler and settlement worker, instants a
few seconds ahead."""

import asyncio
import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import nats
import nats.errors
import pytest

from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.adapters.redis.client import open_redis
from fanfare_core.adapters.redis.queue_line import QueueLine
from fanfare_core.clock import SystemClock
from fanfare_core.domain.distributions import DistributionChanges, Kind
from fanfare_core.domain.draw_selection import first_mismatch
from fanfare_core.ids import new_id
from fanfare_core.service_layer.auctions import AuctionService
from fanfare_core.service_layer.distributions import (
    create_distribution,
    delete_distribution,
    update_distribution,
)
from fanfare_core.service_layer.draws import DrawDirectory, DrawService
from fanfare_core.service_layer.queues import QueueDirectory, QueueService
from fanfare_core.service_layer.signing_keys import KeyRingLoader
from fanfare_devstack.processes import ServiceProcess
from fanfare_testing import start_service

# Each test waits for real instants a few seconds ahead: CI runs them, `make test` skips them.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workers(settings, tmp_path_factory) -> Iterator[dict[str, ServiceProcess]]:  # type: ignore[no-untyped-def]
    log_dir: Path = tmp_path_factory.mktemp("workers")
    # Claim windows of two seconds, so a backup's promotion can be watched.
    env = {"FANFARE_DRAW_CLAIM_SECONDS": "2"}
    running = {
        name: start_service(name, settings, log_dir, env)
        for name in ("scheduler", "settlement-worker")
    }
    yield running
    for process in running.values():
        process.stop()


def at(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def create(pool, tenant, kind: Kind, **changes: object) -> str:  # type: ignore[no-untyped-def]
    made = await create_distribution(
        UnitOfWork(pool), SystemClock(), tenant.principal, kind,
        sequence_id=tenant.sequence_id, changes=DistributionChanges(**changes),  # type: ignore[arg-type]
    )  # fmt: skip
    return made.id


async def row(pool, sql: str, *args: object) -> tuple:  # type: ignore[no-untyped-def,type-arg]
    async with pool.connection() as conn:
        cur = await conn.execute(sql, args)
        return await cur.fetchone()  # type: ignore[return-value]


async def status_becomes(pool, distribution: str, wanted: str, within: float = 15) -> datetime:  # type: ignore[no-untyped-def]
    """Poll until the stored status is ``wanted``; return when it changed (updated_at)."""

    async def poll() -> datetime:
        while True:
            status, updated = await row(
                pool, "SELECT status, updated_at FROM distributions WHERE id = %s", distribution
            )
            if status == wanted:
                return updated  # type: ignore[no-any-return]
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(poll(), timeout=within)


async def status_events(pool, distribution: str) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT payload FROM outbox WHERE subject LIKE %s ORDER BY position",
            (f"fanfare.events.%.{distribution}.distribution.status_changed",),
        )
        events = [json.loads(bytes(r[0])) for r in await cur.fetchall()]
    return [(e["data"]["previousStatus"], e["data"]["status"]) for e in events]


async def test_a_queue_opens_admits_expires_closes_and_completes(
    workers, settings, pool, tenant
) -> None:  # type: ignore[no-untyped-def]
    opens, closes = (
        datetime.now(UTC) + timedelta(seconds=2),
        datetime.now(UTC) + timedelta(seconds=7),
    )
    queue = await create(
        pool, tenant, Kind.QUEUE, open_at=opens.isoformat(), close_at=closes.isoformat(),
        admission_rate=120, session_duration_seconds=1,
    )  # fmt: skip
    opened_at = await status_becomes(pool, queue, "OPEN")
    assert opened_at >= opens  # never early
    ring = KeyRingLoader(pool, SystemClock(), issuer="fanfare", refresh_seconds=60)
    await ring.reload()
    redis = open_redis(settings.redis_url, max_connections=8)
    service = QueueService(
        pool=pool, line=QueueLine(redis), directory=QueueDirectory(pool, ttl_seconds=0),
        tokens=ring.current, clock=SystemClock(),
    )  # fmt: skip
    people = [new_id("cons") for _ in range(4)]
    for person in people:
        await service.enter(tenant.organization_id, queue, person, None)

    async def everyone_admitted() -> list[tuple[str, datetime]]:
        while True:
            async with pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT consumer_id, admitted_at FROM queue_entries WHERE queue_id = %s"
                    " AND admitted_at IS NOT NULL ORDER BY admitted_at",
                    (queue,),
                )
                admitted = [(r[0], r[1]) for r in await cur.fetchall()]
            if len(admitted) == len(people):
                return admitted
            await asyncio.sleep(0.05)

    admitted = await asyncio.wait_for(everyone_admitted(), timeout=10)
    assert [who for who, _ in admitted] == people  # first come, first served
    gaps = [(b - a).total_seconds() for (_, a), (_, b) in itertools.pairwise(admitted)]
    assert min(gaps) >= 0.4  # 120 a minute: one every 0.5 s, never a burst
    # Sessions of one second expire and free their places; then the queue closes and,
    # with nobody left in it, completes.
    await status_becomes(pool, queue, "COMPLETED", within=15)
    statuses = await row(
        pool, "SELECT array_agg(DISTINCT status) FROM queue_entries WHERE queue_id = %s", queue
    )
    assert statuses[0] == ["LEFT"]
    assert await status_events(pool, queue) == [
        ("SCHEDULED", "OPEN"), ("OPEN", "CLOSED"), ("CLOSED", "COMPLETED"),
    ]  # fmt: skip
    await redis.aclose()


async def bid(pool, tenant, auction: str, who: str, amount: int) -> None:  # type: ignore[no-untyped-def]
    await AuctionService(pool, SystemClock()).place_bid(
        tenant.organization_id, auction, who, str(amount)
    )


@pytest.mark.parametrize(("reserve", "winner"), [(100, True), (1000, False)])
async def test_an_auction_closes_and_settles_by_itself(
    workers, pool, tenant, reserve: int, winner: bool
) -> None:  # type: ignore[no-untyped-def]
    auction = await create(
        pool, tenant, Kind.AUCTION, open_at="2020-01-01T00:00:00Z", close_at=at(2),
        settle_at=at(3), reserve_price=Decimal(reserve),
    )  # fmt: skip
    low, high = new_id("cons"), new_id("cons")
    await bid(pool, tenant, auction, low, 150)
    await bid(pool, tenant, auction, high, 400)
    await status_becomes(pool, auction, "SETTLED")
    winners = await row(
        pool, "SELECT array_agg(consumer_id) FROM auction_winners WHERE auction_id = %s", auction
    )
    assert winners[0] == ([high] if winner else None)
    assert await status_events(pool, auction) == [
        ("SCHEDULED", "OPEN"), ("OPEN", "CLOSED"), ("CLOSED", "SETTLED"),
    ]  # fmt: skip


async def test_a_buy_now_bid_settles_before_settle_at(workers, pool, tenant) -> None:  # type: ignore[no-untyped-def]
    auction = await create(
        pool, tenant, Kind.AUCTION, open_at="2020-01-01T00:00:00Z", settle_at=at(3600),
        buy_now_price=Decimal(500),
    )  # fmt: skip
    buyer = new_id("cons")
    await bid(pool, tenant, auction, buyer, 500)
    await status_becomes(pool, auction, "SETTLED")
    winners = await row(
        pool, "SELECT array_agg(consumer_id) FROM auction_winners WHERE auction_id = %s", auction
    )
    assert winners[0] == [buyer]
    requests = await row(
        pool, "SELECT count(*), min(reason) FROM settlement_requests WHERE distribution_id = %s",
        auction,
    )  # fmt: skip
    assert requests == (1, "BUY_NOW")


async def test_a_killed_scheduler_catches_up_once_restarted(workers, pool, tenant) -> None:  # type: ignore[no-untyped-def]
    scheduler = workers["scheduler"]
    scheduler.kill()  # SIGKILL: no goodbye
    opens = datetime.now(UTC) + timedelta(seconds=1)
    queue = await create(pool, tenant, Kind.QUEUE, open_at=opens.isoformat())
    await asyncio.sleep(1.5)  # the instant passes while no scheduler runs
    assert (await row(pool, "SELECT status FROM distributions WHERE id = %s", queue))[
        0
    ] == "SCHEDULED"
    scheduler.start()
    scheduler.wait_ready()
    await status_becomes(pool, queue, "OPEN")
    assert await status_events(pool, queue) == [("SCHEDULED", "OPEN")]  # once


async def test_a_standby_takes_over_when_the_leader_dies(
    workers, settings, pool, tenant, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    leader = workers["scheduler"]
    standby = start_service("scheduler", settings, tmp_path)
    try:
        first = await create(pool, tenant, Kind.QUEUE, open_at=at(0.5))
        await status_becomes(pool, first, "OPEN")
        leader.kill()
        later = await create(pool, tenant, Kind.QUEUE, open_at=at(1))
        await status_becomes(pool, later, "OPEN", within=10)  # the standby acted
        assert await status_events(pool, later) == [("SCHEDULED", "OPEN")]
        log = (tmp_path / "scheduler.log").read_text()
        assert "became the leading scheduler" in log
    finally:
        standby.stop()
        leader.start()
        leader.wait_ready()


async def test_no_event_is_lost_when_nats_restarts_mid_run(
    workers, settings, infrastructure, pool, tenant
) -> None:  # type: ignore[no-untyped-def]
    if infrastructure.nats is None:
        pytest.skip("NATS is external here; this test restarts the embedded one")
    queue = await create(pool, tenant, Kind.QUEUE, open_at=at(1.5))
    infrastructure.nats.restart()  # while the change's event may still be in flight
    await status_becomes(pool, queue, "OPEN")
    client = await nats.connect(settings.nats_url)
    try:
        js = client.jetstream()
        sub = await js.pull_subscribe(f"fanfare.events.*.{queue}.>", stream="FANFARE_EVENTS")

        async def both() -> list[str]:
            seen: list[str] = []
            while len(seen) < 2:
                try:
                    batch = await sub.fetch(10, timeout=0.5)
                except TimeoutError:  # nats-py's, or asyncio's
                    continue
                seen += [json.loads(m.data)["type"] for m in batch]
            return seen

        types = await asyncio.wait_for(both(), timeout=20)
        with pytest.raises(TimeoutError):  # nats-py's, or asyncio's
            await sub.fetch(1, timeout=1)  # and nothing twice
    finally:
        await client.close()
    assert sorted(types) == ["distribution.status_changed", "distribution.updated"]


async def test_a_draw_closes_and_is_drawn_by_itself(workers, pool, tenant) -> None:  # type: ignore[no-untyped-def]
    draw = await create(
        pool, tenant, Kind.DRAW, open_at="2020-01-01T00:00:00Z", draw_at=at(2), winner_count=2
    )
    ring = KeyRingLoader(pool, SystemClock(), issuer="fanfare", refresh_seconds=60)
    await ring.reload()
    service = DrawService(
        pool=pool, directory=DrawDirectory(pool, ttl_seconds=0), tokens=ring.current,
        clock=SystemClock(),
    )  # fmt: skip
    entrants = [new_id("cons") for _ in range(5)]
    for person in entrants:
        await service.enter(tenant.organization_id, draw, person, None)
    await status_becomes(pool, draw, "DRAWN")
    result = await row(pool, "SELECT winners, backups FROM draw_results WHERE draw_id = %s", draw)
    winners, backups = result
    assert len(winners) == 2
    assert set(winners) | set(backups) <= set(entrants)
    won = [(await service.status(tenant.organization_id, draw, p)).status for p in entrants]
    assert sorted(won) == ["LOST", "LOST", "LOST", "WON", "WON"]
    # Anyone can recompute the result from the published proof and entry file.
    result = await service.proof(tenant.organization_id, draw)
    chunks = await service.entry_file(tenant.organization_id, draw)
    entries = b"".join([chunk async for chunk in chunks])
    assert first_mismatch(result.proof(), entries) is None
    tampered = entries.replace(entrants[0].encode(), b"cons_x")
    assert first_mismatch(result.proof(), tampered) is not None
    assert await status_events(pool, draw) == [
        ("SCHEDULED", "OPEN"), ("OPEN", "CLOSED"), ("CLOSED", "DRAWN"),
    ]  # fmt: skip

    # The settlement worker stores the losers after the draw: each LOST, with one event.
    async def losers_stored() -> None:
        query = "SELECT losers_recorded_at FROM draw_results WHERE draw_id = %s"
        while (await row(pool, query, draw))[0] is None:  # noqa: ASYNC110 - polls the table
            await asyncio.sleep(0.05)

    await asyncio.wait_for(losers_stored(), timeout=15)
    stored = await row(
        pool,
        "SELECT array_agg(status ORDER BY status) FROM draw_entries WHERE draw_id = %s",
        draw,
    )
    assert stored[0] == ["LOST", "LOST", "LOST", "WON", "WON"]
    lost = await row(
        pool,
        "SELECT count(*) FROM outbox WHERE subject = %s",
        f"fanfare.events.{tenant.organization_id}.{draw}.draw.consumer.lost",
    )
    assert lost[0] == 3


async def test_a_backup_wins_when_a_claim_expires_and_the_draw_completes(
    workers, pool, tenant
) -> None:  # type: ignore[no-untyped-def]
    draw = await create(
        pool, tenant, Kind.DRAW, open_at="2020-01-01T00:00:00Z", draw_at=at(1), winner_count=1
    )
    ring = KeyRingLoader(pool, SystemClock(), issuer="fanfare", refresh_seconds=60)
    await ring.reload()
    service = DrawService(
        pool=pool, directory=DrawDirectory(pool, ttl_seconds=0), tokens=ring.current,
        clock=SystemClock(),
    )  # fmt: skip
    entrants = [new_id("cons") for _ in range(3)]
    for person in entrants:
        await service.enter(tenant.organization_id, draw, person, None)
    await status_becomes(pool, draw, "DRAWN")
    winners, backups = await row(
        pool, "SELECT winners, backups FROM draw_results WHERE draw_id = %s", draw
    )
    first, backup = winners[0], backups[0]

    async def status_of(person: str) -> str:
        return (await service.status(tenant.organization_id, draw, person)).status

    async def promoted() -> None:
        while await status_of(backup) != "WON":  # noqa: ASYNC110 - polls the service
            await asyncio.sleep(0.1)

    await asyncio.wait_for(promoted(), timeout=15)  # the first claim window (2 s) ran out
    assert await status_of(first) == "LOST"
    await service.claim(tenant.organization_id, draw, backup)
    await status_becomes(pool, draw, "COMPLETED")


async def test_a_redelivered_settlement_request_settles_nothing_twice(
    workers, settings, pool, tenant
) -> None:  # type: ignore[no-untyped-def]
    """A worker killed after committing but before acking leaves the request to be
    delivered again; this sends that same request again and finds one result."""
    auction = await create(
        pool, tenant, Kind.AUCTION, open_at="2020-01-01T00:00:00Z", settle_at=at(3600),
        buy_now_price=Decimal(100),
    )  # fmt: skip
    await bid(pool, tenant, auction, new_id("cons"), 100)
    await status_becomes(pool, auction, "SETTLED")
    subject = f"fanfare.work.settlement.{tenant.organization_id}.{auction}"
    (payload,) = await row(pool, "SELECT payload FROM outbox WHERE subject = %s", subject)
    client = await nats.connect(settings.nats_url)
    try:
        js = client.jetstream()
        # A new message id, as a redelivery would not be deduplicated either.
        await js.publish(subject, bytes(payload), headers={"Nats-Msg-Id": new_id("evt")})

        async def consumed() -> None:
            while True:
                info = await js.consumer_info("FANFARE_SETTLEMENT", "settlement-worker")
                if info.num_pending == 0 and info.num_ack_pending == 0:
                    return
                await asyncio.sleep(0.1)

        await asyncio.wait_for(consumed(), timeout=15)
    finally:
        await client.close()
    counts = await row(
        pool,
        "SELECT (SELECT count(*) FROM auction_results WHERE auction_id = %s),"
        " (SELECT count(*) FROM auction_winners WHERE auction_id = %s),"
        " (SELECT count(*) FROM outbox WHERE subject LIKE %s)",
        auction, auction, f"fanfare.events.%.{auction}.auction.settled",
    )  # fmt: skip
    assert counts == (1, 1, 1)


async def test_updates_reschedule_and_deletes_cancel(workers, pool, tenant) -> None:  # type: ignore[no-untyped-def]
    moved = await create(pool, tenant, Kind.QUEUE, open_at=at(1))
    dropped = await create(pool, tenant, Kind.QUEUE, open_at=at(1))
    later = datetime.now(UTC) + timedelta(seconds=3)
    await update_distribution(
        UnitOfWork(pool), SystemClock(), tenant.principal, Kind.QUEUE, moved,
        DistributionChanges(open_at=later.isoformat()),
    )  # fmt: skip
    await delete_distribution(
        UnitOfWork(pool), SystemClock(), tenant.principal, Kind.QUEUE, dropped
    )
    opened_at = await status_becomes(pool, moved, "OPEN")
    assert opened_at >= later  # the old instant was not used
    stored = await row(pool, "SELECT status FROM distributions WHERE id = %s", dropped)
    assert stored[0] == "SCHEDULED"  # deleted: never opened
