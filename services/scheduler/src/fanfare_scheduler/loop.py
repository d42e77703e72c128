"""The scheduler's loop: while leading, do what is due, then sleep until the next instant
(at most a second), waking early when a distribution changes."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime

from nats.js import JetStreamContext

from fanfare_core.adapters.redis.queue_line import QueueLine
from fanfare_core.clock import Clock, SystemClock
from fanfare_core.events.catalogue import SCHEDULER_CONSUMER
from fanfare_core.logs import get_logger
from fanfare_core.runtime import Resources
from fanfare_core.service_layer.queues import QueueDirectory, QueueService
from fanfare_core.service_layer.schedule import AdmissionPacer, Transitions
from fanfare_core.service_layer.signing_keys import key_ring_for
from fanfare_core.wakeup import Wakeup
from fanfare_scheduler.lease import Lease

log = get_logger(__name__)
MAX_SLEEP = 1.0
EXPIRY_EVERY = 1.0


async def _listen(js: JetStreamContext, lease: Lease, wakeup: Wakeup, stop: asyncio.Event) -> None:
    """Turn ``distribution.updated`` events into wake-ups (the leader consumes them)."""
    subscription = None
    while not stop.is_set():
        if not lease.leader:
            await asyncio.sleep(0.2)
            continue
        try:
            if subscription is None:
                subscription = await js.pull_subscribe(
                    SCHEDULER_CONSUMER.filter_subject,
                    durable=SCHEDULER_CONSUMER.durable_name,
                    stream=SCHEDULER_CONSUMER.stream,
                )
            messages = await subscription.fetch(100, timeout=1)
        except TimeoutError:  # nats-py's, or asyncio's when the wait ends between requests
            continue
        except Exception as error:  # the loop still runs on its own timing meanwhile
            log.warning("scheduler consumer failed", error=repr(error))
            subscription = None
            await asyncio.sleep(0.5)
            continue
        wakeup.ring()
        for message in messages:
            await message.ack()


async def run_scheduler(
    resources: Resources, stop: asyncio.Event, clock: Clock | None = None
) -> None:
    clock = clock or SystemClock()
    settings = resources.settings
    ring = key_ring_for(settings, resources.pool, clock)
    await ring.start()
    queues = QueueService(
        pool=resources.pool,
        line=QueueLine(resources.redis),
        directory=QueueDirectory(resources.pool, ttl_seconds=1.0),
        tokens=ring.current,
        clock=clock,
    )
    transitions = Transitions(resources.pool, clock)
    pacer = AdmissionPacer(resources.pool, queues, clock)
    lease = Lease(settings.database_url)
    wakeup = Wakeup()
    listener = asyncio.create_task(_listen(resources.js, lease, wakeup, stop))
    last_expiry = 0.0
    try:
        while not stop.is_set():
            timeout = MAX_SLEEP
            if await lease.held():
                try:
                    await transitions.run_due()
                    next_admission = await pacer.tick()
                    if time.monotonic() - last_expiry >= EXPIRY_EVERY:
                        await pacer.expire()
                        last_expiry = time.monotonic()
                    timeout = _until(
                        clock.now(), [await transitions.next_instant(), next_admission]
                    )
                except Exception as error:  # keep leading; try again shortly
                    log.exception("scheduler pass failed", error=repr(error))
                    timeout = 0.5
            # An event that came during the pass ends this sleep at once: the pass may have
            # read the distributions just before that change committed.
            await wakeup.sleep(timeout, stop)
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
        await lease.release()
        await ring.close()


def _until(now: datetime, instants: list[datetime | None]) -> float:
    upcoming = [i for i in instants if i is not None]
    if not upcoming:
        return MAX_SLEEP
    return max(0.0, min(MAX_SLEEP, (min(upcoming) - now).total_seconds()))
