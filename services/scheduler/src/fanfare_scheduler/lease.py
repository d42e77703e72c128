"""Leadership: one scheduler acts at a time. The leader holds a PostgreSQL session advisory
lock on a connection of its own; if the process dies, its connection closes, the lock is
released, and a standby takes it on its next try (within a second)."""

from __future__ import annotations

import contextlib

import psycopg

from fanfare_core.logs import get_logger

log = get_logger(__name__)
# An arbitrary constant naming the scheduler's lock.
LEASE_KEY = 0x46_53_43_48


class Lease:
    def __init__(self, database_url: str) -> None:
        self._database_url = database_url
        self._conn: psycopg.AsyncConnection | None = None
        self.leader = False

    async def held(self) -> bool:
        """Whether this process leads now (taking the lease if it is free)."""
        try:
            if self._conn is None or self._conn.closed:
                self._conn = await psycopg.AsyncConnection.connect(
                    self._database_url, autocommit=True
                )
                self.leader = False
            if self.leader:
                await self._conn.execute("SELECT 1")  # still connected, so still holding it
                return True
            cur = await self._conn.execute("SELECT pg_try_advisory_lock(%s)", (LEASE_KEY,))
            row = await cur.fetchone()
            self.leader = bool(row and row[0])
            if self.leader:
                log.info("became the leading scheduler")
            return self.leader
        except psycopg.Error as error:
            if self.leader:
                log.warning("lost the scheduler lease", error=repr(error))
            await self.release()
            return False

    async def release(self) -> None:
        self.leader = False
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                await self._conn.close()
            self._conn = None
