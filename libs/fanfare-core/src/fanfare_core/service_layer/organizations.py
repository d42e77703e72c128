"""Organizations, API keys and authentication."""

from __future__ import annotations

from dataclasses import dataclass

from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.clock import Clock
from fanfare_core.domain.errors import Conflict, ErrorCollector, NotFound, Unauthenticated
from fanfare_core.domain.organizations import (
    ApiKey,
    IssuedKey,
    KeyKind,
    KeyMode,
    Organization,
    check_organization_settings,
    hash_key,
    issue_key,
    key_kind_of,
)
from fanfare_core.ids import new_id


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the organization and key behind a request."""

    organization_id: str
    key_id: str
    mode: KeyMode


@dataclass(frozen=True, slots=True)
class NewOrganization:
    organization: Organization
    secret_key: IssuedKey
    publishable_key: IssuedKey


async def create_organization(
    uow: UnitOfWork,
    clock: Clock,
    *,
    name: str,
    time_zone: str = "UTC",
    currency_code: str = "USD",
    mode: KeyMode = KeyMode.TEST,
) -> NewOrganization:
    """A new organization with its first secret and publishable keys (shown only now)."""
    errors = ErrorCollector()
    check_organization_settings(name, time_zone, currency_code, errors)
    errors.raise_if_any()
    now = clock.now()
    organization = Organization(
        id=new_id("org"),
        name=name,
        time_zone=time_zone,
        currency_code=currency_code,
        created_at=now,
    )
    keys = [
        issue_key(
            key_id=new_id("key"),
            organization_id=organization.id,
            kind=kind,
            mode=mode,
            name="default",
            now=now,
        )
        for kind in (KeyKind.SECRET, KeyKind.PUBLISHABLE)
    ]
    async with uow:
        await uow.organizations.add(organization)
        for key in keys:
            await uow.organizations.add_key(key.record)
        await uow.commit()
    return NewOrganization(organization, keys[0], keys[1])


async def authenticate(uow: UnitOfWork, plain_key: str | None, kind: KeyKind) -> Principal:
    """The principal behind an active key of ``kind``, or :class:`Unauthenticated`."""
    if not plain_key:
        raise Unauthenticated()
    claimed = key_kind_of(plain_key)
    if claimed is None or claimed[0] is not kind:
        raise Unauthenticated()
    async with uow:
        key = await uow.organizations.key_by_hash(hash_key(plain_key))
    if key is None or not key.active or key.kind is not kind:
        raise Unauthenticated()
    return Principal(organization_id=key.organization_id, key_id=key.id, mode=key.mode)


async def issue_api_key(
    uow: UnitOfWork,
    clock: Clock,
    principal: Principal,
    *,
    kind: KeyKind,
    mode: KeyMode | None,
    name: str | None,
) -> IssuedKey:
    """A new key for the caller's organization, in the caller's mode unless told otherwise."""
    issued = issue_key(
        key_id=new_id("key"),
        organization_id=principal.organization_id,
        kind=kind,
        mode=mode or principal.mode,
        name=name,
        now=clock.now(),
    )
    async with uow:
        await uow.organizations.add_key(issued.record)
        await uow.commit()
    return issued


async def list_api_keys(uow: UnitOfWork, principal: Principal) -> list[ApiKey]:
    async with uow:
        return await uow.organizations.keys(principal.organization_id)


async def revoke_api_key(
    uow: UnitOfWork, clock: Clock, principal: Principal, key_id: str
) -> ApiKey:
    """Revoke a key at once. The organization's last active secret key cannot be revoked,
    so an organization can never lock itself out."""
    async with uow:
        key = await uow.organizations.key(principal.organization_id, key_id)
        if key is None:
            raise NotFound("API key not found")
        if key.active:
            if (
                key.kind is KeyKind.SECRET
                and await uow.organizations.count_active_secret_keys(principal.organization_id) <= 1
            ):
                raise Conflict("Cannot revoke the last active secret key")
            key.revoked_at = clock.now()
            await uow.organizations.revoke_key(key.id, key.revoked_at)
            await uow.commit()
        return key
