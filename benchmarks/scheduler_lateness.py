"""How late the scheduler fires: many queues opening within a few seconds.

Starts the servers (embedded, or the FANFARE_*_URL ones), a scheduler process, schedules
``--transitions`` queues to open spread over ``--spread`` seconds, and prints lateness
percentiles: the transition's own timestamp (``updated_at``, written by the scheduler when
it moved the queue) minus the instant it was due.

    uv run python benchmarks/scheduler_lateness.py --transitions 1000 --spread 60
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fanfare_core.adapters.postgres.migrate import migrate
from fanfare_core.adapters.postgres.pool import open_pool
from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.clock import SystemClock
from fanfare_core.domain.distributions import DistributionChanges, Kind
from fanfare_core.service_layer.distributions import create_distribution
from fanfare_core.settings import load_settings
from fanfare_devstack.infrastructure import Infrastructure
from fanfare_testing import make_tenant, start_service


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def measure(transitions: int, spread: float, root: Path) -> list[float]:
    infrastructure = Infrastructure(root / "infra")
    urls = infrastructure.start()
    scheduler = None
    try:
        await migrate(urls.database_url)
        settings = load_settings({**os.environ, **urls.as_env()}, service_name="bench")
        pool = await open_pool(settings)
        tenant = await make_tenant(pool)
        scheduler = start_service("scheduler", settings, root)
        start = datetime.now(UTC) + timedelta(seconds=3)
        due: dict[str, datetime] = {}
        for i in range(transitions):
            instant = start + timedelta(seconds=spread * i / transitions)
            made = await create_distribution(
                UnitOfWork(pool), SystemClock(), tenant.principal, Kind.QUEUE,
                sequence_id=tenant.sequence_id,
                changes=DistributionChanges(open_at=instant.isoformat()),
            )  # fmt: skip
            due[made.id] = instant
        deadline = time.monotonic() + spread + 30
        while time.monotonic() < deadline:
            async with pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT count(*) FROM distributions WHERE id = ANY(%s) AND status = 'OPEN'",
                    (list(due),),
                )
                row = await cur.fetchone()
            if row and row[0] == transitions:
                break
            await asyncio.sleep(0.2)
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT id, updated_at FROM distributions WHERE id = ANY(%s) AND status = 'OPEN'",
                (list(due),),
            )
            opened = {r[0]: r[1] for r in await cur.fetchall()}
        await pool.close()
        if len(opened) != transitions:
            sys.exit(f"only {len(opened)} of {transitions} transitions happened")
        return [(opened[i] - due[i]).total_seconds() * 1000 for i in due]
    finally:
        if scheduler is not None:
            scheduler.stop()
        infrastructure.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--transitions", type=int, default=1000)
    parser.add_argument("--spread", type=float, default=60.0, help="seconds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        late = asyncio.run(measure(args.transitions, args.spread, Path(folder)))
    print(
        f"scheduler lateness: {args.transitions} transitions over {args.spread:.0f} s: "
        f"p50 {percentile(late, 0.5):.1f} ms, p99 {percentile(late, 0.99):.1f} ms, "
        f"max {max(late):.1f} ms, mean {statistics.fmean(late):.1f} ms, "
        f"early {sum(1 for v in late if v < 0)}"
    )


if __name__ == "__main__":
    main()
