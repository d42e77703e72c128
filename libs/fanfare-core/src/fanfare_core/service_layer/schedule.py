"""What the scheduler does at each instant: status transitions, settlement requests,
admission pacing and the expiry of admissions. It keeps no timers of its own: due work is
read from PostgreSQL, so a restart or a missed event loses nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from fanfare_core.adapters.postgres import schedule
from fanfare_core.adapters.postgres.schedule import Moved
from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.clock import Clock
from fanfare_core.domain.events import DistributionStatusChanged, SettlementRequested
from fanfare_core.logs import get_logger
from fanfare_core.service_layer.queues import QueueService

log = get_logger(__name__)
Pool = AsyncConnectionPool[AsyncConnection]


class Transitions:
    """Moves every distribution whose instant has come, in one transaction per pass."""

    def __init__(self, pool: Pool, clock: Clock) -> None:
        self._pool = pool
        self._clock = clock

    async def run_due(self) -> list[Moved]:
        """Open, close, complete and request settlement for whatever is due now; each
        change commits with its ``distribution.status_changed`` or
        ``settlement.requested`` event."""
        now = self._clock.now()
        async with UnitOfWork(self._pool) as uow:
            conn = uow.connection
            moved = [
                *await schedule.open_due(conn, now),
                *await schedule.close_due(conn, now),
                *await schedule.complete_drained_queues(conn, now),
            ]
            for change in moved:
                uow.record(
                    DistributionStatusChanged(
                        organization_id=change.organization_id, occurred_at=now,
                        distribution_id=change.distribution_id, kind=change.kind,
                        status=change.status, previous_status=change.previous,
                    )
                )  # fmt: skip
            for due in await schedule.request_due_settlements(conn, now):
                uow.record(
                    SettlementRequested(
                        organization_id=due.organization_id, occurred_at=now,
                        distribution_id=due.distribution_id, kind=due.kind, reason="DUE",
                    )
                )  # fmt: skip
            await uow.commit()
        for change in moved:
            log.info(
                "transition",
                distribution=change.distribution_id,
                status=change.status,
                previous=change.previous,
            )
        return moved

    async def next_instant(self) -> datetime | None:
        async with UnitOfWork(self._pool) as uow:
            return await schedule.next_instant(uow.connection)


@dataclass
class AdmissionPacer:
    """Admits from each open queue at its ``admissionRate`` per minute, evenly spaced (one
    admission every 60/rate seconds, never a burst), first come first served."""

    pool: Pool
    queues: QueueService
    clock: Clock
    _next: dict[str, datetime] = field(default_factory=dict)

    async def tick(self) -> datetime | None:
        """Admit whoever is due; return when the next admission will be due."""
        now = self.clock.now()
        async with UnitOfWork(self.pool) as uow:
            candidates = await schedule.pacing_candidates(uow.connection)
        waiting = {queue_id for queue_id, _, _ in candidates}
        for queue_id in list(self._next):
            if queue_id not in waiting:
                del self._next[queue_id]  # nobody waits: no credit piles up meanwhile
        for queue_id, organization_id, rate in candidates:
            interval = timedelta(seconds=60 / rate)
            due = self._next.get(queue_id, now)
            while due <= now:
                if await self.queues.admit_next(organization_id, queue_id) is None:
                    due = now  # the line emptied meanwhile: start afresh, no burst later
                    break
                due += interval
            self._next[queue_id] = due
        return min(self._next.values(), default=None)

    async def expire(self) -> int:
        """Free the places of admissions whose session has ended."""
        async with UnitOfWork(self.pool) as uow:
            queue_ids = await schedule.queues_with_expired_admissions(
                uow.connection, self.clock.now()
            )
        return sum([await self.queues.expire_admissions_of(queue_id) for queue_id in queue_ids])
