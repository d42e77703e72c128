"""``fanfare events tail`` prints live events, filtered like NATS subjects."""

import asyncio
import os
import sys

import nats

from fanfare_cli.tail import subject_filter
from fanfare_core.adapters.nats.outbox_relay import OutboxRelay
from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.clock import SystemClock
from fanfare_core.domain.distributions import DistributionChanges, Kind
from fanfare_core.service_layer.distributions import create_distribution


def test_filters_become_subjects() -> None:
    assert subject_filter(None, None, None) == "fanfare.events.*.*.>"
    assert subject_filter("org_1", None, None) == "fanfare.events.org_1.*.>"
    assert subject_filter(None, "queue_2", "queue.consumer.left") == (
        "fanfare.events.*.queue_2.queue.consumer.left"
    )
    assert subject_filter("org_1", None, "settlement.requested") == (
        "fanfare.work.settlement.org_1.*"
    )


async def test_tail_prints_one_line_per_event(settings, pool, tenant) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, "FANFARE_NATS_URL": settings.nats_url}
    tail = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fanfare_cli.main", "events", "tail",
        "--organization", tenant.organization_id, "--type", "distribution.updated", "--count", "1",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert tail.stderr is not None
    banner = await asyncio.wait_for(tail.stderr.readline(), timeout=15)
    assert b"watching fanfare.events." in banner  # subscribed: now make an event
    queue = await create_distribution(
        UnitOfWork(pool), SystemClock(), tenant.principal, Kind.QUEUE,
        sequence_id=tenant.sequence_id, changes=DistributionChanges(name="Tail me"),
    )  # fmt: skip
    # Publish the outbox as the services would.
    client = await nats.connect(settings.nats_url)
    relay = OutboxRelay(pool, client.jetstream(), database_url=settings.database_url)
    stop = asyncio.Event()
    relaying = asyncio.create_task(relay.run(stop))
    try:
        output, _ = await asyncio.wait_for(tail.communicate(), timeout=15)
    finally:
        stop.set()
        await relaying
        await client.close()
    line = output.decode().strip()
    assert "distribution.updated" in line
    assert tenant.organization_id in line
    assert f"distributionId={queue.id}" in line
    assert tail.returncode == 0
