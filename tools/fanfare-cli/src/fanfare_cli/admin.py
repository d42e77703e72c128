"""Commands that act on the database directly: migrations, organizations, sequences."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from fanfare_core.adapters.postgres.migrate import migrate
from fanfare_core.adapters.postgres.pool import open_pool
from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.clock import SystemClock
from fanfare_core.domain.errors import DomainError, ValidationFailed
from fanfare_core.domain.organizations import KeyMode
from fanfare_core.service_layer import catalog
from fanfare_core.service_layer.organizations import Principal, create_organization
from fanfare_core.settings import load_settings


def register(commands: Any) -> None:
    run_migrate = commands.add_parser("migrate", help="apply database migrations")
    run_migrate.set_defaults(run=_migrate)

    orgs = commands.add_parser("orgs", help="organizations").add_subparsers(
        dest="action", required=True
    )
    org_create = orgs.add_parser("create", help="create an organization with its first keys")
    org_create.add_argument("--name", required=True)
    org_create.add_argument("--time-zone", default="UTC", help="IANA name, e.g. Europe/Paris")
    org_create.add_argument("--currency", default="USD", help="ISO 4217 code")
    org_create.add_argument("--mode", choices=["test", "live"], default="test")
    org_create.add_argument("--json", action="store_true", help="print JSON")
    org_create.set_defaults(run=_create_organization)

    sequences = commands.add_parser("sequences", help="experiences and sequences").add_subparsers(
        dest="action", required=True
    )
    seq_create = sequences.add_parser(
        "create", help="create an experience with one sequence in an organization"
    )
    seq_create.add_argument("--organization-id", required=True)
    seq_create.add_argument("--experience-name", default="Launch")
    seq_create.add_argument("--name", default="Main sequence", help="the sequence's name")
    seq_create.add_argument("--order-limit", type=int, default=None)
    seq_create.add_argument("--json", action="store_true", help="print JSON")
    seq_create.set_defaults(run=_create_sequence)


def _print(values: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(values))
    else:
        for key, value in values.items():
            print(f"{key}: {value}")


def _fail(error: DomainError) -> int:
    print(f"error: {error.message}", file=sys.stderr)
    if isinstance(error, ValidationFailed):
        for detail in error.details:
            print(f"  {detail.field}: {detail.message}", file=sys.stderr)
    return 2


async def _migrate(args: argparse.Namespace) -> int:
    applied = await migrate(load_settings().database_url)
    print(
        f"applied {len(applied)} migration(s)"
        + "".join(f"\n  {m.version:04d} {m.name}" for m in applied)
    )
    return 0


async def _create_organization(args: argparse.Namespace) -> int:
    settings = load_settings(service_name="fanfare-cli", database_pool_max=2)
    pool = await open_pool(settings)
    try:
        made = await create_organization(
            UnitOfWork(pool),
            SystemClock(),
            name=args.name,
            time_zone=args.time_zone,
            currency_code=args.currency,
            mode=KeyMode(args.mode),
        )
    except DomainError as error:
        return _fail(error)
    finally:
        await pool.close()
    _print(
        {
            "organizationId": made.organization.id,
            "secretKey": made.secret_key.plain,
            "publishableKey": made.publishable_key.plain,
        },
        args.json,
    )
    return 0


async def _create_sequence(args: argparse.Namespace) -> int:
    settings = load_settings(service_name="fanfare-cli", database_pool_max=2)
    pool = await open_pool(settings)
    principal = Principal(organization_id=args.organization_id, key_id="cli", mode=KeyMode.TEST)
    clock = SystemClock()
    try:
        async with UnitOfWork(pool) as uow:
            known = await uow.organizations.get(args.organization_id)
        if known is None:
            print(f"error: no organization {args.organization_id}", file=sys.stderr)
            return 2
        experience = await catalog.create_experience(
            UnitOfWork(pool), clock, principal, name=args.experience_name
        )
        sequence = await catalog.create_sequence(
            UnitOfWork(pool),
            clock,
            principal,
            experience_id=experience.id,
            name=args.name,
            order_limit=args.order_limit,
        )
    except DomainError as error:
        return _fail(error)
    finally:
        await pool.close()
    _print({"experienceId": experience.id, "sequenceId": sequence.id}, args.json)
    return 0
