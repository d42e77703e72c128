"""The consumer API serves its probes and its OpenAPI document."""

import json
import signal
import urllib.request
from pathlib import Path

from fanfare_testing import start_service


def get(url: str) -> tuple[int, dict[str, object], dict[str, str]]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, json.loads(response.read()), dict(response.headers)


def test_probes_docs_and_clean_shutdown(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    process = start_service("consumer-api", settings, tmp_path)
    try:
        status, body, headers = get(f"{process.spec.url}/readyz")
        assert (status, body["status"]) == (200, "ready")
        assert headers["x-request-id"].startswith("req_")
        status, document, _ = get(f"{process.spec.url}/docs/openapi.json")
        assert document["info"]["title"] == "Fanfare Consumer API"  # type: ignore[index]
        assert "PublishableKey" in document["components"]["securitySchemes"]  # type: ignore[index]
    finally:
        status = process.stop()
    # uvicorn drains, runs the lifespan's shutdown, then re-raises SIGTERM as its exit status.
    assert status == -signal.SIGTERM
    log = (tmp_path / "consumer-api.log").read_text()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    messages = [line.get("message") for line in lines]
    assert messages.index("ready") < messages.index("stopped")
