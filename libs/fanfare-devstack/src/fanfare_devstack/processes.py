"""Fanfare's own services as child processes, for ``make run`` and end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """How to run one service: its name, module (``python -m``) and HTTP port."""

    name: str
    module: str
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class ServiceStartError(RuntimeError):
    """A service exited or did not become ready in time."""


class ServiceProcess:
    """One running service. Stopping sends SIGTERM (graceful drain), then SIGKILL."""

    def __init__(
        self, spec: ServiceSpec, env: Mapping[str, str], log_path: Path | None = None
    ) -> None:
        self.spec = spec
        self._env = {
            **env,
            "FANFARE_SERVICE_NAME": spec.name,
            "FANFARE_HTTP_PORT": str(spec.port),
        }
        self._log_path = log_path
        self._log: IO[bytes] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        """Launch the process (returns at once; see :meth:`wait_ready`)."""
        if self._log_path is not None:
            self._log = self._log_path.open("ab")
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", self.spec.module],
            env=self._env,
            stdout=self._log,
            stderr=subprocess.STDOUT if self._log else None,
            start_new_session=True,  # Ctrl-C reaches the supervisor, which stops us in order
        )

    def exited(self) -> int | None:
        """The exit status if the process has ended, else None."""
        return None if self._process is None else self._process.poll()

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until ``/readyz`` answers 200, or raise :class:`ServiceStartError`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.exited()
            if status is not None:
                raise ServiceStartError(f"{self.spec.name} exited with status {status}")
            try:
                with urllib.request.urlopen(f"{self.spec.url}/readyz", timeout=2) as response:  # noqa: S310 - loopback
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise ServiceStartError(f"{self.spec.name} was not ready within {timeout:.0f} s")

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, wait up to ``timeout``, then SIGKILL; return the exit status."""
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        return process.returncode

    def kill(self) -> None:
        """SIGKILL now, as a crash would."""
        if self._process is not None and self._process.poll() is None:
            os.kill(self._process.pid, signal.SIGKILL)
            self._process.wait()


ADMIN_API = "admin-api"
CONSUMER_API = "consumer-api"
SCHEDULER = "scheduler"
SETTLEMENT_WORKER = "settlement-worker"

MODULES = {
    ADMIN_API: "fanfare_admin_api",
    CONSUMER_API: "fanfare_consumer_api",
    SCHEDULER: "fanfare_scheduler",
    SETTLEMENT_WORKER: "fanfare_settlement_worker",
}
DEFAULT_PORTS = {ADMIN_API: 8081, CONSUMER_API: 8080, SCHEDULER: 8082, SETTLEMENT_WORKER: 8083}
