"""Invariant 7: every read and write is scoped by the caller's organization."""

import pytest

from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.clock import SystemClock
from fanfare_core.domain.distributions import DistributionChanges, Kind
from fanfare_core.domain.errors import Conflict, NotFound, Unauthenticated, ValidationFailed
from fanfare_core.domain.organizations import KeyKind
from fanfare_core.service_layer import catalog, distributions, organizations
from fanfare_core.service_layer.pagination import PageRequest
from fanfare_testing import make_tenant


async def test_another_organization_sees_and_touches_nothing(pool, tenant) -> None:  # type: ignore[no-untyped-def]
    clock = SystemClock()
    draw = await distributions.create_distribution(
        UnitOfWork(pool),
        clock,
        tenant.principal,
        Kind.DRAW,
        sequence_id=tenant.sequence_id,
        changes=DistributionChanges(draw_at="2030-01-01T00:00:00Z", winner_count=5),
    )
    other = await make_tenant(pool)
    with pytest.raises(NotFound, match="Draw not found"):
        await distributions.get_distribution(UnitOfWork(pool), other.principal, Kind.DRAW, draw.id)
    with pytest.raises(NotFound, match="Draw not found"):
        await distributions.update_distribution(
            UnitOfWork(pool),
            clock,
            other.principal,
            Kind.DRAW,
            draw.id,
            DistributionChanges(name="x"),
        )
    with pytest.raises(NotFound, match="Draw not found"):
        await distributions.delete_distribution(
            UnitOfWork(pool), clock, other.principal, Kind.DRAW, draw.id
        )
    listed = await distributions.list_distributions(
        UnitOfWork(pool), other.principal, Kind.DRAW, PageRequest()
    )
    assert listed.items == []
    with pytest.raises(NotFound):
        await catalog.get_sequence(UnitOfWork(pool), other.principal, tenant.sequence_id)
    with pytest.raises(ValidationFailed) as failure:
        await distributions.create_distribution(
            UnitOfWork(pool),
            clock,
            other.principal,
            Kind.QUEUE,
            sequence_id=tenant.sequence_id,
            changes=DistributionChanges(),
        )
    assert failure.value.details[0].field == "sequenceId"
    keys = await organizations.list_api_keys(UnitOfWork(pool), tenant.principal)
    with pytest.raises(NotFound):
        await organizations.revoke_api_key(UnitOfWork(pool), clock, other.principal, keys[0].id)
    # The owner still sees it unchanged.
    mine = await distributions.get_distribution(
        UnitOfWork(pool), tenant.principal, Kind.DRAW, draw.id
    )
    assert (mine.name, mine.deleted_at) == (None, None)


async def test_keys_authenticate_by_kind_and_stop_working_when_revoked(pool, tenant) -> None:  # type: ignore[no-untyped-def]
    principal = await organizations.authenticate(
        UnitOfWork(pool), tenant.secret_key, KeyKind.SECRET
    )
    assert principal.organization_id == tenant.organization_id
    for wrong in (tenant.publishable_key, "sk_test_" + "x" * 32, "", None, "Bearer"):
        with pytest.raises(Unauthenticated):
            await organizations.authenticate(UnitOfWork(pool), wrong, KeyKind.SECRET)
    clock = SystemClock()
    spare = await organizations.issue_api_key(
        UnitOfWork(pool), clock, principal, kind=KeyKind.SECRET, mode=None, name="spare"
    )
    await organizations.revoke_api_key(UnitOfWork(pool), clock, principal, principal.key_id)
    with pytest.raises(Unauthenticated):
        await organizations.authenticate(UnitOfWork(pool), tenant.secret_key, KeyKind.SECRET)
    spare_principal = await organizations.authenticate(
        UnitOfWork(pool), spare.plain, KeyKind.SECRET
    )
    with pytest.raises(Conflict, match="last active secret key"):
        await organizations.revoke_api_key(
            UnitOfWork(pool), clock, spare_principal, spare.record.id
        )


async def test_only_a_digest_of_each_key_is_stored(pool, tenant) -> None:  # type: ignore[no-untyped-def]
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM api_keys WHERE organization_id = %s", (tenant.organization_id,)
        )
        assert (await cur.fetchone())[0] == 2
        for plain in (tenant.secret_key, tenant.publishable_key):
            cur = await conn.execute(
                "SELECT count(*) FROM api_keys a, organizations o WHERE a.key_hash = %s"
                " OR o.name = %s OR a.display_prefix = %s OR a.name = %s",
                (plain, plain, plain, plain),
            )
            assert (await cur.fetchone())[0] == 0
