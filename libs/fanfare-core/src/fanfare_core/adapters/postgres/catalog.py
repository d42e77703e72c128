"""Storage of experiences and sequences."""

from __future__ import annotations

from psycopg import AsyncConnection
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from fanfare_core.domain.catalog import Experience, Sequence

_EXPERIENCE = "id, organization_id, name, metadata, created_at, updated_at"
_SEQUENCE = "id, organization_id, experience_id, name, order_limit, created_at, updated_at"


class CatalogRepository:
    """Experiences and sequences of one organization at a time."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def save_experience(self, e: Experience) -> None:
        await self._conn.execute(
            f"INSERT INTO experiences ({_EXPERIENCE}) VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (id) DO UPDATE SET name = excluded.name,"
            " metadata = excluded.metadata, updated_at = excluded.updated_at",
            (
                e.id,
                e.organization_id,
                e.name,
                None if e.metadata is None else Jsonb(e.metadata),
                e.created_at,
                e.updated_at,
            ),
        )

    async def experience(self, organization_id: str, experience_id: str) -> Experience | None:
        async with self._conn.cursor(row_factory=class_row(Experience)) as cur:
            await cur.execute(
                f"SELECT {_EXPERIENCE} FROM experiences WHERE organization_id = %s AND id = %s"
                " AND deleted_at IS NULL",
                (organization_id, experience_id),
            )
            return await cur.fetchone()

    async def experiences(
        self, organization_id: str, *, limit: int, before: str | None
    ) -> list[Experience]:
        async with self._conn.cursor(row_factory=class_row(Experience)) as cur:
            await cur.execute(
                f"SELECT {_EXPERIENCE} FROM experiences WHERE organization_id = %s"
                " AND deleted_at IS NULL AND (%s::text IS NULL OR id < %s)"
                " ORDER BY id DESC LIMIT %s",
                (organization_id, before, before, limit),
            )
            return await cur.fetchall()

    async def delete_experience(self, experience_id: str) -> None:
        await self._conn.execute(
            "UPDATE experiences SET deleted_at = now() WHERE id = %s", (experience_id,)
        )

    async def save_sequence(self, s: Sequence) -> None:
        await self._conn.execute(
            f"INSERT INTO sequences ({_SEQUENCE}) VALUES (%s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (id) DO UPDATE SET name = excluded.name,"
            " order_limit = excluded.order_limit, updated_at = excluded.updated_at",
            (
                s.id,
                s.organization_id,
                s.experience_id,
                s.name,
                s.order_limit,
                s.created_at,
                s.updated_at,
            ),
        )

    async def sequence(self, organization_id: str, sequence_id: str) -> Sequence | None:
        async with self._conn.cursor(row_factory=class_row(Sequence)) as cur:
            await cur.execute(
                f"SELECT {_SEQUENCE} FROM sequences WHERE organization_id = %s AND id = %s"
                " AND deleted_at IS NULL",
                (organization_id, sequence_id),
            )
            return await cur.fetchone()

    async def sequences(
        self,
        organization_id: str,
        *,
        experience_id: str | None,
        limit: int,
        before: str | None,
    ) -> list[Sequence]:
        async with self._conn.cursor(row_factory=class_row(Sequence)) as cur:
            await cur.execute(
                f"SELECT {_SEQUENCE} FROM sequences WHERE organization_id = %s"
                " AND deleted_at IS NULL AND (%s::text IS NULL OR experience_id = %s)"
                " AND (%s::text IS NULL OR id < %s) ORDER BY id DESC LIMIT %s",
                (organization_id, experience_id, experience_id, before, before, limit),
            )
            return await cur.fetchall()

    async def count_sequences(self, experience_id: str) -> int:
        cur = await self._conn.execute(
            "SELECT count(*) FROM sequences WHERE experience_id = %s AND deleted_at IS NULL",
            (experience_id,),
        )
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def count_distributions(self, sequence_id: str) -> int:
        cur = await self._conn.execute(
            "SELECT count(*) FROM distributions WHERE sequence_id = %s AND deleted_at IS NULL",
            (sequence_id,),
        )
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def delete_sequence(self, sequence_id: str) -> None:
        await self._conn.execute(
            "UPDATE sequences SET deleted_at = now() WHERE id = %s", (sequence_id,)
        )
