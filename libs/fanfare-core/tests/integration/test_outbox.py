"""Invariant 2: an event commits with its change and reaches JetStream even if NATS was down."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

import nats
import pytest
from nats.js import JetStreamContext
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from fanfare_core.adapters.nats.connection import declare_streams
from fanfare_core.adapters.nats.outbox_relay import OutboxRelay
from fanfare_core.adapters.postgres import outbox
from fanfare_core.adapters.postgres.round_trip import RoundTrip
from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.clock import SystemClock
from fanfare_core.domain.distributions import Distribution, DistributionChanges, Kind
from fanfare_core.domain.errors import ValidationFailed
from fanfare_core.domain.events import DistributionUpdated
from fanfare_core.events.envelope import decode_envelope, encode_event
from fanfare_core.ids import new_id
from fanfare_core.runtime import Resources
from fanfare_core.service_layer.distributions import create_distribution, update_distribution
from fanfare_devstack.servers import EmbeddedNats
from fanfare_testing import counting_round_trips, distribution_updated, one_connection


async def pending_ids(pool: AsyncConnectionPool[AsyncConnection], org: str) -> list[str]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT id FROM outbox WHERE published_at IS NULL AND subject LIKE %s"
            " ORDER BY position",
            (f"fanfare.events.{org}.%",),
        )
        return [row[0] for row in await cur.fetchall()]


async def create_queue(pool, tenant, name: str) -> Distribution:  # type: ignore[no-untyped-def]
    return await create_distribution(
        UnitOfWork(pool),
        SystemClock(),
        tenant.principal,
        Kind.QUEUE,
        sequence_id=tenant.sequence_id,
        changes=DistributionChanges(name=name),
    )


async def stream_messages(js: JetStreamContext, subject: str) -> list[dict[str, object]]:
    """Every message stored under ``subject`` (an ephemeral consumer reads them all)."""
    sub = await js.pull_subscribe(subject, stream="FANFARE_EVENTS")
    found = []
    try:
        while True:
            batch = await sub.fetch(100, timeout=0.5)
            for message in batch:
                found.append(json.loads(message.data))
                await message.ack()
    except TimeoutError:  # nats-py's, or asyncio's when the wait ends between requests
        pass
    finally:
        await sub.unsubscribe()
    return found


async def test_a_change_and_its_event_commit_together(pool, tenant) -> None:  # type: ignore[no-untyped-def]
    queue = await create_queue(pool, tenant, "Launch")
    assert len(await pending_ids(pool, tenant.organization_id)) == 1
    with pytest.raises(ValidationFailed):
        await update_distribution(
            UnitOfWork(pool),
            SystemClock(),
            tenant.principal,
            Kind.QUEUE,
            queue.id,
            DistributionChanges(max_capacity=0),
        )
    # The rejected update wrote neither a change nor an event.
    assert len(await pending_ids(pool, tenant.organization_id)) == 1


async def test_an_event_is_stored_byte_for_byte_as_encoded(pool, tenant) -> None:  # type: ignore[no-untyped-def]
    # Text JSON escapes, and text it need not: quotes, backslashes, accents, emoji, U+2028.
    odd = ('Drop "No. 1"', "back\\slash", "\u00e9t\u00e9 \U0001f389", "line\u2028sep", "</x>")
    event = DistributionUpdated(
        organization_id=tenant.organization_id, occurred_at=datetime.now(UTC),
        distribution_id=new_id("queue"), kind="QUEUE", status="DRAFT", change="updated",
        changed_fields=odd, open_at=None, close_at=None, draw_at=None, settle_at=None,
    )  # fmt: skip
    async with pool.connection() as conn:
        trip = RoundTrip(conn)
        (event_id,) = outbox.append(trip, [event])
        await trip.run()
        cur = await conn.execute("SELECT subject, payload FROM outbox WHERE id = %s", (event_id,))
        stored = await cur.fetchone()
        await conn.rollback()
    assert stored == encode_event(event, event_id)
    assert decode_envelope(stored[1]).data["changedFields"] == list(odd)


async def test_events_written_while_nats_is_down_are_published_once_it_is_back(
    pool, tenant, settings, private_nats: EmbeddedNats
) -> None:  # type: ignore[no-untyped-def]
    client = await nats.connect(
        private_nats.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2
    )
    js = client.jetstream()
    await declare_streams(js)
    relay = OutboxRelay(
        pool, js, database_url=settings.database_url, poll_seconds=0.2, publish_timeout=1.0
    )
    stop = asyncio.Event()
    relay_task = asyncio.create_task(relay.run(stop))
    try:
        private_nats.stop()
        queue = await create_queue(pool, tenant, "While down")
        await asyncio.sleep(0)  # the write was acknowledged; NATS is still down
        written = await pending_ids(pool, tenant.organization_id)
        assert len(written) == 1

        private_nats.start()  # same port, same JetStream store

        async def published() -> bool:
            while await pending_ids(pool, tenant.organization_id):  # noqa: ASYNC110 - a poll of the database
                await asyncio.sleep(0.1)
            return True

        assert await asyncio.wait_for(published(), timeout=20)
        # A relay crash between publishing and stamping republishes; JetStream drops the copy.
        async with pool.connection() as conn:
            await conn.execute("UPDATE outbox SET published_at = NULL WHERE id = %s", (written[0],))
        assert await asyncio.wait_for(published(), timeout=20)

        messages = await stream_messages(
            js, f"fanfare.events.{tenant.organization_id}.{queue.id}.>"
        )
        assert [m["id"] for m in messages] == written
        assert messages[0]["type"] == "distribution.updated"
        assert messages[0]["data"]["change"] == "created"  # type: ignore[index]
    finally:
        stop.set()
        await asyncio.wait_for(relay_task, timeout=10)
        await client.close()


async def test_batches_go_out_in_order_and_each_event_once(pool, tenant, settings) -> None:  # type: ignore[no-untyped-def]
    client = await nats.connect(settings.nats_url)
    js = client.jetstream()
    await declare_streams(js)
    # Batches of 8 without waiting for each acknowledgement: 20 events take three passes.
    relay = OutboxRelay(pool, js, database_url=settings.database_url, batch_size=8)
    try:
        queue = await create_queue(pool, tenant, "Busy")
        for number in range(19):
            await update_distribution(
                UnitOfWork(pool), SystemClock(), tenant.principal, Kind.QUEUE, queue.id,
                DistributionChanges(name=f"Busy {number}"),
            )  # fmt: skip
        written = await pending_ids(pool, tenant.organization_id)
        assert len(written) == 20
        while await relay.publish_pending():
            pass
        assert await pending_ids(pool, tenant.organization_id) == []
        messages = await stream_messages(
            js, f"fanfare.events.{tenant.organization_id}.{queue.id}.>"
        )
        assert [m["id"] for m in messages] == written
    finally:
        await client.close()


class CommitsDuringPublish:
    """Stands in for JetStream: the first publish commits another event meanwhile, as a
    busy service would while the relay is in the middle of a pass."""

    def __init__(self, pool, tenant) -> None:  # type: ignore[no-untyped-def]
        self.pool, self.tenant = pool, tenant
        self.subjects: list[str] = []
        self.second: Distribution | None = None

    async def publish_async(
        self, subject: str, payload: bytes, **_: object
    ) -> asyncio.Future[None]:
        self.subjects.append(subject)
        if self.second is None and self.tenant.organization_id in subject:
            self.second = await create_queue(self.pool, self.tenant, "Meanwhile")
        acknowledged: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        acknowledged.set_result(None)
        return acknowledged


async def test_an_event_committed_during_a_relay_pass_goes_out_without_waiting_for_the_poll(
    pool, tenant, settings
) -> None:  # type: ignore[no-untyped-def]
    js = CommitsDuringPublish(pool, tenant)
    # A poll this long would fail the test: only the notification can wake the relay.
    relay = OutboxRelay(pool, js, database_url=settings.database_url, poll_seconds=60)  # type: ignore[arg-type]
    await create_queue(pool, tenant, "First")
    stop = asyncio.Event()
    relay_task = asyncio.create_task(relay.run(stop))
    try:

        async def second_published() -> None:
            while js.second is None or not any(js.second.id in s for s in js.subjects):  # noqa: ASYNC110 - a bounded poll of the fake
                await asyncio.sleep(0.05)

        await asyncio.wait_for(second_published(), timeout=10)
    finally:
        stop.set()
        await asyncio.wait_for(relay_task, timeout=10)


async def test_a_process_told_not_to_relay_starts_no_relay_and_another_publishes_its_events(
    pool, tenant, settings
) -> None:  # type: ignore[no-untyped-def]
    quiet = await Resources.open(replace(settings, outbox_relay=False, service_name="quiet"))
    relaying = await Resources.open(replace(settings, service_name="relaying"))
    try:
        quiet.start_outbox_relay()
        assert not quiet.relaying
        await create_queue(pool, tenant, "Quiet")  # its event waits in the outbox
        relaying.start_outbox_relay()
        assert relaying.relaying
        await all_published(pool, tenant.organization_id)
    finally:
        await quiet.close()
        await relaying.close()


class RecordingJetStream:
    """Acknowledges every publish at once; counts each relay pass's events of one tenant."""

    def __init__(self, organization_id: str) -> None:
        self.organization_id = organization_id
        self.passes: list[int] = [0]

    async def publish_async(self, subject: str, _: bytes, **__: object) -> asyncio.Future[None]:
        self.passes[-1] += self.organization_id in subject
        acknowledged: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        acknowledged.set_result(None)
        return acknowledged


@contextlib.asynccontextmanager
async def running_counted(relay: OutboxRelay, js: RecordingJetStream) -> AsyncIterator[None]:
    """``relay`` running meanwhile, each of its passes counted apart in ``js.passes``."""
    original = relay.publish_pending

    async def counted() -> int:
        js.passes.append(0)
        return await original()

    relay.publish_pending = counted  # type: ignore[method-assign]
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=10)


async def all_published(pool: AsyncConnectionPool[AsyncConnection], organization_id: str) -> None:
    """Wait (up to 10 s) until no event of the organization is left unpublished."""

    async def drained() -> None:
        while await pending_ids(pool, organization_id):  # noqa: ASYNC110 - bounded
            await asyncio.sleep(0.02)

    await asyncio.wait_for(drained(), timeout=10)


async def test_commits_close_together_go_out_in_one_pass(pool, tenant, settings) -> None:  # type: ignore[no-untyped-def]
    js = RecordingJetStream(tenant.organization_id)
    relay = OutboxRelay(
        pool,
        js,
        database_url=settings.database_url,
        poll_seconds=60,
        gather_seconds=0.5,  # type: ignore[arg-type]
    )
    async with running_counted(relay, js):
        await asyncio.sleep(1.0)  # the passes of its start are over
        for index in range(5):  # five transactions, each notifying: about 50 ms in all
            await create_queue(pool, tenant, f"Close together {index}")
            await asyncio.sleep(0.01)
        await all_published(pool, tenant.organization_id)
        assert [count for count in js.passes if count] == [5]


async def test_stamping_lazily_holds_for_the_transaction_only(pool) -> None:  # type: ignore[no-untyped-def]
    async with pool.connection() as conn:
        await outbox.stamp_lazily(conn)
        inside = await (await conn.execute("SHOW synchronous_commit")).fetchone()
        await conn.commit()
        after = await (await conn.execute("SHOW synchronous_commit")).fetchone()
        await conn.commit()
    assert (inside, after) == (("off",), ("on",))


async def test_a_relay_pass_commits_its_stamps_without_waiting_for_the_disk(  # type: ignore[no-untyped-def]
    pool, tenant, settings, monkeypatch
) -> None:
    """A lost stamp only makes JetStream drop a duplicate; the pass must not pay a WAL
    flush, nor make the commits of the changes that wrote the events wait behind it."""
    seen: list[str] = []
    lazily = outbox.stamp_lazily

    async def noted(conn: AsyncConnection) -> None:
        await lazily(conn)
        row = await (await conn.execute("SHOW synchronous_commit")).fetchone()
        seen.append(row[0] if row else "")

    monkeypatch.setattr(outbox, "stamp_lazily", noted)
    js = RecordingJetStream(tenant.organization_id)
    relay = OutboxRelay(pool, js, database_url=settings.database_url)  # type: ignore[arg-type]
    await create_queue(pool, tenant, "Stamped lazily")
    assert await pending_ids(pool, tenant.organization_id)
    while await relay.publish_pending():
        pass
    assert await pending_ids(pool, tenant.organization_id) == []
    assert seen
    assert set(seen) == {"off"}


async def test_while_events_stream_in_a_pass_gathers_longer_and_a_lone_event_goes_at_once(  # type: ignore[no-untyped-def]
    pool, tenant, settings
) -> None:
    js = RecordingJetStream(tenant.organization_id)
    relay = OutboxRelay(
        pool,
        js,  # type: ignore[arg-type]
        database_url=settings.database_url,
        poll_seconds=60,
        gather_seconds=0,
        busy_gather_seconds=0.5,
        busy_pass=3,
    )
    async with running_counted(relay, js):
        await asyncio.sleep(0.5)  # the passes of its start are over
        # A lone event: out at once (no gathering after a quiet pass).
        started = asyncio.get_running_loop().time()
        await create_queue(pool, tenant, "Alone")
        await all_published(pool, tenant.organization_id)
        assert asyncio.get_running_loop().time() - started < 0.4
        # A pass of three (busy): the two commits after it, 50 ms apart, share one pass.
        async with pool.connection() as conn:
            trip = RoundTrip(conn)
            outbox.append(trip, [distribution_updated(tenant.organization_id) for _ in range(3)])
            await trip.run()
            await conn.commit()
        await all_published(pool, tenant.organization_id)
        for index in range(2):
            await create_queue(pool, tenant, f"Behind {index}")
            await asyncio.sleep(0.05)
        await all_published(pool, tenant.organization_id)
        assert [count for count in js.passes if count] == [1, 3, 2]


async def test_a_relay_pass_is_two_round_trips_to_postgresql(tenant, settings) -> None:  # type: ignore[no-untyped-def]
    """The claim travels with its BEGIN; the stamps with the COMMIT."""
    async with one_connection(settings) as single:
        await create_queue(single, tenant, "Two round trips")
        async with single.connection() as conn:
            pass
        js = RecordingJetStream(tenant.organization_id)
        relay = OutboxRelay(single, js, database_url=settings.database_url)  # type: ignore[arg-type]
        with counting_round_trips(conn) as trips:
            published = await relay.publish_pending()
        assert published >= 1
        assert trips.count == 2
        assert (trips.statements[0], trips.statements[-1]) == ("BEGIN", "COMMIT")
        while await relay.publish_pending():  # (events of other tests may be pending too)
            pass
        assert js.passes == [1]
        async with single.connection() as again:  # its next user: psycopg's transactions
            assert again is conn
            assert not again.autocommit
        assert await pending_ids(single, tenant.organization_id) == []


async def test_a_relay_pass_writes_its_messages_to_nats_together(  # type: ignore[no-untyped-def]
    pool, tenant, settings, private_nats: EmbeddedNats
) -> None:
    """A pass's publishes go out in one write to the socket, not one write each (which
    had cost the relaying worker a third of its CPU under a crowd)."""
    for index in range(20):
        await create_queue(pool, tenant, f"Written together {index}")
    client = await nats.connect(private_nats.url)
    try:
        js = client.jetstream()
        await declare_streams(js)
        transport = client._transport  # the socket writes are what is counted
        assert transport is not None
        writes: list[int] = []
        write = transport.writelines

        def counted(payloads: list[bytes]) -> None:
            writes.append(len(payloads))
            write(payloads)

        transport.writelines = counted  # type: ignore[method-assign]
        relay = OutboxRelay(pool, js, database_url=settings.database_url)
        published = await relay.publish_pending()
        assert published >= 20
        # Every message (and the subscription to their acknowledgements), at once.
        assert len(writes) == 1
        assert writes[0] >= published
        while await relay.publish_pending():  # (events of other tests may be pending too)
            pass
        assert await pending_ids(pool, tenant.organization_id) == []
    finally:
        await client.close()
