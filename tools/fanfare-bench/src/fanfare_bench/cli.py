"""``fanfare-bench``: run the scenarios, print one line each, write docs/benchmarks.md."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from fanfare_bench.results import Result, Size
from fanfare_bench.stack import cancel_on_sigterm, open_stack

# Name -> module under fanfare_bench.scenarios, in the order they run. The two that leave
# a million events in the outbox come last: the relay takes minutes to publish them, and
# the scheduler and event-path scenarios measure a quiet bus.
SCENARIOS = {
    "api": "api",  # baseline, status poll, enter, bids: one consumer API process
    "scheduler": "scheduler",  # 1,000 transitions due within a minute
    "events": "event_path",  # admin update -> scheduler has applied it
    "million": "million",  # 1,000,000 enters into one queue, consumer API memory
    "draw": "draw",  # 1,000,000 entries, 10,000 winners
}


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


async def run(names: Sequence[str], size: Size) -> list[Result]:
    results: list[Result] = []
    cancel_on_sigterm()
    # Tiny smoke runs (the test suite) leave the cores alone.
    async with open_stack(pin_cores=size is Size.FULL) as stack:
        say(f"# {stack.describe()}")
        for name in names:
            module = importlib.import_module(f"fanfare_bench.scenarios.{SCENARIOS[name]}")
            started = time.perf_counter()
            for result in await module.run(stack, size):
                say(result.line())
                results.append(result)
            say(f"#   ({name}: {time.perf_counter() - started:.0f} s)")
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fanfare-bench", description=__doc__)
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes: checks the code runs, figures mean nothing",
    )
    parser.add_argument(
        "--only", nargs="+", choices=list(SCENARIOS), default=list(SCENARIOS), metavar="NAME"
    )
    parser.add_argument("--report", type=Path, help="write the figures to this Markdown file")
    args = parser.parse_args(argv)
    size = Size.SMOKE if args.smoke else Size.FULL
    try:
        import uvloop  # noqa: PLC0415 - the generator's event loop; optional at import time

        uvloop.install()
    except ImportError:
        pass
    try:
        results = asyncio.run(run(args.only, size))
    except asyncio.CancelledError:
        say("# stopped (SIGTERM); everything this run started is stopped")
        return 128 + signal.SIGTERM
    if args.report is not None:
        from fanfare_bench.report import write_report  # noqa: PLC0415

        write_report(args.report, results, argv=sys.argv[1:] if argv is None else list(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
