"""Saving an entry (of a queue or a draw) that takes a new version on every change."""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import Protocol

from psycopg import AsyncConnection


class Versioned(Protocol):
    status: Enum
    version: int


async def save_versioned(
    conn: AsyncConnection,
    upsert: str,
    columns: Sequence[str],
    entry: Versioned,
    seen: list[Versioned],
) -> None:
    """Insert or update ``entry`` with ``upsert`` (its columns but the last, ``version``,
    which the statement draws from a sequence and returns); record it in ``seen`` once."""
    values = [getattr(entry, c) for c in columns[:-1]]
    values[list(columns).index("status")] = entry.status.value
    cur = await conn.execute(upsert, values)
    row = await cur.fetchone()
    assert row is not None
    entry.version = int(row[0])
    if not any(e is entry for e in seen):
        seen.append(entry)
