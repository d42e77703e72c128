"""What Fanfare's test suites share: tenants made for one test, services as processes.

Tests isolate themselves by creating their own organization instead of truncating tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import nats
from psycopg import AsyncConnection, pq
from psycopg_pool import AsyncConnectionPool

from fanfare_core.adapters.postgres.pool import open_pool
from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.clock import SystemClock
from fanfare_core.domain.events import DistributionUpdated
from fanfare_core.ids import new_id
from fanfare_core.service_layer import catalog
from fanfare_core.service_layer.organizations import Principal, create_organization
from fanfare_core.settings import Settings
from fanfare_devstack.ports import free_port
from fanfare_devstack.processes import MODULES, ServiceProcess, ServiceSpec


@dataclass(frozen=True)
class Tenant:
    """An organization made for one test, with its keys and one sequence."""

    organization_id: str
    secret_key: str
    publishable_key: str
    experience_id: str
    sequence_id: str
    principal: Principal


def distribution_updated(organization_id: str) -> DistributionUpdated:
    """An event of the organization's, to write to the outbox."""
    return DistributionUpdated(
        organization_id=organization_id, occurred_at=datetime.now(UTC),
        distribution_id=new_id("queue"), kind="QUEUE", status="DRAFT", change="updated",
        changed_fields=("name",), open_at=None, close_at=None, draw_at=None, settle_at=None,
    )  # fmt: skip


@dataclass(slots=True)
class RoundTrips:
    """What :func:`counting_round_trips` saw: the protocol's messages as libpq traced
    them, ``("F", name, rest)`` sent by the client and ``("B", name, rest)`` received."""

    messages: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def statements(self) -> list[str]:
        """The text of each statement the client had parsed, in order."""
        return [
            rest.split('"')[3] for way, name, rest in self.messages if (way, name) == ("F", "Parse")
        ]

    @property
    def completed(self) -> list[str]:
        """The command tag of each statement PostgreSQL completed (``BEGIN``, ``SELECT 3``,
        ``INSERT 0 3``, ``COMMIT``), in order: prepared or not."""
        return [
            rest.split('"')[1] for way, name, rest in self.messages
            if (way, name) == ("B", "CommandComplete")
        ]  # fmt: skip

    @property
    def count(self) -> int:
        """Round trips: the times the client, having sent, went on to read answers."""
        ways = [way for way, _, _ in self.messages]
        return sum(1 for pair in itertools.pairwise(ways) if pair == ("F", "B"))


@contextlib.contextmanager
def counting_round_trips(conn: AsyncConnection) -> Iterator[RoundTrips]:
    """Trace the protocol of ``conn`` during the block; the result is complete after it."""
    seen = RoundTrips()
    with tempfile.TemporaryFile("w+") as trace:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            yield seen
        finally:
            conn.pgconn.untrace()
            trace.seek(0)
            for line in trace:
                fields = line.rstrip("\n").split("\t")
                if len(fields) > 2 and fields[0] in ("F", "B"):
                    name, _, rest = fields[2].partition(" ")
                    seen.messages.append((fields[0], name, "\t".join([rest, *fields[3:]])))


@contextlib.asynccontextmanager
async def one_connection(settings: Settings) -> AsyncIterator[AsyncConnectionPool[AsyncConnection]]:
    """The services' pool, of one connection: what is done through it can be traced on
    that one."""
    pool = await open_pool(replace(settings, database_pool_min=1, database_pool_max=1))
    try:
        yield pool
    finally:
        await pool.close()


async def make_tenant(
    pool: AsyncConnectionPool[AsyncConnection], time_zone: str = "America/New_York"
) -> Tenant:
    clock = SystemClock()
    made = await create_organization(
        UnitOfWork(pool), clock, name="Test Store", time_zone=time_zone
    )
    key = made.secret_key.record
    principal = Principal(made.organization.id, key.id, key.mode)
    experience = await catalog.create_experience(UnitOfWork(pool), clock, principal, name="Drop")
    sequence = await catalog.create_sequence(
        UnitOfWork(pool), clock, principal, experience_id=experience.id, name="Main"
    )
    return Tenant(
        organization_id=made.organization.id,
        secret_key=made.secret_key.plain,
        publishable_key=made.publishable_key.plain,
        experience_id=experience.id,
        sequence_id=sequence.id,
        principal=principal,
    )


async def queued_in_arrival_order(
    pool: AsyncConnectionPool[AsyncConnection], queue_id: str
) -> list[str]:
    """The consumers QUEUED in a queue, in the recorded arrival order (its true line)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT consumer_id FROM queue_entries WHERE queue_id = %s AND status = 'QUEUED'"
            " ORDER BY arrival",
            (queue_id,),
        )
        return [str(row[0]) for row in await cur.fetchall()]


def start_service(
    name: str, settings: Settings, log_dir: Path, extra_env: dict[str, str] | None = None
) -> ServiceProcess:
    """Start one of the four services on a free port and wait until it is ready."""
    env = {
        **os.environ,
        "FANFARE_DATABASE_URL": settings.database_url,
        "FANFARE_REDIS_URL": settings.redis_url,
        "FANFARE_NATS_URL": settings.nats_url,
        "FANFARE_LOG_FORMAT": "json",
        "FANFARE_OUTBOX_POLL_SECONDS": "0.2",
        **(extra_env or {}),
    }
    process = ServiceProcess(
        ServiceSpec(name, MODULES[name], free_port()), env, log_dir / f"{name}.log"
    )
    process.start()
    try:
        process.wait_ready()
    except Exception:
        process.stop()
        raise
    return process


async def check_worker_lifecycle(
    service: str, settings: Settings, log_dir: Path, stream: str, durable: str
) -> None:
    """Start a worker, check its probes and its durable consumer, stop it with SIGTERM,
    and check it logged ``ready`` and exited cleanly after logging ``stopped``."""
    process = start_service(service, settings, log_dir)
    try:
        ready = await asyncio.to_thread(_get_json, f"{process.spec.url}/readyz")
        assert ready == {
            "status": "ready",
            "checks": {"postgres": True, "redis": True, "nats": True},
        }
        assert await asyncio.to_thread(_get_json, f"{process.spec.url}/healthz") == {"status": "ok"}
        client = await nats.connect(settings.nats_url)
        try:
            info = await client.jetstream().consumer_info(stream, durable)
            assert info.config.durable_name == durable
        finally:
            await client.close()
    finally:
        status = process.stop(timeout=10)
    assert status == 0
    lines = (log_dir / f"{service}.log").read_text().splitlines()
    messages = [json.loads(line).get("message") for line in lines if line.startswith("{")]
    assert "ready" in messages
    assert messages[-1] == "stopped"


def _get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
        return json.loads(response.read())


def run_fanfare(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the ``fanfare`` command against the test servers; its exit status is not checked."""
    env = {
        **os.environ,
        "FANFARE_DATABASE_URL": settings.database_url,
        "FANFARE_REDIS_URL": settings.redis_url,
        "FANFARE_NATS_URL": settings.nats_url,
    }
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "fanfare_cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
