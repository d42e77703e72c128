"""``make bench`` cannot rot: every scenario runs end to end at tiny sizes (no figure is
asserted: the sizes are too small to mean anything)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fanfare_bench.cli import SCENARIOS, run
from fanfare_bench.report import END, START, write_report
from fanfare_bench.results import Size
from fanfare_core.settings import Settings


@pytest.mark.slow
async def test_every_scenario_runs_in_smoke_size(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FANFARE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("FANFARE_REDIS_URL", settings.redis_url)
    monkeypatch.setenv("FANFARE_NATS_URL", settings.nats_url)
    results = await run(list(SCENARIOS), Size.SMOKE)
    scenarios = [result.scenario for result in results]
    assert len(scenarios) >= len(SCENARIOS)
    assert all(result.met is None for result in results)  # smoke sizes claim nothing
    assert not [r for r in results if "FAILED" in r.figures or "NOT" in r.figures]
    report = tmp_path / "benchmarks.md"
    report.write_text(f"# Benchmarks\n\nprose\n\n{START}\nold\n{END}\n\nmore prose\n")
    write_report(report, results, ["--smoke"])
    text = report.read_text()
    assert "old" not in text
    assert text.startswith("# Benchmarks\n\nprose")
    assert text.endswith("more prose\n")
    assert all(scenario in text for scenario in scenarios)
    assert "fanfare-bench --smoke" in text


@pytest.mark.slow
def test_sigterm_stops_everything_the_run_started(settings: Settings, tmp_path: Path) -> None:
    # Told to stop in the middle of a scenario, the bench stops the services and servers
    # it started and removes its scratch folder, as it does at the end of a run.
    env = {
        **os.environ,
        "FANFARE_DATABASE_URL": settings.database_url,
        "FANFARE_REDIS_URL": settings.redis_url,
        "FANFARE_NATS_URL": settings.nats_url,
        "TMPDIR": str(tmp_path),
    }
    bench = subprocess.Popen(
        [sys.executable, "-m", "fanfare_bench.cli", "--smoke", "--only", "api"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob("fanfare-bench-*/consumer-api.log")):
            assert bench.poll() is None, "the run ended before the API was up"
            assert time.monotonic() < deadline, "the consumer API never started"
            time.sleep(0.05)
        bench.send_signal(signal.SIGTERM)
        output, _ = bench.communicate(timeout=60)
    finally:
        if bench.poll() is None:
            bench.kill()
    assert bench.returncode == 128 + signal.SIGTERM, output
    assert b"stopped (SIGTERM)" in output
    assert not list(tmp_path.glob("fanfare-bench-*"))  # removed after every process stopped
