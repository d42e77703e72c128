"""Publishes outbox rows to JetStream, in order, each exactly once as far as consumers see.

Every message is published with ``Nats-Msg-Id`` = event id, so a row published twice (a
relay dying between publishing and stamping it) is dropped by JetStream's duplicate window.
A batch is sent whole before its acknowledgements are awaited; when one is refused or times
out, the rows from it on are sent again by a later pass. Those that had been stored are
dropped as duplicates, so the one refused can then land after rows that followed it (only
then: with every publish acknowledged, the stream holds the outbox's order).
Several relays may run (one per service replica): ``FOR UPDATE SKIP LOCKED`` shares the rows.
A pass's claim and stamp commit without waiting for the disk (see ``outbox.stamp_lazily``):
a lost stamp only means a duplicate that JetStream drops.
The relay wakes on the ``fanfare_outbox`` notification and polls as a fallback, so events
written while NATS was down go out once it is back.

Woken, it waits ``gather_seconds`` (5 ms) before its pass, so that the commits of those few
milliseconds go out together. Under a crowd every batch of enters commits its own events
and notifies: a pass per commit carried about five events, and its claim, stamp and
commit were paid five times as often as needed. An event goes out a few milliseconds
later for it. While events stream in (the last pass carried ``busy_pass`` or more), it
waits ``busy_gather_seconds`` (25 ms) instead: beside the enter's half-rate benchmark run
(about 1,200 events a second) the relaying worker then used 13-14 % of a core instead of
16-19 %, on the core the data stores share. A lone event (an admin's update, a
transition) still goes out after 5 ms.
"""

from __future__ import annotations

import asyncio
import contextlib

import psycopg
from nats.js import JetStreamContext
from nats.js.api import PubAck
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from fanfare_core.adapters.postgres import outbox
from fanfare_core.adapters.postgres.transactions import beginning
from fanfare_core.logs import get_logger
from fanfare_core.wakeup import Wakeup

log = get_logger(__name__)


class OutboxRelay:
    """Moves committed events from PostgreSQL to JetStream until stopped."""

    def __init__(
        self,
        pool: AsyncConnectionPool[AsyncConnection],
        js: JetStreamContext,
        *,
        database_url: str,
        poll_seconds: float = 1.0,
        batch_size: int = 256,
        publish_timeout: float = 5.0,
        gather_seconds: float = 0.005,
        busy_gather_seconds: float = 0.025,
        busy_pass: int = 8,
    ) -> None:
        self._pool = pool
        self._js = js
        self._database_url = database_url
        self._poll_seconds = poll_seconds
        self._batch_size = batch_size
        self._publish_timeout = publish_timeout
        self._gather_seconds = gather_seconds
        self._busy_gather_seconds = busy_gather_seconds
        self._busy_pass = busy_pass
        self._wakeup = Wakeup()

    async def publish_pending(self) -> int:
        """Publish one batch; return how many messages went out.

        The batch goes out in order without waiting for each acknowledgement (one round
        trip to JetStream for the batch, not one per message); the messages are then
        stamped up to the first one not acknowledged, and the rest wait for the next pass
        (published again, and dropped by JetStream as duplicates where they had arrived).
        """
        published: list[int] = []
        async with self._pool.connection() as conn:
            try:
                async with beginning(conn):  # the BEGIN travels with the claim
                    await outbox.stamp_lazily(conn)
                    claim = await outbox.send_claim(conn, self._batch_size)
                messages = await outbox.claimed(claim)
                acks: list[asyncio.Future[PubAck]] = []
                try:
                    async with asyncio.timeout(self._publish_timeout):
                        # No ``wait_stall``: with it, each publish awaits a task of its
                        # own, so the client's flusher ran between two publishes and wrote
                        # each message by itself (a third of the relaying worker's CPU).
                        # Without it a publish does not yield while the client has room,
                        # and the pass's messages go out in one write; the timeout still
                        # bounds a stalled pass.
                        for message in messages:
                            ack = await self._js.publish_async(
                                message.subject, message.payload,
                                headers={"Nats-Msg-Id": message.id},
                            )  # fmt: skip
                            acks.append(ack)
                        for message, ack in zip(messages, acks, strict=True):
                            await ack
                            published.append(message.position)
                finally:
                    for ack in acks:
                        ack.cancel()  # what is still waiting: given up on (no-op when done)
            finally:
                # Stamp what did go out even when a later publish failed: with the COMMIT,
                # one round trip.
                async with conn.pipeline():
                    await outbox.mark_published(conn, published)
                    await conn.execute("COMMIT")  # (the pool's check undoes the autocommit mode)
        return len(published)

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until ``stop`` is set; publishing failures are logged and retried."""
        listener = asyncio.create_task(self._listen(stop))
        backoff = self._poll_seconds
        try:
            while not stop.is_set():
                try:
                    count = await self.publish_pending()
                    backoff = self._poll_seconds
                except Exception as error:
                    log.warning("outbox relay failed; retrying", error=repr(error))
                    count = 0
                    backoff = min(backoff * 2, 5.0)
                if count >= self._batch_size:
                    continue
                # A notification that came during the pass ends this sleep at once: the
                # pass may have claimed just before that event committed.
                await self._wakeup.sleep(backoff, stop)
                gather = (
                    self._busy_gather_seconds if count >= self._busy_pass else self._gather_seconds
                )
                if gather > 0 and not stop.is_set():
                    await asyncio.sleep(gather)  # the commits just behind
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def _listen(self, stop: asyncio.Event) -> None:
        """Turn outbox notifications into wake-ups; reconnect when the database goes away."""
        while not stop.is_set():
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._database_url, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {outbox.OUTBOX_CHANNEL}")
                    # Whatever committed before this moment notified nobody: one more pass.
                    self._wakeup.ring()
                    async for _ in conn.notifies():
                        self._wakeup.ring()
            except psycopg.Error as error:
                log.warning("outbox listener lost its connection", error=repr(error))
                await asyncio.sleep(1.0)
