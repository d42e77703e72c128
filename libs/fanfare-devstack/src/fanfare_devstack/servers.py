"""The embedded servers: one class per server, all sharing :class:`EmbeddedServer`.

Each server listens on ``127.0.0.1`` only, keeps its port across restarts, appends its
output to ``data_dir / "server.log"`` and runs in its own session (Ctrl-C in the
terminal reaches the parent only, which then stops the servers in order).
"""

from __future__ import annotations

from fanfare_devstack._base import EmbeddedServer, ServerStartError, wait_for
from fanfare_devstack._nats import EmbeddedNats, nats_server_binary
from fanfare_devstack._postgres import EmbeddedPostgres
from fanfare_devstack._valkey import EmbeddedValkey, resp_ping, valkey_server_binary

__all__ = [
    "EmbeddedNats",
    "EmbeddedPostgres",
    "EmbeddedServer",
    "EmbeddedValkey",
    "ServerStartError",
    "nats_server_binary",
    "resp_ping",
    "valkey_server_binary",
    "wait_for",
]
