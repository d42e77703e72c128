"""Storage of consumers, their sessions, exchange codes and refresh tokens."""

from __future__ import annotations

from datetime import datetime

from psycopg import AsyncConnection
from psycopg.rows import class_row

from fanfare_core.domain.consumers import (
    Consumer,
    ConsumerSession,
    ExchangeCode,
    RefreshToken,
)

_SESSION = "id, organization_id, consumer_id, fingerprint_hash, created_at, revoked_at"
_CODE = "code_hash, organization_id, consumer_id, fingerprint_hash, created_at, expires_at, used_at"
_REFRESH = (
    "token_hash, session_id, organization_id, consumer_id, created_at, expires_at, revoked_at"
)


class ConsumerRepository:
    """Consumers and what their sign-ins need, read and written on one connection."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, consumer: Consumer) -> None:
        await self._conn.execute(
            "INSERT INTO consumers (id, organization_id, external_id, created_at)"
            " VALUES (%s, %s, %s, %s)",
            (consumer.id, consumer.organization_id, consumer.external_id, consumer.created_at),
        )

    async def of_external_id(self, candidate: Consumer) -> Consumer:
        """The consumer of ``candidate``'s organization and external id: the stored one, or
        ``candidate`` stored now. Concurrent callers all get the same consumer."""
        await self._conn.execute(
            "INSERT INTO consumers (id, organization_id, external_id, created_at)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (organization_id, external_id) DO NOTHING",
            (candidate.id, candidate.organization_id, candidate.external_id, candidate.created_at),
        )
        async with self._conn.cursor(row_factory=class_row(Consumer)) as cur:
            await cur.execute(
                "SELECT id, organization_id, external_id, created_at FROM consumers"
                " WHERE organization_id = %s AND external_id = %s",
                (candidate.organization_id, candidate.external_id),
            )
            found = await cur.fetchone()
        assert found is not None
        return found

    async def add_session(self, session: ConsumerSession) -> None:
        await self._conn.execute(
            f"INSERT INTO consumer_sessions ({_SESSION}) VALUES (%s, %s, %s, %s, %s, %s)",
            (
                session.id,
                session.organization_id,
                session.consumer_id,
                session.fingerprint_hash,
                session.created_at,
                session.revoked_at,
            ),
        )

    async def session(self, organization_id: str, session_id: str) -> ConsumerSession | None:
        async with self._conn.cursor(row_factory=class_row(ConsumerSession)) as cur:
            await cur.execute(
                f"SELECT {_SESSION} FROM consumer_sessions WHERE organization_id = %s AND id = %s",
                (organization_id, session_id),
            )
            return await cur.fetchone()

    async def revoke_session(self, session_id: str, at: datetime) -> None:
        """End a session: it and every refresh token of it stop working."""
        await self._conn.execute(
            "UPDATE consumer_sessions SET revoked_at = %s WHERE id = %s AND revoked_at IS NULL",
            (at, session_id),
        )
        await self._conn.execute(
            "UPDATE refresh_tokens SET revoked_at = %s"
            " WHERE session_id = %s AND revoked_at IS NULL",
            (at, session_id),
        )

    async def is_session_revoked(self, session_id: str) -> bool:
        cur = await self._conn.execute(
            "SELECT revoked_at IS NOT NULL FROM consumer_sessions WHERE id = %s", (session_id,)
        )
        row = await cur.fetchone()
        return row is None or bool(row[0])

    async def sessions_revoked_since(self, since: datetime) -> list[tuple[str, datetime]]:
        """Ids and revocation times of sessions revoked after ``since``."""
        cur = await self._conn.execute(
            "SELECT id, revoked_at FROM consumer_sessions WHERE revoked_at > %s", (since,)
        )
        return [(str(row[0]), row[1]) for row in await cur.fetchall()]

    async def add_exchange_code(self, code: ExchangeCode) -> None:
        await self._conn.execute(
            f"INSERT INTO exchange_codes ({_CODE}) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (
                code.code_hash,
                code.organization_id,
                code.consumer_id,
                code.fingerprint_hash,
                code.created_at,
                code.expires_at,
                code.used_at,
            ),
        )

    async def use_exchange_code(
        self, organization_id: str, code_hash: str, now: datetime
    ) -> ExchangeCode | None:
        """Mark the organization's unused, unexpired code used and return it; None if there
        is no such code. Of concurrent uses exactly one gets it."""
        async with self._conn.cursor(row_factory=class_row(ExchangeCode)) as cur:
            await cur.execute(
                f"UPDATE exchange_codes SET used_at = %s WHERE code_hash = %s"
                f" AND organization_id = %s AND used_at IS NULL AND expires_at > %s"
                f" RETURNING {_CODE}",
                (now, code_hash, organization_id, now),
            )
            return await cur.fetchone()

    async def add_refresh_token(self, token: RefreshToken) -> None:
        await self._conn.execute(
            f"INSERT INTO refresh_tokens ({_REFRESH}) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (
                token.token_hash,
                token.session_id,
                token.organization_id,
                token.consumer_id,
                token.created_at,
                token.expires_at,
                token.revoked_at,
            ),
        )

    async def use_refresh_token(
        self, organization_id: str, token_hash: str, now: datetime
    ) -> RefreshToken | None:
        """Revoke the organization's live refresh token and return it; None if there is none.
        Of concurrent uses exactly one gets it."""
        async with self._conn.cursor(row_factory=class_row(RefreshToken)) as cur:
            await cur.execute(
                f"UPDATE refresh_tokens SET revoked_at = %s WHERE token_hash = %s"
                f" AND organization_id = %s AND revoked_at IS NULL AND expires_at > %s"
                f" RETURNING {_REFRESH}",
                (now, token_hash, organization_id, now),
            )
            return await cur.fetchone()

    async def refresh_token(self, organization_id: str, token_hash: str) -> RefreshToken | None:
        async with self._conn.cursor(row_factory=class_row(RefreshToken)) as cur:
            await cur.execute(
                f"SELECT {_REFRESH} FROM refresh_tokens"
                " WHERE token_hash = %s AND organization_id = %s",
                (token_hash, organization_id),
            )
            return await cur.fetchone()
