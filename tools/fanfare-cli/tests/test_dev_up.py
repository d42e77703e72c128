"""``make run`` (``fanfare dev up``): everything starts, the demo tenant works and is the
same on the next run, and SIGTERM stops every process it started."""

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

REQUIRED = {
    "ADMIN_URL",
    "CONSUMER_URL",
    "FANFARE_SECRET_KEY",
    "FANFARE_PUBLISHABLE_KEY",
    "FANFARE_ORGANIZATION_ID",
    "FANFARE_SEQUENCE_ID",
    "FANFARE_DATABASE_URL",
    "FANFARE_REDIS_URL",
    "FANFARE_NATS_URL",
}


def read_env(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        key, _, raw = line.partition("=")
        values[key] = shlex.split(raw)[0]
    return values


def port_open(url: str) -> bool:
    parsed = urlparse(url)
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((parsed.hostname or "127.0.0.1", parsed.port or 0)) == 0


def start(run_dir: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FANFARE_")}
    ports = [
        f"--{name}-port=0"
        for name in (
            "admin-api",
            "consumer-api",
            "scheduler",
            "settlement-worker",
            "postgres",
            "redis",
            "nats",
        )
    ]
    return subprocess.Popen(
        [sys.executable, "-m", "fanfare_cli.main", "dev", "up", "--run-dir", str(run_dir), *ports],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for_stack(process: subprocess.Popen[str], stack_env: Path) -> dict[str, str]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if stack_env.exists():
            return read_env(stack_env)
        if process.poll() is not None:
            pytest.fail(f"dev up exited early:\n{process.stdout.read() if process.stdout else ''}")
        time.sleep(0.2)
    process.kill()
    pytest.fail("dev up was not ready within 120 s")


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    return output


@pytest.mark.slow
def test_make_run_brings_up_everything_and_stops_it(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    process = start(run_dir)
    try:
        values = wait_for_stack(process, run_dir / "stack.env")
        assert values.keys() >= REQUIRED
        admin = httpx.Client(
            base_url=values["ADMIN_URL"],
            headers={"Authorization": f"Bearer {values['FANFARE_SECRET_KEY']}"},
        )
        created = admin.post(
            "/api/v1/queues", json={"sequenceId": values["FANFARE_SEQUENCE_ID"], "name": "Demo"}
        )
        assert created.status_code == 201, created.text
        assert created.json()["organizationId"] == values["FANFARE_ORGANIZATION_ID"]
        for name in ("ADMIN_URL", "CONSUMER_URL", "SCHEDULER_URL", "SETTLEMENT_WORKER_URL"):
            assert httpx.get(f"{values[name]}/readyz").status_code == 200
    finally:
        output = stop(process)
    assert "Fanfare is running" in output
    assert not (run_dir / "stack.env").exists()
    listening = [
        values[k]
        for k in ("ADMIN_URL", "CONSUMER_URL", "SCHEDULER_URL", "SETTLEMENT_WORKER_URL",
                  "FANFARE_DATABASE_URL", "FANFARE_REDIS_URL", "FANFARE_NATS_URL")
    ]  # fmt: skip
    assert [url for url in listening if port_open(url)] == []

    # The next run keeps the data and shows the same demo keys.
    again = start(run_dir)
    try:
        second = wait_for_stack(again, run_dir / "stack.env")
        assert second["FANFARE_SECRET_KEY"] == values["FANFARE_SECRET_KEY"]
        assert second["FANFARE_SEQUENCE_ID"] == values["FANFARE_SEQUENCE_ID"]
        listed = httpx.get(
            f"{second['ADMIN_URL']}/api/v1/queues",
            headers={"Authorization": f"Bearer {second['FANFARE_SECRET_KEY']}"},
        )
        assert [q["name"] for q in listed.json()["data"]] == ["Demo"]
    finally:
        stop(again)
