"""Queues, draws and auctions on the admin side: create, read, list, update, delete."""

from __future__ import annotations

from fanfare_core.adapters.postgres.distributions import DistributionFilter
from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.clock import Clock
from fanfare_core.domain.distributions import (
    Distribution,
    DistributionChanges,
    Kind,
    OrganizationDefaults,
    Status,
)
from fanfare_core.domain.errors import FieldError, NotFound, ValidationFailed
from fanfare_core.ids import new_id
from fanfare_core.service_layer.organizations import Principal
from fanfare_core.service_layer.pagination import Page, PageRequest, page_of


async def create_distribution(
    uow: UnitOfWork,
    clock: Clock,
    principal: Principal,
    kind: Kind,
    *,
    sequence_id: str,
    changes: DistributionChanges,
) -> Distribution:
    """A new queue, draw or auction in one of the caller's sequences."""
    async with uow:
        organization = await uow.organizations.get(principal.organization_id)
        if organization is None:
            raise NotFound("Organization not found")
        sequence_known = await uow.catalog.sequence(principal.organization_id, sequence_id)
        try:
            distribution = Distribution.create(
                kind=kind,
                distribution_id=new_id(kind.value),
                organization_id=principal.organization_id,
                sequence_id=sequence_id,
                changes=changes,
                defaults=OrganizationDefaults(organization.time_zone, organization.currency_code),
                now=clock.now(),
            )
        except ValidationFailed as failure:
            if sequence_known is None:
                failure.details.insert(0, _unknown_sequence())
            raise
        if sequence_known is None:
            raise ValidationFailed([_unknown_sequence()])
        await uow.distributions.add(distribution)
        await uow.commit()
    return distribution


async def get_distribution(
    uow: UnitOfWork, principal: Principal, kind: Kind, distribution_id: str
) -> Distribution:
    async with uow:
        distribution = await uow.distributions.get(principal.organization_id, kind, distribution_id)
    if distribution is None:
        raise NotFound(kind.not_found)
    return distribution


async def list_distributions(
    uow: UnitOfWork,
    principal: Principal,
    kind: Kind,
    page: PageRequest,
    *,
    status: Status | None = None,
    sequence_id: str | None = None,
) -> Page[Distribution]:
    """The caller's distributions of one kind, newest first, optionally filtered."""
    limit, before = page.checked()
    async with uow:
        rows = await uow.distributions.list(
            DistributionFilter(
                organization_id=principal.organization_id,
                kind=kind,
                status=status,
                sequence_id=sequence_id,
                before_id=before,
                limit=limit + 1,
            )
        )
    return page_of(rows, limit, lambda d: d.id)


async def update_distribution(
    uow: UnitOfWork,
    clock: Clock,
    principal: Principal,
    kind: Kind,
    distribution_id: str,
    changes: DistributionChanges,
) -> Distribution:
    """Apply a partial update; concurrent updates of one distribution are serialized."""
    async with uow:
        distribution = await uow.distributions.get_for_update(
            principal.organization_id, kind, distribution_id
        )
        if distribution is None:
            raise NotFound(kind.not_found)
        distribution.update(changes, clock.now())
        await uow.distributions.save(distribution)
        await uow.commit()
    return distribution


async def delete_distribution(
    uow: UnitOfWork, clock: Clock, principal: Principal, kind: Kind, distribution_id: str
) -> None:
    async with uow:
        distribution = await uow.distributions.get_for_update(
            principal.organization_id, kind, distribution_id
        )
        if distribution is None:
            raise NotFound(kind.not_found)
        distribution.delete(clock.now())
        await uow.distributions.save(distribution)
        await uow.commit()


def _unknown_sequence() -> FieldError:
    return FieldError("sequenceId", "no such sequence in this organization")
