"""PostgreSQL, Valkey and NATS together, started only where the environment points nowhere."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from fanfare_devstack._base import EmbeddedServer, ServerStartError
from fanfare_devstack._nats import EmbeddedNats
from fanfare_devstack._postgres import EmbeddedPostgres
from fanfare_devstack._valkey import EmbeddedValkey

DATABASE_URL_VAR = "FANFARE_DATABASE_URL"
REDIS_URL_VAR = "FANFARE_REDIS_URL"
NATS_URL_VAR = "FANFARE_NATS_URL"


@dataclass(frozen=True)
class InfrastructureUrls:
    """Where the application finds its three backing services."""

    database_url: str
    redis_url: str
    nats_url: str

    def as_env(self) -> dict[str, str]:
        """The ``FANFARE_*_URL`` environment variables naming these URLs."""
        return {
            DATABASE_URL_VAR: self.database_url,
            REDIS_URL_VAR: self.redis_url,
            NATS_URL_VAR: self.nats_url,
        }


class Infrastructure:
    """Starts whichever of PostgreSQL / Valkey / NATS the environment does not already point at.

    A non-empty ``FANFARE_DATABASE_URL`` (``FANFARE_REDIS_URL``, ``FANFARE_NATS_URL``) in
    ``environ`` means that service is external: it is used as is and nothing is started
    for it, and the matching attribute (``postgres``, ``valkey``, ``nats``) is None.
    Otherwise the server keeps its data in ``root/postgres``, ``root/valkey`` or
    ``root/nats``, on the port given in ``ports`` under ``"postgres"``, ``"redis"`` or
    ``"nats"``, or on a free port chosen now.
    """

    def __init__(
        self,
        root: Path,
        environ: Mapping[str, str] | None = None,
        ports: Mapping[str, int] | None = None,
    ) -> None:
        environ = os.environ if environ is None else environ
        ports = ports or {}
        unknown = set(ports) - {"postgres", "redis", "nats"}
        if unknown:
            raise ValueError(f"unknown port names {sorted(unknown)}; use postgres, redis, nats")
        self.root = Path(root)
        self._external = {
            var: environ[var]
            for var in (DATABASE_URL_VAR, REDIS_URL_VAR, NATS_URL_VAR)
            if environ.get(var)
        }
        self.postgres: EmbeddedPostgres | None = None
        self.valkey: EmbeddedValkey | None = None
        self.nats: EmbeddedNats | None = None
        if DATABASE_URL_VAR not in self._external:
            self.postgres = EmbeddedPostgres(self.root / "postgres", ports.get("postgres"))
        if REDIS_URL_VAR not in self._external:
            self.valkey = EmbeddedValkey(self.root / "valkey", ports.get("redis"))
        if NATS_URL_VAR not in self._external:
            self.nats = EmbeddedNats(self.root / "nats", ports.get("nats"))

    @property
    def servers(self) -> list[EmbeddedServer]:
        """The servers this object manages, in start order (PostgreSQL, Valkey, NATS)."""
        candidates: list[EmbeddedServer | None] = [self.postgres, self.valkey, self.nats]
        return [server for server in candidates if server is not None]

    @property
    def urls(self) -> InfrastructureUrls:
        """The URLs, whether external or embedded (known before :meth:`start`)."""
        return InfrastructureUrls(
            database_url=self.postgres.url if self.postgres else self._external[DATABASE_URL_VAR],
            redis_url=self.valkey.url if self.valkey else self._external[REDIS_URL_VAR],
            nats_url=self.nats.url if self.nats else self._external[NATS_URL_VAR],
        )

    def start(self) -> InfrastructureUrls:
        """Start the embedded servers in parallel, wait until all answer, return the URLs.

        If any server fails, the others are stopped and the first failure is raised
        (a :class:`ServerStartError`, with the other failures attached as notes).
        """
        errors: list[BaseException] = []
        errors_lock = threading.Lock()

        def start_one(server: EmbeddedServer) -> None:
            try:
                server.start()
            except BaseException as error:  # reported on the calling thread below
                with errors_lock:
                    errors.append(error)

        # Plain threads: every start is a wait on a child process, and on a small
        # machine running initdb/copies and two Go/C servers at once saves seconds.
        threads = [
            threading.Thread(target=start_one, args=(server,), name=f"start-{server.name}")
            for server in self.servers
        ]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                thread.join()
        except BaseException:
            # Ctrl-C while waiting: let the (time-bounded) starts finish, then stop all,
            # so no server outlives the caller.
            for thread in threads:
                thread.join()
            self.stop()
            raise
        if errors:
            self.stop()
            first = errors[0]
            for other in errors[1:]:
                first.add_note(f"also failed: {other!r}")
            if isinstance(first, ServerStartError):
                raise first
            raise ServerStartError(f"could not start the infrastructure: {first!r}") from first
        return self.urls

    def stop(self) -> None:
        """Stop the servers this object started, in reverse start order; idempotent.

        Every server gets its stop even if an earlier one fails; the first failure is
        raised afterwards.
        """
        failures: list[Exception] = []
        for server in reversed(self.servers):
            try:
                server.stop()
            except Exception as error:  # keep stopping the others
                failures.append(error)
        if failures:
            raise failures[0]

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
