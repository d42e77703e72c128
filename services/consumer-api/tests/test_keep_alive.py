"""Idle keep-alive connections: the API keeps them longer than the balancers in front."""

import asyncio
from pathlib import Path
from urllib.parse import urlsplit

from fanfare_core.settings import Settings
from fanfare_testing import start_service

REQUEST = b"GET /healthz HTTP/1.1\r\nHost: fanfare\r\n\r\n"


async def open_and_idle(url: str, seconds: float) -> tuple[bytes, bool]:
    """Send one request, read its answer, stay idle ``seconds``; the answer's status line and
    whether the server closed the connection meanwhile."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(REQUEST)
        status = await reader.readline()
        headers = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
        length = int(headers.split("content-length:", 1)[1].split("\r\n", 1)[0])
        await reader.readexactly(length)
        try:
            closed = await asyncio.wait_for(reader.read(1), seconds) == b""
        except TimeoutError:
            closed = False
        return status, closed
    finally:
        writer.close()


async def test_an_idle_connection_stays_open_as_long_as_configured(
    consumer_api: str, settings: Settings, tmp_path: Path
) -> None:
    short = start_service(
        "consumer-api", settings, tmp_path, {"FANFARE_HTTP_KEEP_ALIVE_SECONDS": "1"}
    )
    try:
        # Six seconds idle: past uvicorn's own default of five, inside the 75 s default.
        (kept_status, kept_closed), (short_status, short_closed) = await asyncio.gather(
            open_and_idle(consumer_api, 6), open_and_idle(short.spec.url, 6)
        )
    finally:
        short.stop()
    assert kept_status.startswith(b"HTTP/1.1 200")
    assert short_status.startswith(b"HTTP/1.1 200")
    assert not kept_closed
    assert short_closed
