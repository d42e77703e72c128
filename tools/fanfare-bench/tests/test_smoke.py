"""``make bench`` cannot rot: every scenario runs end to end at tiny sizes (no figure is
asserted: the sizes are too small to mean anything)."""

from __future__ import annotations

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
