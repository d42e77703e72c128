"""The demo tenant ``make run`` provides: one organization, its keys, one experience and
sequence. Its keys are kept in the run folder so every run shows the same ones."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from fanfare_core.adapters.postgres.pool import open_pool
from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.clock import SystemClock
from fanfare_core.domain.organizations import KeyKind, hash_key
from fanfare_core.service_layer import catalog
from fanfare_core.service_layer.organizations import Principal, create_organization
from fanfare_core.settings import Settings


@dataclass(frozen=True, slots=True)
class DemoTenant:
    organization_id: str
    secret_key: str
    publishable_key: str
    experience_id: str
    sequence_id: str


async def _still_valid(uow: UnitOfWork, demo: DemoTenant) -> bool:
    async with uow:
        secret = await uow.organizations.key_by_hash(hash_key(demo.secret_key))
        publishable = await uow.organizations.key_by_hash(hash_key(demo.publishable_key))
        sequence = await uow.catalog.sequence(demo.organization_id, demo.sequence_id)
    return (
        secret is not None
        and secret.active
        and secret.kind is KeyKind.SECRET
        and secret.organization_id == demo.organization_id
        and publishable is not None
        and publishable.active
        and sequence is not None
    )


async def ensure_demo_tenant(settings: Settings, record: Path) -> DemoTenant:
    """The demo tenant recorded in ``record`` if the database still has it, else a new one."""
    pool = await open_pool(settings)
    try:
        if record.exists():
            demo = DemoTenant(**json.loads(record.read_text()))
            if await _still_valid(UnitOfWork(pool), demo):
                return demo
        clock = SystemClock()
        made = await create_organization(
            UnitOfWork(pool), clock, name="Demo Store", time_zone="America/New_York"
        )
        key = made.secret_key.record
        principal = Principal(made.organization.id, key.id, key.mode)
        experience = await catalog.create_experience(
            UnitOfWork(pool), clock, principal, name="Demo Launch"
        )
        sequence = await catalog.create_sequence(
            UnitOfWork(pool), clock, principal, experience_id=experience.id, name="Main"
        )
        demo = DemoTenant(
            organization_id=made.organization.id,
            secret_key=made.secret_key.plain,
            publishable_key=made.publishable_key.plain,
            experience_id=experience.id,
            sequence_id=sequence.id,
        )
        record.write_text(json.dumps(asdict(demo), indent=2))
        record.chmod(0o600)
        return demo
    finally:
        await pool.close()
