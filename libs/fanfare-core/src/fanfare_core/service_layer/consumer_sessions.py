"""Consumer sessions: guest sign-in, external identities, refresh and logout.

An access token is an EdDSA JWT: ``aud`` the organization, ``sub`` the consumer, ``typ``
``access``, ``sid`` the session, ``fph`` the fingerprint hash the session is bound to (when
one was given). A refresh token is opaque; each use replaces it. Logout revokes the
session, which ends its refresh tokens and, through :class:`RevokedSessions`, its access
tokens too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.adapters.revoked_sessions import RevokedSessions
from fanfare_core.auth.tokens import CLOCK_SKEW, TokenService, expiry_of
from fanfare_core.clock import Clock
from fanfare_core.domain.consumers import (
    ACCESS_TOKEN_TYPE,
    INVALID_REFRESH_TOKEN,
    Consumer,
    ConsumerSession,
    ExchangeCode,
    RefreshToken,
    binding_of,
    check_external_identity,
    digest,
    fingerprint_hash,
    invalid_exchange_code,
    new_secret,
)
from fanfare_core.domain.errors import ErrorCollector, Unauthenticated
from fanfare_core.ids import new_id
from fanfare_core.settings import Settings


@dataclass(frozen=True, slots=True)
class SessionLifetimes:
    access: timedelta
    refresh: timedelta
    exchange_code: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionLifetimes:
        return cls(
            access=timedelta(seconds=settings.access_token_seconds),
            refresh=timedelta(seconds=settings.refresh_token_seconds),
            exchange_code=timedelta(seconds=settings.exchange_code_seconds),
        )

    @property
    def revocation_memory(self) -> timedelta:
        """How long a revocation must be remembered: as long as an access token lives."""
        return self.access + CLOCK_SKEW


@dataclass(frozen=True, slots=True)
class IssuedSession:
    """What a browser receives when it signs in or refreshes."""

    consumer_id: str
    access_token: str
    expires_at: datetime
    refresh_token: str


@dataclass(frozen=True, slots=True)
class IssuedCode:
    """A one-time exchange code for a storefront's customer (shown once)."""

    code: str
    expires_at: datetime
    consumer_id: str


class ConsumerSessions:
    """The use cases of consumer sign-in."""

    def __init__(
        self,
        *,
        pool: AsyncConnectionPool[AsyncConnection],
        clock: Clock,
        tokens: Callable[[], TokenService],
        lifetimes: SessionLifetimes,
        revoked: RevokedSessions,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._tokens = tokens
        self._lifetimes = lifetimes
        self._revoked = revoked

    async def start_guest(self, organization_id: str, fingerprint: str | None) -> IssuedSession:
        """A new consumer and a session of it, bound to ``fingerprint`` when one is given."""
        now = self._clock.now()
        consumer = Consumer(
            id=new_id("cons"), organization_id=organization_id, external_id=None, created_at=now
        )
        fph = None if fingerprint is None else fingerprint_hash(fingerprint)
        async with UnitOfWork(self._pool) as uow:
            await uow.consumers.add(consumer)
            session, refresh = await self._open(uow, organization_id, consumer.id, fph, now)
            await uow.commit()
        return self._issued(session, refresh, now)

    async def authorize_external(
        self, organization_id: str, external_id: str, fingerprint: str | None
    ) -> IssuedCode:
        """A one-time code the browser exchanges for a session of the storefront customer
        ``external_id``, whose consumer is the same every time."""
        errors = ErrorCollector()
        check_external_identity(external_id, fingerprint, errors)
        errors.raise_if_any()
        now = self._clock.now()
        code = new_secret()
        async with UnitOfWork(self._pool) as uow:
            consumer = await uow.consumers.of_external_id(
                Consumer(
                    id=new_id("cons"),
                    organization_id=organization_id,
                    external_id=external_id,
                    created_at=now,
                )
            )
            record = ExchangeCode(
                code_hash=digest(code),
                organization_id=organization_id,
                consumer_id=consumer.id,
                fingerprint_hash=None if fingerprint is None else fingerprint_hash(fingerprint),
                created_at=now,
                expires_at=now + self._lifetimes.exchange_code,
            )
            await uow.consumers.add_exchange_code(record)
            await uow.commit()
        return IssuedCode(code=code, expires_at=record.expires_at, consumer_id=consumer.id)

    async def exchange(
        self, organization_id: str, code: str, fingerprint: str | None
    ) -> IssuedSession:
        """A session for the consumer of an unused, unexpired code of this organization;
        the code is spent. A code bound to a fingerprint binds the session to it, and a
        different ``fingerprint`` is refused."""
        now = self._clock.now()
        async with UnitOfWork(self._pool) as uow:
            used = await uow.consumers.use_exchange_code(organization_id, digest(code), now)
            if used is None:
                raise invalid_exchange_code()
            fph = binding_of(used.fingerprint_hash, fingerprint)
            session, refresh = await self._open(uow, organization_id, used.consumer_id, fph, now)
            await uow.commit()
        return self._issued(session, refresh, now)

    async def refresh(self, organization_id: str, refresh_token: str) -> IssuedSession:
        """A new access token and a new refresh token for a live refresh token, which stops
        working; the session (and its fingerprint binding) stays the same."""
        now = self._clock.now()
        async with UnitOfWork(self._pool) as uow:
            used = await uow.consumers.use_refresh_token(
                organization_id, digest(refresh_token), now
            )
            session = None
            if used is not None:
                session = await uow.consumers.session(organization_id, used.session_id)
            if session is None or session.revoked_at is not None:
                raise Unauthenticated(INVALID_REFRESH_TOKEN)
            refresh = self._refresh_token(session, now)
            await uow.consumers.add_refresh_token(refresh[0])
            await uow.commit()
        return self._issued(session, refresh, now)

    async def end(self, organization_id: str, session_id: str) -> None:
        """Log out: the session's refresh tokens and access tokens stop working."""
        now = self._clock.now()
        async with UnitOfWork(self._pool) as uow:
            session = await uow.consumers.session(organization_id, session_id)
            if session is None:
                return
            await uow.consumers.revoke_session(session_id, now)
            await uow.commit()
        await self._revoked.revoke(session_id, now)

    async def _open(
        self,
        uow: UnitOfWork,
        organization_id: str,
        consumer_id: str,
        fph: str | None,
        now: datetime,
    ) -> tuple[ConsumerSession, tuple[RefreshToken, str]]:
        """A new session of the consumer, with its first refresh token (plain and stored)."""
        session = ConsumerSession(
            id=new_id("sess"),
            organization_id=organization_id,
            consumer_id=consumer_id,
            fingerprint_hash=fph,
            created_at=now,
        )
        await uow.consumers.add_session(session)
        refresh = self._refresh_token(session, now)
        await uow.consumers.add_refresh_token(refresh[0])
        return session, refresh

    def _refresh_token(self, session: ConsumerSession, now: datetime) -> tuple[RefreshToken, str]:
        plain = new_secret()
        record = RefreshToken(
            token_hash=digest(plain),
            session_id=session.id,
            organization_id=session.organization_id,
            consumer_id=session.consumer_id,
            created_at=now,
            expires_at=now + self._lifetimes.refresh,
        )
        return record, plain

    def _issued(
        self, session: ConsumerSession, refresh: tuple[RefreshToken, str], now: datetime
    ) -> IssuedSession:
        extra: dict[str, object] = {"sid": session.id}
        if session.fingerprint_hash is not None:
            extra["fph"] = session.fingerprint_hash
        token = self._tokens().issue(
            subject=session.consumer_id,
            audience=session.organization_id,
            token_type=ACCESS_TOKEN_TYPE,
            now=now,
            lifetime=self._lifetimes.access,
            extra=extra,
        )
        return IssuedSession(
            consumer_id=session.consumer_id,
            access_token=token,
            expires_at=expiry_of(now, self._lifetimes.access),
            refresh_token=refresh[1],
        )
