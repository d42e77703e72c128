"""Verifying consumer access tokens on the hot path.

A verified token is remembered in the process (by its SHA-256, until it expires, at most
``max_entries`` of them), so a status poll neither re-checks the signature nor asks Redis
each time. Whether its session was logged out is asked of Redis the first time and then
again every ``recheck_seconds``; logouts made by this process or heard about from another
replica (NATS) take effect at once.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime

from fanfare_core.adapters.revoked_sessions import RevokedSessions
from fanfare_core.auth.tokens import InvalidToken
from fanfare_core.clock import Clock
from fanfare_core.domain.consumers import ACCESS_TOKEN_TYPE, INVALID_ACCESS_TOKEN, digest
from fanfare_core.domain.errors import Unauthenticated
from fanfare_core.logs import get_logger
from fanfare_core.service_layer.signing_keys import KeyRingLoader
from fanfare_core.ttl_cache import TtlCache

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class AccessGrant:
    """What a valid access token says."""

    organization_id: str
    consumer_id: str
    session_id: str
    fingerprint_hash: str | None
    expires_at: datetime
    kid: str


# A verified token as cached: the grant's fields in order, then when Redis last said its
# session was not revoked (monotonic). A plain tuple of strings, datetimes and floats, which
# the garbage collector stops tracking: a crowd's hundred thousand cached tokens then cost
# full collections nothing, where as objects they were scanned by every one (pauses that
# grew past 40 ms under the enter benchmark, each finding nothing to free).
_Verified = tuple[str, str, str, str | None, datetime, str, float]


def _cached(grant: AccessGrant, checked_at: float) -> _Verified:
    return (
        grant.organization_id,
        grant.consumer_id,
        grant.session_id,
        grant.fingerprint_hash,
        grant.expires_at,
        grant.kid,
        checked_at,
    )


class AccessTokenVerifier:
    """Turns ``Authorization: Bearer`` tokens into :class:`AccessGrant`, or
    ``401 Invalid access token``."""

    def __init__(
        self,
        *,
        keys: KeyRingLoader,
        revoked: RevokedSessions,
        clock: Clock,
        recheck_seconds: float,
        max_entries: int = 100_000,
    ) -> None:
        self._keys = keys
        self._revoked = revoked
        self._clock = clock
        self._recheck_seconds = recheck_seconds
        self._verified: TtlCache[str, _Verified] = TtlCache(max_entries)

    async def verify(self, organization_id: str, token: str) -> AccessGrant:
        """The grant of a live access token issued for ``organization_id``."""
        key, grant, unconfirmed = await self._grant(organization_id, token)
        if unconfirmed:
            await self._confirm(key, grant)
        return grant

    async def verify_confirming_later(
        self, organization_id: str, token: str
    ) -> tuple[AccessGrant, asyncio.Task[None] | None]:
        """:meth:`verify`, except that where Redis must be asked whether the session was
        logged out, the question is sent and not waited for: the grant comes back with a
        task that ends in ``401 Invalid access token`` if it was. The caller must await
        the task before it does anything for the shopper, and can meanwhile do what it
        would wait for anyway (an enter's batch awaits it along with its locks): the
        check then costs the request no turns of the event loop of its own."""
        key, grant, unconfirmed = await self._grant(organization_id, token)
        if not unconfirmed:
            return grant, None
        confirming = asyncio.ensure_future(self._confirm(key, grant))
        # A caller that went away never awaits it: its refusal is not an error to log.
        confirming.add_done_callback(_outcome_seen)
        return grant, confirming

    async def _grant(self, organization_id: str, token: str) -> tuple[str, AccessGrant, bool]:
        """The token's cache key and grant, and whether Redis must now be asked about its
        session (:meth:`_confirm`)."""
        key = digest(token)
        cached = self._verified.get(key)
        if cached is not None:
            grant = AccessGrant(*cached[:6])
            if self._still_good(grant, organization_id, self._clock.now()):
                if self._revoked.known_revoked(grant.session_id):
                    raise self._refused(key, "session revoked")
                return key, grant, time.monotonic() - cached[6] >= self._recheck_seconds
        return key, await self._verify_signed(organization_id, token), True

    async def _confirm(self, key: str, grant: AccessGrant) -> None:
        """Refuse the grant if its session was logged out, else remember it as live."""
        if await self._revoked.is_revoked(grant.session_id):
            raise self._refused(key, "session revoked")
        self._remember(key, grant, self._clock.now())

    def _remember(self, key: str, grant: AccessGrant, now: datetime) -> None:
        """Cache ``grant`` until it expires, its session known live as of now."""
        ttl = (grant.expires_at - now).total_seconds()
        self._verified.put(key, _cached(grant, time.monotonic()), ttl)

    def forget(self, token: str) -> None:
        self._verified.discard(digest(token))

    def _still_good(self, grant: AccessGrant, organization_id: str, now: datetime) -> bool:
        # A retired key (an emergency rotation) must end cached tokens too.
        return (
            grant.organization_id == organization_id
            and now < grant.expires_at
            and self._keys.current().ring.verifier(grant.kid, now) is not None
        )

    async def _verify_signed(self, organization_id: str, token: str) -> AccessGrant:
        try:
            claims = await self._keys.verify(
                token, audience=organization_id, token_type=ACCESS_TOKEN_TYPE
            )
        except InvalidToken as error:
            raise self._refused(None, error.reason) from error
        session_id = claims.extra.get("sid")
        if not isinstance(session_id, str):
            raise self._refused(None, "no session")
        return AccessGrant(
            organization_id=organization_id,
            consumer_id=claims.subject,
            session_id=session_id,
            fingerprint_hash=claims.fingerprint_hash,
            expires_at=claims.expires_at,
            kid=claims.key_id,
        )

    def _refused(self, key: str | None, reason: str) -> Unauthenticated:
        if key is not None:
            self._verified.discard(key)
        log.info("access token refused", reason=reason)
        return Unauthenticated(INVALID_ACCESS_TOKEN)


def _outcome_seen(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()
