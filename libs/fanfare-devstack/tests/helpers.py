"""Tiny wire-level clients, so the tests check the servers without their client libraries."""

from __future__ import annotations

import json
import os
import socket
from typing import Any


def resp_command(port: int, *args: str) -> bytes:
    """Send one RESP command to 127.0.0.1:port and return the first reply line."""
    payload = f"*{len(args)}\r\n".encode()
    for arg in args:
        data = arg.encode()
        payload += b"$%d\r\n%s\r\n" % (len(data), data)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(payload)
        reply = b""
        while reply.count(b"\r\n") < (2 if reply.startswith(b"$") else 1):
            chunk = connection.recv(4096)
            if not chunk:
                break
            reply += chunk
    return reply


def nats_info(port: int) -> dict[str, Any]:
    """Connect to a NATS server and return the JSON of the INFO line it greets us with."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        line = b""
        while not line.endswith(b"\r\n"):
            chunk = connection.recv(4096)
            if not chunk:
                break
            line += chunk
    assert line.startswith(b"INFO "), line
    info: dict[str, Any] = json.loads(line[5:])
    return info


def process_exists(pid: int) -> bool:
    """Whether a process with this pid exists (ours are reaped, so a gone one is gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
