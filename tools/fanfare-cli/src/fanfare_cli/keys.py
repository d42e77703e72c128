"""``fanfare keys``: the Ed25519 keys that sign consumer, admission and payment tokens."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from typing import Any

from fanfare_core.adapters.postgres.pool import open_pool
from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.auth.signing_keys import SigningKey
from fanfare_core.clock import SystemClock
from fanfare_core.domain.timing import format_instant, format_optional_instant
from fanfare_core.logs import configure_logging
from fanfare_core.service_layer.signing_keys import list_signing_keys, rotate_signing_keys
from fanfare_core.settings import load_settings


def register(commands: Any) -> None:
    keys = commands.add_parser("keys", help="token signing keys").add_subparsers(
        dest="action", required=True
    )
    rotate = keys.add_parser(
        "rotate",
        help="add a signing key (it signs from now on); the others retire after the overlap",
    )
    rotate.add_argument(
        "--overlap-hours",
        type=float,
        default=24.0,
        help="how long older keys keep verifying (default 24; at least the longest token "
        "lifetime, FANFARE_ACCESS_TOKEN_SECONDS)",
    )
    rotate.add_argument(
        "--force",
        action="store_true",
        help="allow an overlap shorter than the access token lifetime (a compromised key: "
        "tokens it signed stop working when it retires)",
    )
    rotate.add_argument("--json", action="store_true", help="print JSON")
    rotate.set_defaults(run=_rotate)
    listing = keys.add_parser("list", help="every signing key, newest last")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(run=_list)


def _row(key: SigningKey, signer: str | None) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "createdAt": format_instant(key.created_at),
        "retiresAt": format_optional_instant(key.retires_at),
        "signing": key.kid == signer,
    }


async def _rotate(args: argparse.Namespace) -> int:
    settings = load_settings(service_name="fanfare-cli", database_pool_max=2)
    configure_logging(settings)  # logs to stderr; stdout is the answer
    overlap = timedelta(hours=args.overlap_hours)
    shortest = timedelta(seconds=settings.access_token_seconds)
    if overlap < timedelta(0):
        print("error: --overlap-hours must not be negative", file=sys.stderr)
        return 2
    if overlap < shortest and not args.force:
        print(
            f"error: an overlap of {args.overlap_hours} h is shorter than the access token "
            f"lifetime ({settings.access_token_seconds} s): tokens would stop working before "
            "they expire. Use --force if that is the point (a compromised key).",
            file=sys.stderr,
        )
        return 2
    pool = await open_pool(settings)
    try:
        key = await rotate_signing_keys(UnitOfWork(pool), SystemClock(), overlap=overlap)
        keys = await list_signing_keys(UnitOfWork(pool))
    finally:
        await pool.close()
    if args.json:
        print(json.dumps({"kid": key.kid, "keys": [_row(k, key.kid) for k in keys]}))
    else:
        print(f"new signing key: {key.kid}")
        _print_table(keys, key.kid)
    return 0


async def _list(args: argparse.Namespace) -> int:
    settings = load_settings(service_name="fanfare-cli", database_pool_max=2)
    configure_logging(settings)
    pool = await open_pool(settings)
    clock = SystemClock()
    try:
        keys = await list_signing_keys(UnitOfWork(pool))
    finally:
        await pool.close()
    now = clock.now()
    active = [k for k in keys if k.retires_at is None]
    signer = max(active, key=lambda k: k.created_at).kid if active else None
    rows = [_row(k, signer) | {"retired": not k.usable_at(now)} for k in keys]
    if args.json:
        print(json.dumps({"keys": rows}))
    else:
        _print_table(keys, signer)
    return 0


def _print_table(keys: list[SigningKey], signer: str | None) -> None:
    if not keys:
        print("no signing keys yet: the consumer API makes the first one when it starts")
    for key in keys:
        retires = format_optional_instant(key.retires_at) or "-"
        mark = "  (signs)" if key.kid == signer else ""
        print(f"{key.kid}  created {format_instant(key.created_at)}  retires {retires}{mark}")
