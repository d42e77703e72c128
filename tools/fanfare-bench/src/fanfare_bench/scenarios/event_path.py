"""Event path: from an admin update acknowledged to the scheduler having applied it.

An admin API and a scheduler run against the stack. ``FULL`` makes 1,000 queues scheduled
to open in an hour (``SMOKE``: 20), waits until their ``distribution.updated`` (created)
events are consumed, then moves each queue's ``openAt`` to *now* with
``PUT /api/v1/queues/:id``, one update every 20-50 ms so they never pile up.

**What "applied" means.** The scheduler keeps no timers of its own: it reads every instant
from PostgreSQL in each pass, sleeps until the next one (at most a second), and wakes early
when a ``distribution.updated`` event reaches its durable consumer. It has applied an
update when a pass has read the new ``openAt``; with ``openAt`` moved to now, that pass
opens the queue in a conditional UPDATE stamped ``updated_at`` = the scheduler's clock at
the start of the pass, committed with the transition's event. So the figure is
``updated_at`` - the instant this process received the admin API's ``200`` (the wall
clock of one machine on both sides, no polling blur: the outcome is read afterwards). It
leaves out the pass's own commit, about a millisecond later. The whole way is measured:
admin commit → outbox NOTIFY → relay → JetStream → scheduler's fetch → wake-up → pass.
Without the event the next one-second pass would still open the queue, so a broken event
path shows as a p99 near 1,000 ms, not as missing transitions.

**Baselines, in the same run.** The admin API's own ``PUT`` latency (sent → 200) and a bare
NATS round trip (publish → the same connection's subscription receives it, on the same
server), each sampled between the updates; the figure is also given as a ratio to the
``PUT``'s p99.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from datetime import UTC, datetime, timedelta

import nats
from nats.aio.client import Client as NatsClient

from fanfare_bench.results import Result, Size, percentile
from fanfare_bench.scenarios.scheduler import ratio, wait_opened
from fanfare_bench.stack import Stack
from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.clock import SystemClock
from fanfare_core.domain.distributions import DistributionChanges, Kind
from fanfare_core.events.catalogue import EVENTS_STREAM, SCHEDULER_CONSUMER
from fanfare_core.service_layer.distributions import create_distribution
from fanfare_testing import Tenant

TARGET_MS = 50.0
UPDATES = {Size.FULL: 1_000, Size.SMOKE: 20}
# Seconds between two updates, drawn uniformly (seeded, so runs are alike).
GAP = (0.020, 0.050)
# When, after an update, the NATS baseline is sampled: by then the update is applied.
PING_AFTER = 0.015
QUIET_WITHIN = 60.0
APPLIED_WITHIN = 30.0


async def run(stack: Stack, size: Size) -> list[Result]:
    """Move each queue's ``openAt`` to now through the admin API; report the event path."""
    count = UPDATES[size]
    tenant = await stack.tenant()
    admin = stack.start("admin-api")
    scheduler = stack.start("scheduler")
    nc = await nats.connect(stack.settings.nats_url, name="fanfare-bench")
    try:
        queues = await _scheduled_queues(stack, tenant, count)
        await _quiet(stack, nc, tenant)
        http = await _Http.open(admin.spec.port, tenant.secret_key)
        try:
            sent, acked, put_ms, ping_ms = await _update_all(http, nc, queues)
        finally:
            await http.close()
        applied = await wait_opened(stack, queues, APPLIED_WITHIN)
    finally:
        await nc.close()
        stack.stop(scheduler)
        stack.stop(admin)
    if len(applied) != count:
        raise RuntimeError(f"only {len(applied)} of {count} updates were applied")
    path = [(applied[queue] - acked[queue]).total_seconds() * 1000 for queue in queues]
    whole = [(applied[queue] - sent[queue]).total_seconds() * 1000 for queue in queues]
    p99 = percentile(path, 0.99)
    put_p99 = percentile(put_ms, 0.99)
    return [
        Result(
            "event path baseline",
            f"admin PUT sent → 200: p50 {percentile(put_ms, 0.5):.1f} ms, p99 {put_p99:.1f} ms; "
            f"NATS publish → receive: p50 {percentile(ping_ms, 0.5):.2f} ms, "
            f"p99 {percentile(ping_ms, 0.99):.2f} ms",
        ),
        Result(
            "event path",
            f"{count:,} updates, 200 → scheduler applied: p50 {percentile(path, 0.5):.1f} ms, "
            f"p99 {p99:.1f} ms, p99.9 {percentile(path, 0.999):.1f} ms, "
            f"max {max(path):.1f} ms, before the 200 {sum(1 for v in path if v < 0)}; "
            f"from the PUT sent p50 {percentile(whole, 0.5):.1f} ms, "
            f"p99 {percentile(whole, 0.99):.1f} ms; p99 = {ratio(p99, put_p99)} PUT p99",
            target=f"p99 ≤ {TARGET_MS:.0f} ms",
            met=None if size is Size.SMOKE else p99 <= TARGET_MS,
        ),
    ]


async def _scheduled_queues(stack: Stack, tenant: Tenant, count: int) -> list[str]:
    """``count`` queues due to open in an hour (so only the updates make them due)."""
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    made = []
    for _ in range(count):
        queue = await create_distribution(
            UnitOfWork(stack.pool), SystemClock(), tenant.principal, Kind.QUEUE,
            sequence_id=tenant.sequence_id, changes=DistributionChanges(open_at=later),
        )  # fmt: skip
        made.append(queue.id)
    return made


async def _quiet(stack: Stack, nc: NatsClient, tenant: Tenant) -> None:
    """Wait (bounded) until the tenant's events are published and the scheduler has
    consumed every event."""
    js = nc.jetstream()
    deadline = time.monotonic() + QUIET_WITHIN
    while time.monotonic() < deadline:
        unpublished = await stack.unpublished_events(f"fanfare.events.{tenant.organization_id}.%")
        info = await js.consumer_info(EVENTS_STREAM.name, SCHEDULER_CONSUMER.durable_name)
        if not unpublished and not info.num_pending and not info.num_ack_pending:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"the scheduler did not catch up within {QUIET_WITHIN:.0f} s")


async def _update_all(
    http: _Http, nc: NatsClient, queues: list[str]
) -> tuple[dict[str, datetime], dict[str, datetime], list[float], list[float]]:
    """Move each queue's ``openAt`` to now; return when each ``PUT`` was sent and when its
    ``200`` arrived, each ``PUT``'s latency and the NATS round trips (ms)."""
    gaps = random.Random(20).uniform  # noqa: S311 - spacing, not secrets
    inbox = nc.new_inbox()
    pongs: asyncio.Queue[float] = asyncio.Queue()

    async def pong(_: object) -> None:
        await pongs.put(time.perf_counter())

    subscription = await nc.subscribe(inbox, cb=pong)
    await nc.flush()
    sent: dict[str, datetime] = {}
    acked: dict[str, datetime] = {}
    put_ms: list[float] = []
    ping_ms: list[float] = []
    try:
        for queue in queues:
            started = time.perf_counter()
            next_at = started + gaps(*GAP)
            sent[queue] = datetime.now(UTC)
            body = {"openAt": sent[queue].isoformat()}
            status, answer = await http.request("PUT", f"/api/v1/queues/{queue}", body)
            acked[queue] = datetime.now(UTC)
            put_ms.append((time.perf_counter() - started) * 1000)
            if status != 200:
                raise RuntimeError(f"PUT {queue} answered {status}: {answer!r}")
            await asyncio.sleep(max(0.0, started + PING_AFTER - time.perf_counter()))
            pinged = time.perf_counter()
            await nc.publish(inbox, b"ping")
            ping_ms.append((await asyncio.wait_for(pongs.get(), 5) - pinged) * 1000)
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    finally:
        await subscription.unsubscribe()
    return sent, acked, put_ms, ping_ms


class _Http:
    """A minimal HTTP/1.1 client on one kept-alive connection (requests one at a time),
    so a ``PUT``'s latency is the admin API's and not a connection's setup."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int, key: str
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._head = f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {key}\r\n"

    @classmethod
    async def open(cls, port: int, key: str) -> _Http:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer, port, key)

    async def request(self, method: str, path: str, body: object) -> tuple[int, bytes]:
        payload = json.dumps(body).encode()
        self._writer.write(
            f"{method} {path} HTTP/1.1\r\n{self._head}Content-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        await self._writer.drain()
        status = int((await self._reader.readline()).split()[1])
        length = 0
        while (line := await self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        return status, await self._reader.readexactly(length)

    async def close(self) -> None:
        self._writer.close()
        await self._writer.wait_closed()
