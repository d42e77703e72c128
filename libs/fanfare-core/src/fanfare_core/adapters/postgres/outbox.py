"""The transactional outbox: events are rows written in the same transaction as the change."""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgspec
from psycopg import AsyncConnection, AsyncCursor

from fanfare_core.adapters.postgres.json_rows import json_rows
from fanfare_core.adapters.postgres.round_trip import RoundTrip
from fanfare_core.domain.events import Event
from fanfare_core.events.envelope import encode_event
from fanfare_core.ids import new_ids

#: The channel PostgreSQL notifies when events commit, so the relay wakes at once.
OUTBOX_CHANNEL = "fanfare_outbox"


@dataclass(frozen=True, slots=True)
class PendingMessage:
    position: int
    id: str
    subject: str
    payload: bytes


def append(trip: RoundTrip, events: Iterable[Event]) -> list[str]:
    """Write ``events`` to the outbox in ``trip`` (inside the caller's transaction);
    return their ids."""
    ids, params = _rows(events)
    if ids:
        trip.send(_APPEND, params)
    return ids


# One statement writes the rows and wakes the relays (NOTIFY is sent at commit); each
# payload travels inside the rows verbatim (see json_rows).
_APPEND = (
    "WITH written AS (INSERT INTO outbox (id, subject, payload)"
    " SELECT row->>0, row->>1, convert_to((row->2)::text, 'UTF8')"
    " FROM json_array_elements(%s::json) AS row RETURNING 1)"
    " SELECT pg_notify(%s, '') WHERE EXISTS (SELECT FROM written)"
)


def _rows(events: Iterable[Event]) -> tuple[list[str], tuple[str, str]]:
    """The events' new ids, and the parameters of :data:`_APPEND` that write them."""
    events = list(events)
    ids = new_ids("evt", len(events))
    rows = []
    for event, event_id in zip(events, ids, strict=True):
        subject, payload = encode_event(event, event_id)
        rows.append((event_id, subject, msgspec.Raw(payload)))
    return ids, (json_rows(rows), OUTBOX_CHANNEL)


async def send_claim(conn: AsyncConnection, limit: int) -> AsyncCursor[tuple[Any, ...]]:
    """Lock up to ``limit`` unpublished messages, oldest first, skipping ones other relays
    hold: sent, not read (in a pipeline, it travels with what comes before it)."""
    return await conn.execute(
        "SELECT position, id, subject, payload FROM outbox WHERE published_at IS NULL"
        " ORDER BY position LIMIT %s FOR UPDATE SKIP LOCKED",
        (limit,),
    )


async def claimed(claim: AsyncCursor[tuple[Any, ...]]) -> list[PendingMessage]:
    """The messages :func:`send_claim` locked."""
    return [PendingMessage(*row) for row in await claim.fetchall()]


async def stamp_lazily(conn: AsyncConnection) -> None:
    """Let the caller's transaction (a relay's claim and stamp) commit without waiting for
    its WAL to reach the disk (``synchronous_commit`` off for this transaction only).

    A stamp lost in a crash of PostgreSQL (the WAL writer flushes within a fraction of a
    second) only makes a later pass publish those messages again, as a relay dying
    between publishing and stamping always could: JetStream drops them as duplicates
    within its window (``Nats-Msg-Id``, 120 s), and consumers are idempotent beyond it.
    So the relay pays no flush per pass, and the commits of the changes that wrote the
    events do not queue behind its flushes (beside the enter's half-rate benchmark run,
    7,833 WAL flushes in 30 s became 5,377).
    """
    await conn.execute("SET LOCAL synchronous_commit TO off")


async def mark_published(conn: AsyncConnection, positions: list[int]) -> None:
    if positions:
        await conn.execute(
            "UPDATE outbox SET published_at = now() WHERE position = ANY(%s)", (positions,)
        )


async def append_encoded(conn: AsyncConnection, rows: Iterable[tuple[str, str, bytes]]) -> int:
    """Write already encoded events, ``(id, subject, payload)`` rows, inside the caller's
    transaction with one binary COPY (the bulk path, e.g. a draw's lost events; a million
    rows take seconds, not minutes); return how many."""
    count = 0
    buffer = bytearray(_COPY_HEADER)
    async with (
        conn.cursor() as cur,
        cur.copy("COPY outbox (id, subject, payload) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        for event_id, subject, payload in rows:
            ident, topic = event_id.encode(), subject.encode()
            buffer += _ROW_HEAD.pack(3, len(ident))
            buffer += ident
            buffer += _FIELD_LENGTH.pack(len(topic))
            buffer += topic
            buffer += _FIELD_LENGTH.pack(len(payload))
            buffer += payload
            count += 1
            if len(buffer) >= _COPY_CHUNK:
                await copy.write(bytes(buffer))
                buffer.clear()
        buffer += _COPY_TRAILER
        await copy.write(bytes(buffer))
    if count:
        await conn.execute("SELECT pg_notify(%s, '')", (OUTBOX_CHANNEL,))
    return count


# PostgreSQL's binary COPY format: a signature and two zero words, then per row the field
# count (int16) and each field as its length (int32) and bytes, then -1 (int16).
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)
_ROW_HEAD = struct.Struct(">hi")
_FIELD_LENGTH = struct.Struct(">i")
_COPY_CHUNK = 1 << 20
