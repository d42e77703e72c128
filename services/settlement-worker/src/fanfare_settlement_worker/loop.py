"""The settlement worker: takes ``settlement.requested`` messages from the work queue its
replicas share, settles, and acks only once the result is committed. Settling is
idempotent (one result per distribution), so a redelivered request changes nothing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta

from nats.aio.msg import Msg
from psycopg import AsyncConnection

from fanfare_core.adapters.postgres import schedule
from fanfare_core.clock import Clock, SystemClock
from fanfare_core.events.catalogue import SETTLEMENT_CONSUMER
from fanfare_core.events.envelope import decode_envelope
from fanfare_core.logs import get_logger
from fanfare_core.runtime import Resources
from fanfare_core.service_layer.auctions import AuctionService
from fanfare_core.service_layer.draws import DrawDirectory, DrawService
from fanfare_core.service_layer.signing_keys import key_ring_for
from fanfare_core.wakeup import Wakeup

log = get_logger(__name__)
Settle = Callable[[str, str], Awaitable[object]]
PROMOTE_EVERY = 1.0


async def handle(message: Msg, settlers: dict[str, Settle]) -> None:
    """Settle what ``message`` asks for; ack after the commit, or ask for a redelivery."""
    envelope = decode_envelope(message.data)
    kind = str(envelope.data.get("kind"))
    distribution_id = str(envelope.data.get("distributionId"))
    settle = settlers.get(kind)
    if settle is None:
        log.error("no settlement for this kind", kind=kind, distribution=distribution_id)
        await message.term()
        return
    try:
        result = await settle(envelope.organization_id, distribution_id)
    except Exception as error:
        log.exception("settlement failed; will retry", distribution=distribution_id)
        await message.nak(delay=2.0)
        raise SettlementFailed(distribution_id) from error
    log.info("settled", kind=kind, distribution=distribution_id, result=repr(result))
    await message.ack()


class SettlementFailed(Exception):
    pass


async def _promote_forever(
    resources: Resources, draws: DrawService, clock: Clock, stop: asyncio.Event
) -> None:
    """Every second: let backups win in place of wins whose claim window ran out, and
    complete draws whose wins are all claimed or expired (safe on every replica)."""
    while not stop.is_set():
        await _for_each_draw(
            resources,
            lambda conn: schedule.draws_to_promote(conn, clock.now()),
            draws.promote_backups,
            "draws to promote",
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=PROMOTE_EVERY)


async def _record_losers_forever(
    resources: Resources, draws: DrawService, drawn: Wakeup, stop: asyncio.Event
) -> None:
    """Store the losers of every drawn draw whose loser pass has not finished: at once
    when this worker has just run a draw (``drawn`` rings), and every second for draws run
    elsewhere or passes a failure cut short. A pass takes seconds for a million entries,
    so it runs here, apart from the settlement requests (acked once the draw commits)."""
    while not stop.is_set():
        await _for_each_draw(
            resources,
            schedule.draws_with_losers_to_record,
            draws.record_losers,
            "draws with losers to store",
        )
        await drawn.sleep(PROMOTE_EVERY, stop)


async def _for_each_draw(
    resources: Resources,
    find: Callable[[AsyncConnection], Awaitable[list[tuple[str, str]]]],
    act: Callable[[str, str], Awaitable[object]],
    what: str,
) -> None:
    """``act`` on each ``(organization, draw)`` that ``find`` lists; one draw's trouble
    does not hold up the others (it is logged, and the next round tries again)."""
    try:
        async with resources.pool.connection() as conn:
            found = await find(conn)
    except Exception as error:
        log.warning(f"could not look for {what}", error=repr(error))
        return
    for organization_id, draw_id in found:
        try:
            await act(organization_id, draw_id)
        except Exception:
            log.exception(f"{what}: failed; will retry", draw=draw_id)


async def run_settlement_worker(
    resources: Resources, stop: asyncio.Event, clock: Clock | None = None
) -> None:
    """Settle requests until ``stop``."""
    clock = clock or SystemClock()
    settings = resources.settings
    ring = key_ring_for(settings, resources.pool, clock)
    await ring.start()
    auctions = AuctionService(resources.pool, clock, tokens=ring.current)
    draws = DrawService(
        pool=resources.pool,
        directory=DrawDirectory(resources.pool, ttl_seconds=0),
        tokens=ring.current,
        clock=clock,
        claim_window=timedelta(seconds=settings.draw_claim_seconds),
    )
    drawn = Wakeup()

    async def run_draw(organization_id: str, draw_id: str) -> object:
        result = await draws.run_draw(organization_id, draw_id)
        drawn.ring()  # its losers are stored by the loop below, not before the ack
        return result

    promoting = asyncio.create_task(_promote_forever(resources, draws, clock, stop))
    recording = asyncio.create_task(_record_losers_forever(resources, draws, drawn, stop))
    settlers: dict[str, Settle] = {"auction": auctions.settle, "draw": run_draw}
    subscription = await resources.js.pull_subscribe(
        SETTLEMENT_CONSUMER.filter_subject,
        durable=SETTLEMENT_CONSUMER.durable_name,
        stream=SETTLEMENT_CONSUMER.stream,
    )
    try:
        while not stop.is_set():
            try:
                messages = await subscription.fetch(10, timeout=1)
            except TimeoutError:  # nats-py's, or asyncio's when the wait ends between requests
                continue
            except Exception as error:  # NATS away: try again shortly
                log.warning("settlement fetch failed", error=repr(error))
                await asyncio.sleep(0.5)
                continue
            for message in messages:
                try:
                    await handle(message, settlers)
                except SettlementFailed:
                    continue
    finally:
        for task in (promoting, recording):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(Exception):
            await subscription.unsubscribe()
        await ring.close()
