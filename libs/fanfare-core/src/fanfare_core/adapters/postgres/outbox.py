"""The transactional outbox: events are rows written in the same transaction as the change."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from psycopg import AsyncConnection

from fanfare_core.domain.events import Event
from fanfare_core.events.envelope import encode_event
from fanfare_core.ids import new_id

#: The channel PostgreSQL notifies when events commit, so the relay wakes at once.
OUTBOX_CHANNEL = "fanfare_outbox"


@dataclass(frozen=True, slots=True)
class PendingMessage:
    position: int
    id: str
    subject: str
    payload: bytes


async def append(conn: AsyncConnection, events: Iterable[Event]) -> list[str]:
    """Write ``events`` to the outbox inside the caller's transaction; return their ids."""
    rows = []
    for event in events:
        event_id = new_id("evt")
        subject, payload = encode_event(event, event_id)
        rows.append((event_id, subject, payload))
    if rows:
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO outbox (id, subject, payload) VALUES (%s, %s, %s)", rows
            )
        await conn.execute("SELECT pg_notify(%s, '')", (OUTBOX_CHANNEL,))
    return [row[0] for row in rows]


async def claim_pending(conn: AsyncConnection, limit: int) -> list[PendingMessage]:
    """Lock up to ``limit`` unpublished messages, oldest first, skipping ones other relays hold."""
    cur = await conn.execute(
        "SELECT position, id, subject, payload FROM outbox WHERE published_at IS NULL"
        " ORDER BY position LIMIT %s FOR UPDATE SKIP LOCKED",
        (limit,),
    )
    return [PendingMessage(*row) for row in await cur.fetchall()]


async def mark_published(conn: AsyncConnection, positions: list[int]) -> None:
    if positions:
        await conn.execute(
            "UPDATE outbox SET published_at = now() WHERE position = ANY(%s)", (positions,)
        )
