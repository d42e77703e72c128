"""The unit of work: one transaction, its repositories, and the events to publish with it."""

from __future__ import annotations

from types import TracebackType

from psycopg import AsyncConnection
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool

from fanfare_core.adapters.postgres import outbox
from fanfare_core.adapters.postgres.auctions import AuctionRepository, SettlementRepository
from fanfare_core.adapters.postgres.catalog import CatalogRepository
from fanfare_core.adapters.postgres.consumers import ConsumerRepository
from fanfare_core.adapters.postgres.distributions import DistributionRepository
from fanfare_core.adapters.postgres.draw_entries import DrawEntryRepository
from fanfare_core.adapters.postgres.organizations import OrganizationRepository
from fanfare_core.adapters.postgres.queue_entries import QueueEntryRepository
from fanfare_core.adapters.postgres.round_trip import RoundTrip
from fanfare_core.adapters.postgres.signing_keys import SigningKeyRepository
from fanfare_core.adapters.postgres.transactions import back_to_implicit
from fanfare_core.domain.distributions import Distribution
from fanfare_core.domain.draws import DrawEntry
from fanfare_core.domain.events import Event
from fanfare_core.domain.queues import QueueEntry


class UnitOfWork:
    """``async with uow:`` opens a transaction; :meth:`commit` writes the events collected
    from the aggregates it touched to the outbox and commits; leaving without committing
    rolls everything back, so a rejected request writes nothing.

    Round trips: statements that can go together go in a :meth:`round_trip` (see
    ``round_trip``). A unit of work whose first statements go in one sends its ``BEGIN``
    with them (see ``transactions``: psycopg's own would be a round trip by itself), and
    :meth:`commit_in` adds the events and ``COMMIT`` to one; :meth:`commit` alone is one
    round trip. An enter batch had taken six round trips for its two pipelines; it takes
    two.
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
            if not conn.closed:  # (a round trip cut short closes it)
                await conn.rollback()
        finally:
            await self._pool.putconn(conn)  # (the pool's check undoes an autocommit mode left on)

    @property
    def connection(self) -> AsyncConnection:
        if self._conn is None:
            raise RuntimeError("the unit of work is not open")
        return self._conn

    async def round_trip(self) -> RoundTrip:
        """A :class:`RoundTrip` on this unit of work's connection; when it opens the
        transaction, its first statement is the ``BEGIN``. Run it, or end it with
        :meth:`commit_in`."""
        conn = self.connection
        trip = RoundTrip(conn)
        if conn.info.transaction_status == TransactionStatus.IDLE:
            await conn.set_autocommit(True)  # (see ``transactions``)
            trip.send("BEGIN")
        return trip

    async def commit_in(self, trip: RoundTrip) -> None:
        """:meth:`commit` in ``trip``: the events and ``COMMIT`` follow its statements, and
        it runs (raising what any of them meets)."""
        outbox.append(trip, self._events())
        trip.send("COMMIT")
        try:
            await trip.run()
        finally:
            await back_to_implicit(self.connection)

    def record(self, event: Event) -> None:
        """An event that is not an aggregate's, to commit with this unit of work."""
        self._recorded.append(event)

    async def commit(self) -> None:
        """Append the touched aggregates' events to the outbox, then commit: one round
        trip (with the ``BEGIN`` when nothing was sent yet; nothing when nothing was done)."""
        if (
            self.connection.info.transaction_status == TransactionStatus.IDLE
            and not self._pending()
        ):
            return  # nothing was done
        await self.commit_in(await self.round_trip())

    def _events(self) -> list[Event]:
        events: list[Event] = []
        for pending in self._pending():
            events.extend(pending)
            pending.clear()
        return events

    def _pending(self) -> list[list[Event]]:
        """The lists of events to commit: those recorded, and each touched aggregate's."""
        aggregates: list[Distribution | QueueEntry | DrawEntry] = [
            *self.distributions.seen,
            *self.queue_entries.seen,
            *self.draw_entries.seen,
        ]
        return [lst for lst in (self._recorded, *(a.events for a in aggregates)) if lst]
