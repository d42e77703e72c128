"""A tiny HTTP server for workers: ``/healthz`` (alive) and ``/readyz`` (dependencies up)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable

ReadinessCheck = Callable[[], Awaitable[dict[str, bool]]]


async def start_probe_server(host: str, port: int, readiness: ReadinessCheck) -> asyncio.Server:
    """Serve the two probes until the returned server is closed."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), timeout=5)
            while (await asyncio.wait_for(reader.readline(), timeout=5)) not in (b"\r\n", b""):
                pass
            parts = request_line.decode("latin-1").split()
            path = parts[1] if len(parts) > 1 else ""
            body: dict[str, object]
            if path == "/healthz":
                status, body = 200, {"status": "ok"}
            elif path == "/readyz":
                checks = await readiness()
                ready = all(checks.values())
                status = 200 if ready else 503
                body = {"status": "ready" if ready else "unavailable", "checks": checks}
            else:
                status, body = 404, {"error": "Not found"}
            payload = json.dumps(body).encode()
            reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
            writer.write(
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    return await asyncio.start_server(handle, host, port)
