"""Signing keys in PostgreSQL: one first key among racing replicas, rotation with overlap,
and a live ring that follows rotations made elsewhere."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from fanfare_core.adapters.postgres.migrate import migrate
from fanfare_core.adapters.postgres.pool import open_pool
from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.auth.tokens import TokenService
from fanfare_core.clock import SystemClock
from fanfare_core.domain.errors import ValidationFailed
from fanfare_core.service_layer.signing_keys import (
    KeyRingLoader,
    list_signing_keys,
    load_key_ring,
    rotate_signing_keys,
)
from fanfare_core.settings import Settings

Pool = AsyncConnectionPool[AsyncConnection]
CLOCK = SystemClock()


@pytest.fixture
async def empty_database(private_postgres) -> AsyncIterator[Pool]:  # type: ignore[no-untyped-def]
    """A database of its own, migrated, without any signing key."""
    await migrate(private_postgres.url)
    pool = await open_pool(Settings(database_url=private_postgres.url, database_pool_max=8))
    yield pool
    await pool.close()


async def until(condition, within: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_replicas_starting_together_make_one_first_key_then_rotations_overlap(
    empty_database: Pool,
) -> None:
    rings = await asyncio.gather(
        *(load_key_ring(UnitOfWork(empty_database), CLOCK) for _ in range(6))
    )
    kids = {tuple(k.kid for k in ring.keys) for ring in rings}
    assert len(kids) == 1
    (first,) = rings[0].keys
    assert first.retires_at is None

    before = CLOCK.now()
    second = await rotate_signing_keys(UnitOfWork(empty_database), CLOCK)
    ring = await load_key_ring(UnitOfWork(empty_database), CLOCK)
    assert [k.kid for k in ring.keys] == [first.kid, second.kid]
    assert ring.signer(CLOCK.now()).kid == second.kid
    retiring = ring.keys[0].retires_at
    assert retiring is not None
    assert before + timedelta(hours=24) <= retiring <= CLOCK.now() + timedelta(hours=24)

    # A shorter overlap brings retirements forward, never back.
    third = await rotate_signing_keys(UnitOfWork(empty_database), CLOCK, overlap=timedelta(0))
    ring = await load_key_ring(UnitOfWork(empty_database), CLOCK)
    assert [k.kid for k in ring.keys] == [third.kid]
    stored = await list_signing_keys(UnitOfWork(empty_database))
    assert [k.kid for k in stored] == [first.kid, second.kid, third.kid]
    assert [k.retires_at is None for k in stored] == [False, False, True]
    with pytest.raises(ValidationFailed):
        await rotate_signing_keys(UnitOfWork(empty_database), CLOCK, overlap=timedelta(hours=-1))


async def test_a_live_ring_follows_rotations_made_by_another_process(pool: Pool) -> None:
    fast = KeyRingLoader(pool, CLOCK, issuer="fanfare", refresh_seconds=0.1)
    slow = KeyRingLoader(
        pool, CLOCK, issuer="fanfare", refresh_seconds=3600, unknown_kid_reload_seconds=0
    )
    await fast.start()
    await slow.start()
    try:
        old_kid = fast.current().ring.signer(CLOCK.now()).kid
        assert slow.current().ring.signer(CLOCK.now()).kid == old_kid
        old_token = fast.current().issue(
            subject="cons_1",
            audience="org_1",
            token_type="access",
            now=CLOCK.now(),
            lifetime=timedelta(minutes=5),
        )
        new = await rotate_signing_keys(UnitOfWork(pool), CLOCK)
        await until(lambda: fast.current().ring.signer(CLOCK.now()).kid == new.kid)
        assert slow.current().ring.signer(CLOCK.now()).kid == old_kid  # not refreshed yet

        new_token = fast.current().issue(
            subject="cons_1",
            audience="org_1",
            token_type="access",
            now=CLOCK.now(),
            lifetime=timedelta(minutes=5),
        )
        # The slow replica meets a kid it does not know: it reloads once and accepts it.
        claims = await slow.verify(new_token, audience="org_1", token_type="access")
        assert claims.key_id == new.kid
        assert slow.current().ring.signer(CLOCK.now()).kid == new.kid
        for loader in (fast, slow):
            old = await loader.verify(old_token, audience="org_1", token_type="access")
            assert old.key_id == old_kid
        assert isinstance(fast.current(), TokenService)
    finally:
        await fast.close()
        await slow.close()
