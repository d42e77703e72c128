"""The scheduler starts, declares its durable consumer, answers probes, stops on SIGTERM."""

import json
import urllib.request
from pathlib import Path

import nats
import pytest

from conftest import start_service  # type: ignore[import-not-found]


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
        with urllib.request.urlopen(f"{process.spec.url}/readyz", timeout=5) as response:
            body = json.loads(response.read())
        assert body == {
            "status": "ready",
            "checks": {"postgres": True, "redis": True, "nats": True},
        }
        with urllib.request.urlopen(f"{process.spec.url}/healthz", timeout=5) as response:
            assert json.loads(response.read()) == {"status": "ok"}
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
