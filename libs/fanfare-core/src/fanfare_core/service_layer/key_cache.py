"""API key authentication without a PostgreSQL query per request.

Browsers send the publishable key with every call (a status poll every few seconds, from
every shopper of a launch). Lookups are cached in the process: a known key for
``ttl_seconds`` (so a revoked key stops working within that time), an unknown or revoked
one for ``unknown_ttl_seconds`` (so made-up keys cannot turn into a query each). Requests
that miss together share one lookup.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.domain.errors import Unauthenticated
from fanfare_core.domain.organizations import KeyKind, hash_key, key_kind_of
from fanfare_core.service_layer.organizations import Principal, authenticate
from fanfare_core.ttl_cache import TtlCache

_MAX_ENTRIES = 50_000


@dataclass(frozen=True, slots=True)
class _Answer:
    principal: Principal | None  # None: unknown or revoked


class KeyCache:
    """Authenticates keys of one kind, remembering the answers for a while."""

    def __init__(
        self,
        pool: AsyncConnectionPool[AsyncConnection],
        kind: KeyKind,
        *,
        ttl_seconds: float,
        unknown_ttl_seconds: float,
    ) -> None:
        self._pool = pool
        self._kind = kind
        self._ttl = ttl_seconds
        self._unknown_ttl = unknown_ttl_seconds
        self._answers: TtlCache[str, _Answer] = TtlCache(_MAX_ENTRIES)
        self._pending: dict[str, asyncio.Task[_Answer]] = {}

    async def authenticate(self, plain_key: str | None) -> Principal:
        """The principal behind an active key, or :class:`Unauthenticated`."""
        if not plain_key:
            raise Unauthenticated()
        digest = hash_key(plain_key)
        answer = self._answers.get(digest)
        if answer is None:
            # Only keys that claim this kind are looked up (and remembered): a remembered
            # answer is of such a key.
            claimed = key_kind_of(plain_key)
            if claimed is None or claimed[0] is not self._kind:
                raise Unauthenticated()
            lookup = self._pending.get(digest)
            if lookup is None:
                lookup = asyncio.create_task(self._look_up(digest, plain_key))
                self._pending[digest] = lookup
            # Shielded: one caller going away does not cancel the others' lookup.
            answer = await asyncio.shield(lookup)
        if answer.principal is None:
            raise Unauthenticated()
        return answer.principal

    def forget(self) -> None:
        """Drop every remembered answer."""
        self._answers.clear()

    async def _look_up(self, digest: str, plain_key: str) -> _Answer:
        try:
            try:
                answer = _Answer(await authenticate(UnitOfWork(self._pool), plain_key, self._kind))
            except Unauthenticated:
                answer = _Answer(None)
            self._answers.put(digest, answer, self._ttl if answer.principal else self._unknown_ttl)
            return answer
        finally:
            del self._pending[digest]
