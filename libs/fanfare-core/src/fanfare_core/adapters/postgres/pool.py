"""The PostgreSQL connection pool, built once per process in its composition root."""

from __future__ import annotations

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from fanfare_core.adapters.postgres.transactions import back_to_implicit
from fanfare_core.settings import Settings


async def open_pool(settings: Settings) -> AsyncConnectionPool[AsyncConnection]:
    """An opened pool for ``settings.database_url``; close it with ``await pool.close()``.

    A connection leaves the pool in psycopg's own transactions even when a transaction
    that sent its own ``BEGIN`` (``transactions.beginning``) ended without handing it
    back (an error on the way, or nobody to do it): the next user must not find it in
    autocommit mode. The check runs as the connection is handed out, with no I/O; the
    pool's ``reset`` would have done it too, but with a reset every returned connection
    goes back through a worker task instead of at once."""
    pool: AsyncConnectionPool[AsyncConnection] = AsyncConnectionPool(
        settings.database_url,
        min_size=settings.database_pool_min,
        max_size=settings.database_pool_max,
        # psycopg prepares nothing itself: the round trips of the hot paths prepare their
        # statements, which psycopg's cleanup after a rollback would deallocate too.
        kwargs={"options": "-c TimeZone=UTC", "prepare_threshold": None},
        open=False,
        name=settings.service_name,
        check=back_to_implicit,  # as each connection is handed out (see above)
    )
    await pool.open(wait=True, timeout=30)
    return pool
