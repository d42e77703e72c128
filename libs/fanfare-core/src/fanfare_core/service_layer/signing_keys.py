"""The signing keys every replica shares: the first one, rotation, and a live key ring.

Keys live in PostgreSQL. The newest key without a retirement time signs; a rotation adds
a new key (the signer from then on) and gives the older ones a retirement time after an
overlap at least as long as the longest token lifetime, so every token issued before the
rotation keeps verifying until it expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.auth.signing_keys import KeyRing, SigningKey, new_signing_key
from fanfare_core.auth.tokens import InvalidToken, TokenClaims, TokenService
from fanfare_core.clock import Clock
from fanfare_core.domain.errors import ErrorCollector
from fanfare_core.logs import get_logger
from fanfare_core.settings import Settings

log = get_logger(__name__)

DEFAULT_OVERLAP = timedelta(hours=24)


async def load_key_ring(uow: UnitOfWork, clock: Clock) -> KeyRing:
    """The keys in force, after creating the first signer if there is none. Processes
    starting together create one key between them (an advisory lock serializes them)."""
    now = clock.now()
    async with uow:
        keys = await uow.signing_keys.in_force(now)
        if not any(k.retires_at is None for k in keys):
            await uow.signing_keys.lock()
            keys = await uow.signing_keys.in_force(now)
            if not any(k.retires_at is None for k in keys):
                first = new_signing_key(now)
                await uow.signing_keys.add(first)
                keys.append(first)
                log.info("signing key created", kid=first.kid)
            await uow.commit()
    return KeyRing(tuple(keys))


async def rotate_signing_keys(
    uow: UnitOfWork, clock: Clock, *, overlap: timedelta = DEFAULT_OVERLAP
) -> SigningKey:
    """Add a new key, which signs from now on; the others retire after ``overlap``."""
    if overlap < timedelta(0):
        errors = ErrorCollector()
        errors.add("overlap", "must not be negative")
        errors.raise_if_any()
    now = clock.now()
    key = new_signing_key(now)
    async with uow:
        await uow.signing_keys.lock()
        await uow.signing_keys.add(key)
        await uow.signing_keys.retire_all_but(key.kid, now + overlap)
        await uow.commit()
    log.info("signing keys rotated", kid=key.kid, overlap_seconds=overlap.total_seconds())
    return key


async def list_signing_keys(uow: UnitOfWork) -> list[SigningKey]:
    """Every key ever made, oldest first, retired ones included."""
    async with uow:
        return await uow.signing_keys.all()


class KeyRingLoader:
    """The key ring of a running process, shared with every other replica through
    PostgreSQL: loaded (creating the first key if need be) by :meth:`start`, reloaded every
    ``refresh_seconds`` so rotations reach every replica, and at once (at most every
    ``unknown_kid_reload_seconds``) when a token names a key this process has not seen yet."""

    def __init__(
        self,
        pool: AsyncConnectionPool[AsyncConnection],
        clock: Clock,
        *,
        issuer: str,
        refresh_seconds: float,
        unknown_kid_reload_seconds: float = 1.0,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._issuer = issuer
        self._refresh_seconds = refresh_seconds
        self._unknown_kid_reload_seconds = unknown_kid_reload_seconds
        self._tokens: TokenService | None = None
        self._task: asyncio.Task[None] | None = None
        self._last_load = 0.0
        self._reloading: asyncio.Lock = asyncio.Lock()

    async def start(self) -> None:
        """Load the ring and keep it fresh in the background until :meth:`close`."""
        await self.reload()
        self._task = asyncio.create_task(self._refresh_forever(), name="key-ring-refresh")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def current(self) -> TokenService:
        """The token service of the newest ring loaded."""
        if self._tokens is None:
            raise RuntimeError("the key ring is not loaded yet")
        return self._tokens

    async def reload(self) -> None:
        ring = await load_key_ring(UnitOfWork(self._pool), self._clock)
        self._last_load = time.monotonic()
        previous = None if self._tokens is None else self._tokens.ring
        self._tokens = TokenService(ring, self._issuer)
        if previous is None or {k.kid for k in previous.keys} != {k.kid for k in ring.keys}:
            log.info("key ring loaded", kids=[k.kid for k in ring.keys])

    async def verify(self, token: str, *, audience: str, token_type: str) -> TokenClaims:
        """Verify with the current ring; a token of a key made since the last load gets one
        more try after a reload (another replica may have rotated a moment ago)."""
        now = self._clock.now()
        try:
            return self.current().verify(token, audience=audience, token_type=token_type, now=now)
        except InvalidToken as error:
            if error.reason != "unknown key":
                raise
        await self._reload_unless_fresh()
        return self.current().verify(
            token, audience=audience, token_type=token_type, now=self._clock.now()
        )

    async def _reload_unless_fresh(self) -> None:
        # Tokens of made-up kids must not turn into a query each: one reload now and then.
        async with self._reloading:
            if time.monotonic() - self._last_load >= self._unknown_kid_reload_seconds:
                try:
                    await self.reload()
                except Exception as error:  # the token is refused; the ring stays as it was
                    self._last_load = time.monotonic()
                    log.warning("key ring reload failed", error=repr(error))

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_seconds)
            try:
                await self.reload()
            except Exception as error:  # keep the ring we have; try again next time
                log.warning("key ring refresh failed", error=repr(error))


def key_ring_for(
    settings: Settings, pool: AsyncConnectionPool[AsyncConnection], clock: Clock
) -> KeyRingLoader:
    """The key ring of a worker process, configured from its settings (not yet started)."""
    return KeyRingLoader(
        pool,
        clock,
        issuer=settings.token_issuer,
        refresh_seconds=settings.signing_key_refresh_seconds,
    )
