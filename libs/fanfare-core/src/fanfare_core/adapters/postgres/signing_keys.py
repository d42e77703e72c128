"""Storage of the Ed25519 signing keys every replica shares."""

from __future__ import annotations

from datetime import datetime

from psycopg import AsyncConnection

from fanfare_core.auth.signing_keys import SigningKey, load_signing_key

_COLUMNS = "kid, private_key, created_at, retires_at"
# An arbitrary constant that identifies the lock serializing key creation and rotation.
_LOCK_KEY = 0x46_4B_45_59


def _key(row: tuple[object, ...]) -> SigningKey:
    kid, private, created, retires = row
    assert isinstance(private, bytes)
    return load_signing_key(str(kid), private, created, retires)  # type: ignore[arg-type]


class SigningKeyRepository:
    """Signing keys, read and written on one connection."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def lock(self) -> None:
        """Serialize key creation and rotation with other processes until the transaction ends."""
        await self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))

    async def in_force(self, now: datetime) -> list[SigningKey]:
        """Keys that still verify at ``now``, oldest first."""
        cur = await self._conn.execute(
            f"SELECT {_COLUMNS} FROM signing_keys WHERE retires_at IS NULL OR retires_at > %s"
            " ORDER BY created_at, kid",
            (now,),
        )
        return [_key(row) for row in await cur.fetchall()]

    async def all(self) -> list[SigningKey]:
        cur = await self._conn.execute(
            f"SELECT {_COLUMNS} FROM signing_keys ORDER BY created_at, kid"
        )
        return [_key(row) for row in await cur.fetchall()]

    async def add(self, key: SigningKey) -> None:
        await self._conn.execute(
            f"INSERT INTO signing_keys ({_COLUMNS}) VALUES (%s, %s, %s, %s)",
            (key.kid, key.private_bytes(), key.created_at, key.retires_at),
        )

    async def retire_all_but(self, kid: str, at: datetime) -> int:
        """Make every other key stop verifying at ``at`` (never later than already set)."""
        cur = await self._conn.execute(
            "UPDATE signing_keys SET retires_at = %s"
            " WHERE kid <> %s AND (retires_at IS NULL OR retires_at > %s)",
            (at, kid, at),
        )
        return cur.rowcount
