"""The unit of work: one transaction, its repositories, and the events to publish with it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from types import TracebackType

from psycopg import AsyncConnection
from psycopg.pq import PipelineStatus, TransactionStatus
from psycopg_pool import AsyncConnectionPool

from fanfare_core.adapters.postgres import outbox
from fanfare_core.adapters.postgres.auctions import AuctionRepository, SettlementRepository
from fanfare_core.adapters.postgres.catalog import CatalogRepository
from fanfare_core.adapters.postgres.consumers import ConsumerRepository
from fanfare_core.adapters.postgres.distributions import DistributionRepository
from fanfare_core.adapters.postgres.draw_entries import DrawEntryRepository
from fanfare_core.adapters.postgres.organizations import OrganizationRepository
from fanfare_core.adapters.postgres.queue_entries import QueueEntryRepository
from fanfare_core.adapters.postgres.signing_keys import SigningKeyRepository
from fanfare_core.adapters.postgres.transactions import back_to_implicit, beginning
from fanfare_core.domain.distributions import Distribution
from fanfare_core.domain.draws import DrawEntry
from fanfare_core.domain.events import Event
from fanfare_core.domain.queues import QueueEntry


class UnitOfWork:
    """``async with uow:`` opens a transaction; :meth:`commit` writes the events collected
    from the aggregates it touched to the outbox and commits; leaving without committing
    rolls everything back, so a rejected request writes nothing.

    Round trips: each :meth:`pipeline` block is one. A unit of work whose first
    statements go in one sends its ``BEGIN`` with them (see ``transactions``: psycopg's
    own would be a round trip by itself); pipelines inside one join it (psycopg's nested
    pipeline sends a Sync and waits for it when it closes, and when it opens if statements
    are waiting); :meth:`commit` inside one adds
    its events and ``COMMIT`` to it (psycopg's ``commit()`` would sync as well). An enter
    batch had taken six round trips for its two pipelines.
    """

    distributions: DistributionRepository
    organizations: OrganizationRepository
    catalog: CatalogRepository
    auctions: AuctionRepository
    settlements: SettlementRepository
    queue_entries: QueueEntryRepository
    consumers: ConsumerRepository
    signing_keys: SigningKeyRepository
    draw_entries: DrawEntryRepository

    def __init__(self, pool: AsyncConnectionPool[AsyncConnection]) -> None:
        self._pool = pool
        self._conn: AsyncConnection | None = None
        self._recorded: list[Event] = []

    async def __aenter__(self) -> UnitOfWork:
        conn = await self._pool.getconn()
        self._conn = conn
        self.distributions = DistributionRepository(conn)
        self.organizations = OrganizationRepository(conn)
        self.catalog = CatalogRepository(conn)
        self.auctions = AuctionRepository(conn)
        self.settlements = SettlementRepository(conn)
        self.queue_entries = QueueEntryRepository(conn)
        self.consumers = ConsumerRepository(conn)
        self.signing_keys = SigningKeyRepository(conn)
        self.draw_entries = DrawEntryRepository(conn)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn = self._conn
        self._conn = None
        if conn is None:
            return
        try:
            await conn.rollback()
        finally:
            await self._pool.putconn(conn)  # (the pool's check undoes an autocommit mode left on)

    @property
    def connection(self) -> AsyncConnection:
        if self._conn is None:
            raise RuntimeError("the unit of work is not open")
        return self._conn

    @contextlib.asynccontextmanager
    async def pipeline(self) -> AsyncIterator[None]:
        """Statements sent inside travel together, with the ``BEGIN`` when they open the
        transaction and with the events and ``COMMIT`` when :meth:`commit` comes last: one
        round trip when the block ends, which reads their results. Inside another
        pipeline, they join it."""
        conn = self.connection
        if conn.pgconn.pipeline_status != PipelineStatus.OFF:
            yield
            return
        opening = conn.info.transaction_status == TransactionStatus.IDLE
        block: AbstractAsyncContextManager[object] = beginning(conn) if opening else conn.pipeline()
        try:
            async with block:
                yield
        finally:
            await back_to_implicit(conn)  # when the block committed

    def record(self, event: Event) -> None:
        """An event that is not an aggregate's, to commit with this unit of work."""
        self._recorded.append(event)

    async def commit(self) -> None:
        """Append the touched aggregates' events to the outbox, then commit: in one round
        trip, or inside a :meth:`pipeline`, in its round trip (the block's end then
        raises what the commit meets)."""
        conn = self.connection
        events = self._events()
        if not events and conn.info.transaction_status == TransactionStatus.IDLE:
            return  # nothing was done
        async with self.pipeline():
            await outbox.append(conn, events)
            await conn.execute("COMMIT")

    def _events(self) -> list[Event]:
        events, self._recorded = self._recorded, []
        aggregates: list[Distribution | QueueEntry | DrawEntry] = [
            *self.distributions.seen,
            *self.queue_entries.seen,
            *self.draw_entries.seen,
        ]
        for aggregate in aggregates:
            events.extend(aggregate.events)
            aggregate.events.clear()
        return events
