"""Storage of organizations and API keys."""

from __future__ import annotations

from datetime import datetime

from psycopg import AsyncConnection
from psycopg.rows import class_row

from fanfare_core.domain.organizations import ApiKey, KeyKind, KeyMode, Organization

_KEY_COLUMNS = (
    "id, organization_id, kind, mode, name, display_prefix, key_hash, created_at, revoked_at"
)


def _key(row: tuple[object, ...]) -> ApiKey:
    (id_, org, kind, mode, name, prefix, digest, created, revoked) = row
    return ApiKey(
        id=str(id_),
        organization_id=str(org),
        kind=KeyKind(str(kind)),
        mode=KeyMode(str(mode)),
        name=name if isinstance(name, str) else None,
        display_prefix=str(prefix),
        key_hash=str(digest),
        created_at=created,  # type: ignore[arg-type]
        revoked_at=revoked,  # type: ignore[arg-type]
    )


class OrganizationRepository:
    """Organizations and their keys, read and written on one connection."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, organization: Organization) -> None:
        await self._conn.execute(
            "INSERT INTO organizations (id, name, time_zone, currency_code, created_at)"
            " VALUES (%s, %s, %s, %s, %s)",
            (
                organization.id,
                organization.name,
                organization.time_zone,
                organization.currency_code,
                organization.created_at,
            ),
        )

    async def get(self, organization_id: str) -> Organization | None:
        async with self._conn.cursor(row_factory=class_row(Organization)) as cur:
            await cur.execute(
                "SELECT id, name, time_zone, currency_code, created_at"
                " FROM organizations WHERE id = %s",
                (organization_id,),
            )
            return await cur.fetchone()

    async def add_key(self, key: ApiKey) -> None:
        await self._conn.execute(
            f"INSERT INTO api_keys ({_KEY_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                key.id,
                key.organization_id,
                key.kind.value,
                key.mode.value,
                key.name,
                key.display_prefix,
                key.key_hash,
                key.created_at,
                key.revoked_at,
            ),
        )

    async def key_by_hash(self, key_hash: str) -> ApiKey | None:
        cur = await self._conn.execute(
            f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE key_hash = %s", (key_hash,)
        )
        row = await cur.fetchone()
        return None if row is None else _key(row)

    async def key(self, organization_id: str, key_id: str) -> ApiKey | None:
        cur = await self._conn.execute(
            f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE organization_id = %s AND id = %s"
            " FOR UPDATE",
            (organization_id, key_id),
        )
        row = await cur.fetchone()
        return None if row is None else _key(row)

    async def keys(self, organization_id: str) -> list[ApiKey]:
        cur = await self._conn.execute(
            f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE organization_id = %s ORDER BY id",
            (organization_id,),
        )
        return [_key(row) for row in await cur.fetchall()]

    async def count_active_secret_keys(self, organization_id: str) -> int:
        cur = await self._conn.execute(
            "SELECT count(*) FROM api_keys WHERE organization_id = %s"
            " AND kind = 'secret' AND revoked_at IS NULL",
            (organization_id,),
        )
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def revoke_key(self, key_id: str, at: datetime) -> None:
        await self._conn.execute(
            "UPDATE api_keys SET revoked_at = %s WHERE id = %s AND revoked_at IS NULL",
            (at, key_id),
        )
