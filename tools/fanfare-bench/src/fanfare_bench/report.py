"""Writing the figures into docs/benchmarks.md, between its two markers, with the machine
they were measured on and the command that measured them."""

from __future__ import annotations

import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from fanfare_bench.results import Result

START = "<!-- figures:start (written by fanfare-bench --report; do not edit by hand) -->"
END = "<!-- figures:end -->"


def machine() -> str:
    """The CPU model, cores, memory, OS and Python of this machine, in one line."""
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB"
    # The machine's cores, not this process's (the generator is pinned to one of them).
    cores = os.cpu_count() or 1
    return (
        f"{model}, {cores} cores{memory}; {platform.system()} {platform.release()};"
        f" Python {platform.python_version()}"
    )


def render(results: list[Result], command: str, when: datetime) -> str:
    def verdict(result: Result) -> str:
        return {None: "-", True: "met", False: "**not met**"}[result.met]

    rows = [f"| {r.scenario} | {r.figures} | {r.target or '-'} | {verdict(r)} |" for r in results]
    return "\n".join(
        [
            START,
            f"Measured {when:%Y-%m-%d %H:%M} UTC on: {machine()}.",
            "",
            f"Command: `{command}`",
            "",
            "| scenario | figures | target | verdict |",
            "|---|---|---|---|",
            *rows,
            END,
        ]
    )


def write_report(path: Path, results: list[Result], argv: list[str]) -> None:
    """Replace the figures between the markers of ``path`` (append them if it has none)."""
    command = " ".join(["fanfare-bench", *argv])
    block = render(results, command, datetime.now(UTC))
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if START in text and END in text:
        before, _, rest = text.partition(START)
        _, _, after = rest.partition(END)
        text = before + block + after
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)
    sys.stdout.write(f"# figures written to {path}\n")
