"""The scheduler starts, declares its durable consumer, answers probes, stops on SIGTERM."""

import asyncio
import json
import urllib.request
from pathlib import Path

import nats
import pytest

from fanfare_testing import start_service


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


@pytest.mark.parametrize(
    ("service", "stream", "durable"),
    [("scheduler", "FANFARE_EVENTS", "scheduler"),
     ("settlement-worker", "FANFARE_SETTLEMENT", "settlement-worker")],
)  # fmt: skip
async def test_worker_is_ready_with_its_consumer_and_stops_cleanly(
    settings, tmp_path: Path, service: str, stream: str, durable: str
) -> None:  # type: ignore[no-untyped-def]
    process = start_service(service, settings, tmp_path)
    try:
        body = await asyncio.to_thread(get_json, f"{process.spec.url}/readyz")
        assert body == {
            "status": "ready",
            "checks": {"postgres": True, "redis": True, "nats": True},
        }
        assert await asyncio.to_thread(get_json, f"{process.spec.url}/healthz") == {"status": "ok"}
        client = await nats.connect(settings.nats_url)
        try:
            info = await client.jetstream().consumer_info(stream, durable)
            assert info.config.durable_name == durable
        finally:
            await client.close()
    finally:
        status = process.stop(timeout=10)
    assert status == 0
    log = (tmp_path / f"{service}.log").read_text()
    messages = [
        json.loads(line).get("message") for line in log.splitlines() if line.startswith("{")
    ]
    assert "ready" in messages
    assert messages[-1] == "stopped"
