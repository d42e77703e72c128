"""How long a draw takes with a million entries: the selection alone, and ``run_draw`` end to
end against PostgreSQL (read the entries, select, sign the winners' tokens, record every
entry, the result and one event per entrant).

    uv run python libs/fanfare-core/benchmarks/bench_draws.py [--entries 1000000] [--winners 10000]

Uses ``FANFARE_DATABASE_URL`` if set (the database must be disposable: the script creates
an organization and a draw in it and leaves them), else starts an embedded PostgreSQL in a
temporary folder. Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fanfare_core.adapters.postgres.migrate import migrate
from fanfare_core.adapters.postgres.pool import open_pool
from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.auth.signing_keys import KeyRing, new_signing_key
from fanfare_core.auth.tokens import TokenService
from fanfare_core.clock import FrozenClock, SystemClock
from fanfare_core.domain.distributions import DistributionChanges, Kind
from fanfare_core.domain.draw_selection import canonical_entries, first_mismatch, select
from fanfare_core.ids import new_ids
from fanfare_core.service_layer import catalog
from fanfare_core.service_layer.distributions import create_distribution
from fanfare_core.service_layer.draws import DrawDirectory, DrawService
from fanfare_core.service_layer.organizations import Principal, create_organization
from fanfare_core.settings import load_settings
from fanfare_devstack.infrastructure import Infrastructure


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def bench_selection(entries: int, winners: int) -> None:
    ids = canonical_entries(new_ids("cons", entries))
    seed = secrets.token_bytes(32)
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        select(seed, ids, winners, winners)
        timings.append(time.perf_counter() - started)
    say(
        f"selection: {entries:,} entries, {winners:,} winners + {winners:,} backups:"
        f" best {min(timings):.3f} s, median {sorted(timings)[2]:.3f} s (of 5)"
    )


async def bench_run_draw(database_url: str, entries: int, winners: int) -> None:
    await migrate(database_url)
    settings = load_settings(
        {"FANFARE_DATABASE_URL": database_url}, service_name="bench", database_pool_max=4
    )
    pool = await open_pool(settings)
    try:
        clock = SystemClock()
        made = await create_organization(UnitOfWork(pool), clock, name="Bench", time_zone="UTC")
        key = made.secret_key.record
        principal = Principal(made.organization.id, key.id, key.mode)
        experience = await catalog.create_experience(UnitOfWork(pool), clock, principal, name="B")
        sequence = await catalog.create_sequence(
            UnitOfWork(pool), clock, principal, experience_id=experience.id, name="B"
        )
        opens = datetime(2030, 1, 1, tzinfo=UTC)
        draw = await create_distribution(
            UnitOfWork(pool), clock, principal, Kind.DRAW, sequence_id=sequence.id,
            changes=DistributionChanges(
                open_at=opens.isoformat(), close_at=(opens + timedelta(days=1)).isoformat(),
                draw_at=(opens + timedelta(days=1)).isoformat(), winner_count=winners,
            ),
        )  # fmt: skip
        started = time.perf_counter()
        async with pool.connection() as conn:
            await conn.execute(
                "INSERT INTO draw_entries (draw_id, consumer_id, organization_id, status,"
                " entered_at, fingerprint_hash, version)"
                " SELECT %s, 'cons_' || upper(substr(md5(i::text), 1, 26)), %s, 'ENTERED', %s,"
                " md5(i::text || 'fp'), nextval('draw_entry_version')"
                " FROM generate_series(1, %s) AS i",
                (draw.id, principal.organization_id, opens, entries),
            )
            await conn.commit()
            await conn.set_autocommit(True)
            await conn.execute("VACUUM ANALYZE draw_entries")
            await conn.set_autocommit(False)
        say(f"setup: {entries:,} entries inserted in {time.perf_counter() - started:.1f} s")
        tokens = TokenService(KeyRing((new_signing_key(opens),)), "fanfare")
        service = DrawService(
            pool=pool,
            directory=DrawDirectory(pool),
            tokens=lambda: tokens,
            clock=FrozenClock(opens + timedelta(days=1)),
        )
        started = time.perf_counter()
        result = await service.run_draw(principal.organization_id, draw.id)
        elapsed = time.perf_counter() - started
        say(
            f"run_draw: {result.entry_count:,} entries, {len(result.winners):,} winners"
            f" (+{len(result.backups):,} backups), {result.entry_count:,} events:"
            f" {elapsed:.2f} s end to end (phases in the 'draw recorded' log line above)"
        )
        started = time.perf_counter()
        chunks = [chunk async for chunk in await service.entry_file(
            principal.organization_id, draw.id)]  # fmt: skip
        problem = first_mismatch(result.proof(), b"".join(chunks))
        say(
            f"verify: entry list streamed and winners recomputed in"
            f" {time.perf_counter() - started:.2f} s: {problem or 'OK'}"
        )
    finally:
        await pool.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--winners", type=int, default=10_000)
    args = parser.parse_args()
    bench_selection(args.entries, args.winners)
    url = os.environ.get("FANFARE_DATABASE_URL")
    if url:
        asyncio.run(bench_run_draw(url, args.entries, args.winners))
        return 0
    with tempfile.TemporaryDirectory(prefix="fanfare-bench-") as root:
        # Only PostgreSQL is needed: name the other two so they are not started.
        infrastructure = Infrastructure(
            Path(root),
            environ={"FANFARE_REDIS_URL": "redis://unused", "FANFARE_NATS_URL": "nats://unused"},
        )
        with infrastructure:
            asyncio.run(
                bench_run_draw(infrastructure.urls.database_url, args.entries, args.winners)
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
