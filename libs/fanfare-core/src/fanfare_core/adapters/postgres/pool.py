"""The PostgreSQL connection pool, built once per process in its composition root."""

from __future__ import annotations

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from fanfare_core.settings import Settings


async def open_pool(settings: Settings) -> AsyncConnectionPool[AsyncConnection]:
    """An opened pool for ``settings.database_url``; close it with ``await pool.close()``."""
    pool: AsyncConnectionPool[AsyncConnection] = AsyncConnectionPool(
        settings.database_url,
        min_size=settings.database_pool_min,
        max_size=settings.database_pool_max,
        kwargs={"options": "-c TimeZone=UTC"},
        open=False,
        name=settings.service_name,
    )
    await pool.open(wait=True, timeout=30)
    return pool
