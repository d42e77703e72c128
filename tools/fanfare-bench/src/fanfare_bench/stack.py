"""The system under test: servers, migrations, and service processes pinned to cores.

On a machine with two or more cores the consumer API runs on one core and the load
generator on another, so neither steals the other's time; the servers (PostgreSQL,
Valkey, NATS) and the workers share what is left.

Pinning keeps the stack's processes apart, not the machine's own: an agent of this
machine running at nice -10 was seen (in a ``perf`` trace of scheduler switches) taking
the API's core for up to 26 ms at a time, and every such stall was a queue of shoppers.
So where the machine permits it (root, or ``CAP_SYS_NICE``), the API under test runs at
nice -20, ahead of everything else on its core; elsewhere it runs as it is, and the run
says so. The generator is not raised: it shares its core with the servers, and ahead of
them it made them wait (Valkey waited for the core 93 % of a status poll's half-rate run,
and the polls were answered seconds late).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from fanfare_core.adapters.postgres.migrate import migrate
from fanfare_core.adapters.postgres.pool import open_pool
from fanfare_core.adapters.redis.client import FanfareRedis, open_redis
from fanfare_core.settings import Settings, load_settings
from fanfare_devstack.infrastructure import Infrastructure
from fanfare_devstack.processes import ServiceProcess
from fanfare_testing import Tenant, make_tenant, start_service


def pin(pid: int, cpus: set[int]) -> None:
    """Move every thread of process ``pid`` to ``cpus`` (threads it starts later follow)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(int(task.name), cpus)


def pin_tree(pid: int, cpus: set[int]) -> None:
    """:func:`pin` process ``pid`` and every process it started, recursively (processes
    started later inherit it: PostgreSQL's backends fork from its postmaster)."""
    pending = [pid]
    while pending:
        current = pending.pop()
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            pin(current, cpus)
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                pending.extend(int(child) for child in children)


#: The nice value of the API under test, where permitted.
AHEAD = -20
CAP_SYS_NICE = 23  # linux/capability.h


def put_ahead(pid: int) -> bool:
    """Run process ``pid`` at nice :data:`AHEAD`: each of its threads (threads it starts
    later inherit it) and its session's autogroup, through which the kernel shares a core
    between sessions first. False, with nothing changed, where the machine does not permit
    it."""
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(ProcessLookupError):
                os.setpriority(os.PRIO_PROCESS, int(task.name), AHEAD)
    except PermissionError:
        return False
    with contextlib.suppress(OSError):  # a kernel without autogroups
        Path(f"/proc/{pid}/autogroup").write_text(str(AHEAD))
    return True


def may_put_ahead() -> bool:
    """Whether this process may raise another's priority (it holds ``CAP_SYS_NICE``, as
    root does)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) & (1 << CAP_SYS_NICE))
    return False


@dataclass(frozen=True, slots=True)
class Cores:
    """Which cores the API under test and the load generator may use."""

    api: set[int]
    generator: set[int]

    @classmethod
    def split(cls) -> Cores:
        available = sorted(os.sched_getaffinity(0))
        if len(available) < 2:
            return cls(set(available), set(available))
        return cls({available[0]}, {available[1]})

    @classmethod
    def shared(cls) -> Cores:
        available = set(os.sched_getaffinity(0))
        return cls(available, set(available))

    @property
    def split_apart(self) -> bool:
        """Whether the API and the generator have cores of their own."""
        return self.api != self.generator

    def describe(self) -> str:
        if not self.split_apart:
            return f"API and generator share cores {sorted(self.api)}"
        return (
            f"consumer API on core {sorted(self.api)},"
            f" load generator on core {sorted(self.generator)}"
        )


@dataclass(slots=True)
class Stack:
    """Running servers, a pool and a Redis client for seeding, and the services started."""

    settings: Settings
    pool: AsyncConnectionPool[AsyncConnection]
    redis: FanfareRedis
    log_dir: Path
    cores: Cores
    #: Whether each service started on the API's core runs at nice :data:`AHEAD` (see the
    #: module's docstring).
    ahead: bool = False
    processes: list[ServiceProcess] = field(default_factory=list)

    def describe(self) -> str:
        """``consumer API on core [0] at nice -20, load generator on core [1]``."""
        if not self.cores.split_apart:
            return self.cores.describe()
        priority = (
            f"nice {AHEAD}" if self.ahead else f"its usual priority (nice {AHEAD} not permitted)"
        )
        return self.cores.describe().replace(" on core ", f" at {priority} on core ", 1)

    async def tenant(self) -> Tenant:
        """A new organization with keys and a sequence (each scenario uses its own)."""
        made: Tenant = await make_tenant(self.pool)
        return made

    async def settle(self, *tables: str) -> None:
        """Vacuum and analyze ``tables`` after the set-up loaded them, then checkpoint: the
        run that follows then measures its own work, not autovacuum and the checkpointer
        catching up on the set-up's (``pgbench`` vacuums before each run for the same
        reason). Work the measured run itself leaves for them still counts against it."""
        async with self.pool.connection() as conn:
            await conn.set_autocommit(True)
            try:
                await conn.execute(f"VACUUM ANALYZE {', '.join(tables)}")
                # An external database's user may not be allowed to; the run goes on without.
                with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
                    await conn.execute("CHECKPOINT")
            finally:
                await conn.set_autocommit(False)

    async def unpublished_events(self, subject_like: str = "%") -> int:
        """Events in the outbox not yet relayed to JetStream (of subjects ``LIKE`` this)."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) FROM outbox WHERE published_at IS NULL AND subject LIKE %s",
                (subject_like,),
            )
            row = await cur.fetchone()
        return 0 if row is None else int(row[0])

    def start(
        self,
        name: str,
        extra_env: dict[str, str] | None = None,
        *,
        cores: set[int] | None = None,
    ) -> ServiceProcess:
        """Start a service and wait until it is ready, on ``cores`` when given (the API's,
        ``self.cores.api``, or the servers' and generator's, ``self.cores.generator``); on
        a core of its own, at the generator's priority."""
        process = start_service(name, self.settings, self.log_dir, extra_env)
        if process.pid is not None and cores is not None:
            pin(process.pid, cores)
            if self.ahead and cores == self.cores.api and self.cores.split_apart:
                put_ahead(process.pid)
        self.processes.append(process)
        return process

    def stop(self, process: ServiceProcess) -> None:
        process.stop()
        self.processes.remove(process)

    @contextlib.contextmanager
    def on_api_core(self) -> Iterator[None]:
        """Run this process on the API's core meanwhile, for a scenario whose work runs in
        this process with no API started (the draw, as the settlement worker runs it): off
        the servers' core, as a worker would be on its own machine in production."""
        pin(os.getpid(), self.cores.api)
        try:
            yield
        finally:
            pin(os.getpid(), self.cores.generator)


def cancel_on_sigterm() -> None:
    """Let SIGTERM end the run as Ctrl-C does: the running task is cancelled, so what it
    opened with :func:`open_stack` is stopped (services, servers) and its scratch folder
    removed, instead of left running when the process is told to stop."""
    task = asyncio.current_task()
    if task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)


@contextlib.asynccontextmanager
async def open_stack(root: Path | None = None, *, pin_cores: bool = True) -> AsyncIterator[Stack]:
    """Servers from ``FANFARE_*_URL`` or embedded ones in a scratch folder, migrated.

    With ``pin_cores`` this process (the load generator) moves to its own core and
    services started on ``cores.api`` to another; without, everything shares every core.
    """
    with contextlib.ExitStack() as cleanup:
        if root is None:
            root = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="fanfare-bench-")))
        infrastructure = Infrastructure(root / "infra")
        cores = Cores.split() if pin_cores else Cores.shared()
        ahead = cores.split_apart and may_put_ahead()
        if ahead and infrastructure.valkey is not None:
            # Valkey's append-only-file rewrite (a forked child, busy for a second or so
            # once the log has doubled) would otherwise take the servers' core from Valkey,
            # PostgreSQL and the generator. It goes where a production host would give it
            # a spare core: the API's, whose spare time it takes, as the API runs ahead.
            infrastructure.valkey.fork_cpus = cores.api
        urls = infrastructure.start()
        cleanup.callback(infrastructure.stop)
        await migrate(urls.database_url)
        settings = load_settings(
            {**os.environ, **urls.as_env()}, service_name="bench", database_pool_max=8
        )
        pool = await open_pool(settings)
        redis = open_redis(settings.redis_url, max_connections=8)
        if pin_cores:
            pin(os.getpid(), cores.generator)
            # The servers stay off the API's core, as they would be on other machines in
            # production: the API under test has its core to itself.
            for server in infrastructure.servers:
                if server.pid is not None:
                    pin_tree(server.pid, cores.generator)
        stack = Stack(settings, pool, redis, root, cores, ahead)
        try:
            yield stack
        finally:
            for process in list(stack.processes):
                stack.stop(process)
            await redis.aclose()
            await pool.close()
