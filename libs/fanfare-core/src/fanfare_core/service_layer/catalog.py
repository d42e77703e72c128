"""Experiences and sequences."""

from __future__ import annotations

from typing import Any

from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.clock import Clock
from fanfare_core.domain.catalog import Experience, Sequence, check_name, check_order_limit
from fanfare_core.domain.distributions import NOT_GIVEN, Maybe
from fanfare_core.domain.errors import Conflict, ErrorCollector, NotFound
from fanfare_core.ids import new_id
from fanfare_core.service_layer.organizations import Principal
from fanfare_core.service_layer.pagination import Page, PageRequest, page_of

EXPERIENCE_NOT_FOUND = "Experience not found"
SEQUENCE_NOT_FOUND = "Sequence not found"


async def _experience(uow: UnitOfWork, principal: Principal, experience_id: str) -> Experience:
    experience = await uow.catalog.experience(principal.organization_id, experience_id)
    if experience is None:
        raise NotFound(EXPERIENCE_NOT_FOUND)
    return experience


async def _sequence(uow: UnitOfWork, principal: Principal, sequence_id: str) -> Sequence:
    sequence = await uow.catalog.sequence(principal.organization_id, sequence_id)
    if sequence is None:
        raise NotFound(SEQUENCE_NOT_FOUND)
    return sequence


async def create_experience(
    uow: UnitOfWork,
    clock: Clock,
    principal: Principal,
    *,
    name: str,
    metadata: dict[str, Any] | None = None,
) -> Experience:
    errors = ErrorCollector()
    check_name(name, errors)
    errors.raise_if_any()
    now = clock.now()
    experience = Experience(
        id=new_id("exp"),
        organization_id=principal.organization_id,
        name=name,
        metadata=metadata,
        created_at=now,
        updated_at=now,
    )
    async with uow:
        await uow.catalog.save_experience(experience)
        await uow.commit()
    return experience


async def get_experience(uow: UnitOfWork, principal: Principal, experience_id: str) -> Experience:
    async with uow:
        return await _experience(uow, principal, experience_id)


async def list_experiences(
    uow: UnitOfWork, principal: Principal, page: PageRequest
) -> Page[Experience]:
    limit, before = page.checked()
    async with uow:
        rows = await uow.catalog.experiences(
            principal.organization_id, limit=limit + 1, before=before
        )
    return page_of(rows, limit, lambda e: e.id)


async def update_experience(
    uow: UnitOfWork,
    clock: Clock,
    principal: Principal,
    experience_id: str,
    *,
    name: Maybe[str] = NOT_GIVEN,
    metadata: Maybe[dict[str, Any] | None] = NOT_GIVEN,
) -> Experience:
    async with uow:
        experience = await _experience(uow, principal, experience_id)
        errors = ErrorCollector()
        if name is not NOT_GIVEN:
            check_name(name, errors)
            experience.name = name
        errors.raise_if_any()
        if metadata is not NOT_GIVEN:
            experience.metadata = metadata
        experience.updated_at = clock.now()
        await uow.catalog.save_experience(experience)
        await uow.commit()
    return experience


async def delete_experience(uow: UnitOfWork, principal: Principal, experience_id: str) -> None:
    async with uow:
        await _experience(uow, principal, experience_id)
        if await uow.catalog.count_sequences(experience_id):
            raise Conflict("Cannot delete an experience that has sequences")
        await uow.catalog.delete_experience(experience_id)
        await uow.commit()


async def create_sequence(
    uow: UnitOfWork,
    clock: Clock,
    principal: Principal,
    *,
    experience_id: str,
    name: str,
    order_limit: int | None = None,
) -> Sequence:
    errors = ErrorCollector()
    check_name(name, errors)
    check_order_limit(order_limit, errors)
    now = clock.now()
    sequence = Sequence(
        id=new_id("seq"),
        organization_id=principal.organization_id,
        experience_id=experience_id,
        name=name,
        order_limit=order_limit,
        created_at=now,
        updated_at=now,
    )
    async with uow:
        if await uow.catalog.experience(principal.organization_id, experience_id) is None:
            errors.add("experienceId", "no such experience in this organization")
        errors.raise_if_any()
        await uow.catalog.save_sequence(sequence)
        await uow.commit()
    return sequence


async def get_sequence(uow: UnitOfWork, principal: Principal, sequence_id: str) -> Sequence:
    async with uow:
        return await _sequence(uow, principal, sequence_id)


async def list_sequences(
    uow: UnitOfWork, principal: Principal, page: PageRequest, *, experience_id: str | None
) -> Page[Sequence]:
    limit, before = page.checked()
    async with uow:
        rows = await uow.catalog.sequences(
            principal.organization_id, experience_id=experience_id, limit=limit + 1, before=before
        )
    return page_of(rows, limit, lambda s: s.id)


async def update_sequence(
    uow: UnitOfWork,
    clock: Clock,
    principal: Principal,
    sequence_id: str,
    *,
    name: Maybe[str] = NOT_GIVEN,
    order_limit: Maybe[int | None] = NOT_GIVEN,
) -> Sequence:
    async with uow:
        sequence = await _sequence(uow, principal, sequence_id)
        errors = ErrorCollector()
        if name is not NOT_GIVEN:
            check_name(name, errors)
            sequence.name = name
        if order_limit is not NOT_GIVEN:
            check_order_limit(order_limit, errors)
            sequence.order_limit = order_limit
        errors.raise_if_any()
        sequence.updated_at = clock.now()
        await uow.catalog.save_sequence(sequence)
        await uow.commit()
    return sequence


async def delete_sequence(uow: UnitOfWork, principal: Principal, sequence_id: str) -> None:
    async with uow:
        await _sequence(uow, principal, sequence_id)
        if await uow.catalog.count_distributions(sequence_id):
            raise Conflict("Cannot delete a sequence that has distributions")
        await uow.catalog.delete_sequence(sequence_id)
        await uow.commit()
