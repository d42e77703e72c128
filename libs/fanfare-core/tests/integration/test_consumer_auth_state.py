"""The hot path's state: cached key lookups, and the list of revoked sessions in Redis
(rebuilt from PostgreSQL, spread over NATS, answered by PostgreSQL when Redis is down)."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from nats.aio.client import Client as NatsClient
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from fanfare_core.adapters.nats.connection import connect
from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.adapters.redis.client import FanfareRedis, open_redis
from fanfare_core.adapters.revoked_sessions import KEY_PREFIX, READY_KEY, RevokedSessions
from fanfare_core.clock import SystemClock
from fanfare_core.domain.consumers import ACCESS_TOKEN_TYPE, Consumer, ConsumerSession
from fanfare_core.domain.errors import Unauthenticated
from fanfare_core.domain.organizations import KeyKind
from fanfare_core.ids import new_id
from fanfare_core.service_layer.access_tokens import AccessTokenVerifier
from fanfare_core.service_layer.key_cache import KeyCache
from fanfare_core.service_layer.organizations import revoke_api_key
from fanfare_core.service_layer.signing_keys import KeyRingLoader
from fanfare_core.settings import Settings
from fanfare_devstack.ports import free_port
from fanfare_testing import Tenant

Pool = AsyncConnectionPool[AsyncConnection]
CLOCK = SystemClock()
HOUR = timedelta(hours=1)


async def publishable_key_id(pool: Pool, tenant: Tenant) -> str:
    async with UnitOfWork(pool) as uow:
        keys = await uow.organizations.keys(tenant.organization_id)
    return next(k.id for k in keys if k.kind is KeyKind.PUBLISHABLE)


async def test_key_lookups_are_cached_so_a_revoked_key_works_until_its_entry_expires(
    pool: Pool, tenant: Tenant
) -> None:
    cached = KeyCache(pool, KeyKind.PUBLISHABLE, ttl_seconds=3600, unknown_ttl_seconds=3600)
    uncached = KeyCache(pool, KeyKind.PUBLISHABLE, ttl_seconds=0, unknown_ttl_seconds=0)
    # Requests that miss together share one lookup and all get the answer.
    principals = await asyncio.gather(
        *(cached.authenticate(tenant.publishable_key) for _ in range(20))
    )
    assert {p.organization_id for p in principals} == {tenant.organization_id}
    key_id = await publishable_key_id(pool, tenant)
    await revoke_api_key(UnitOfWork(pool), CLOCK, tenant.principal, key_id)

    assert (await cached.authenticate(tenant.publishable_key)).key_id == key_id
    with pytest.raises(Unauthenticated):
        await uncached.authenticate(tenant.publishable_key)
    cached.forget()
    with pytest.raises(Unauthenticated):
        await cached.authenticate(tenant.publishable_key)
    for wrong in (None, "", tenant.secret_key, "pk_test_unknown", "not-a-key"):
        with pytest.raises(Unauthenticated, match=r"^Authentication required$"):
            await cached.authenticate(wrong)


@pytest.fixture
async def redis_client(settings: Settings) -> AsyncIterator[FanfareRedis]:
    client = open_redis(settings.redis_url, max_connections=8)
    yield client
    await client.aclose()


@pytest.fixture
async def nats_clients(settings: Settings) -> AsyncIterator[tuple[NatsClient, NatsClient]]:
    first = await connect(settings.nats_url, "test-a")
    second = await connect(settings.nats_url, "test-b")
    yield first, second
    await first.close()
    await second.close()


async def new_session(pool: Pool, tenant: Tenant, *, revoked: bool) -> str:
    now = CLOCK.now()
    consumer = Consumer(
        id=new_id("cons"), organization_id=tenant.organization_id, external_id=None, created_at=now
    )
    session = ConsumerSession(
        id=new_id("sess"),
        organization_id=tenant.organization_id,
        consumer_id=consumer.id,
        fingerprint_hash=None,
        created_at=now,
    )
    async with UnitOfWork(pool) as uow:
        await uow.consumers.add(consumer)
        await uow.consumers.add_session(session)
        if revoked:
            await uow.consumers.revoke_session(session.id, now)
        await uow.commit()
    return session.id


def revoked_sessions(pool: Pool, redis: FanfareRedis, nats: NatsClient) -> RevokedSessions:
    return RevokedSessions(redis=redis, nats=nats, pool=pool, clock=CLOCK, remember=HOUR)


async def test_revocations_survive_a_redis_flush_and_reach_every_replica(
    pool: Pool,
    tenant: Tenant,
    redis_client: FanfareRedis,
    nats_clients: tuple[NatsClient, NatsClient],
) -> None:
    logged_out = await new_session(pool, tenant, revoked=True)
    live = await new_session(pool, tenant, revoked=False)
    # Redis lost its list (a restart): the first question rebuilds it from PostgreSQL.
    await redis_client.delete(READY_KEY)
    replica_a = revoked_sessions(pool, redis_client, nats_clients[0])
    assert await replica_a.is_revoked(logged_out)
    assert not await replica_a.is_revoked(live)
    assert await redis_client.exists(READY_KEY, KEY_PREFIX + logged_out) == 2
    ttl = await redis_client.ttl(KEY_PREFIX + logged_out)
    assert 3500 < ttl <= 3601

    # A logout on replica A reaches replica B at once, over NATS.
    replica_b = revoked_sessions(pool, redis_client, nats_clients[1])
    await replica_b.start()
    try:
        async with UnitOfWork(pool) as uow:
            await uow.consumers.revoke_session(live, CLOCK.now())
            await uow.commit()
        await replica_a.revoke(live, CLOCK.now())
        deadline = time.monotonic() + 5
        while not replica_b.known_revoked(live):
            assert time.monotonic() < deadline, "replica B never heard of the logout"
            await asyncio.sleep(0.02)
    finally:
        await replica_b.close()
    assert await redis_client.exists(KEY_PREFIX + live) == 1


async def test_without_redis_postgresql_answers(
    pool: Pool, tenant: Tenant, nats_clients: tuple[NatsClient, NatsClient]
) -> None:
    logged_out = await new_session(pool, tenant, revoked=True)
    live = await new_session(pool, tenant, revoked=False)
    # Nothing listens there: connecting is refused at once.
    nowhere = open_redis(f"redis://127.0.0.1:{free_port()}", max_connections=1)
    try:
        replica = revoked_sessions(pool, nowhere, nats_clients[0])
        assert await replica.is_revoked(logged_out)
        assert not await replica.is_revoked(live)
    finally:
        await nowhere.aclose()


async def test_cached_access_tokens_cost_the_garbage_collector_nothing(
    pool: Pool,
    tenant: Tenant,
    redis_client: FanfareRedis,
    nats_clients: tuple[NatsClient, NatsClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A crowd's verified tokens stay cached (verifying them again checks no signature),
    yet full collections need not scan them: the cache holds nothing the collector tracks."""
    keys = KeyRingLoader(pool, CLOCK, issuer="fanfare", refresh_seconds=60)
    await keys.reload()
    verifier = AccessTokenVerifier(
        keys=keys,
        revoked=revoked_sessions(pool, redis_client, nats_clients[0]),
        clock=CLOCK,
        recheck_seconds=60,
    )

    def access_token() -> str:
        return keys.current().issue(
            subject=new_id("cons"),
            audience=tenant.organization_id,
            token_type=ACCESS_TOKEN_TYPE,
            now=CLOCK.now(),
            lifetime=HOUR,
            extra={"sid": new_id("sess")},
        )

    tokens = [access_token() for _ in range(2_000)]
    gc.collect()
    tracked = len(gc.get_objects())
    first = [await verifier.verify(tenant.organization_id, token) for token in tokens]
    signatures = 0
    real_verify = keys.verify

    async def counted(*args: object, **kwargs: object) -> object:
        nonlocal signatures
        signatures += 1
        return await real_verify(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(keys, "verify", counted)
    again = [await verifier.verify(tenant.organization_id, token) for token in tokens]
    assert again == first
    assert signatures == 0
    del first, again
    gc.collect()
    # Objects would be three per token (6,000); tuples of plain values are untracked.
    assert len(gc.get_objects()) - tracked < 200
