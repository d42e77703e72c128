"""Profile the consumer API under one scenario of the api benchmark (a development aid,
not a benchmark).

    uv run python -m fanfare_bench.profile_api [--scenario status|enter|bids]
        [--delay 0] [--seconds 20] [--output profile.txt]

Starts the stack and a consumer API pinned to its own core, runs the scenario at full size
(status: a queue of 100,000 consumers polled; enter: a crowd entering one queue; bids: a
thousand bidders) while py-spy (installed separately) samples the API, and prints the
scenario's line beside the /healthz baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil

from fanfare_bench.loadgen import ConnectionPool
from fanfare_bench.results import Size
from fanfare_bench.scenarios.api import (
    Api,
    Sizes,
    baseline,
    bids,
    consumer_api,
    enter,
    status_poll,
)
from fanfare_bench.stack import cancel_on_sigterm, open_stack

SCENARIOS = {"status": status_poll, "enter": enter, "bids": bids}


async def main(scenario: str, delay: float, seconds: int, output: str) -> None:
    cancel_on_sigterm()
    async with open_stack() as stack:
        with consumer_api(stack) as process:
            port = process.spec.port
            api = Api(
                "127.0.0.1", port, ConnectionPool("127.0.0.1", port, 256), await stack.tenant(),
                pid=process.pid, stack=stack,
            )  # fmt: skip
            sizes = Sizes.of(Size.FULL)
            print((await baseline(api, sizes)).line())
            measured = asyncio.create_task(SCENARIOS[scenario](stack, api, sizes, Size.FULL))
            # Sampling starts after ``delay`` seconds, past the scenario's set-up and warm-up.
            await asyncio.sleep(delay)
            spy = None
            py_spy = shutil.which("py-spy")
            if py_spy and process.pid is not None:
                spy = await asyncio.create_subprocess_exec(
                    py_spy, "record", "-o", output, "-f", "raw", "-r", "200",
                    "-p", str(process.pid), "-d", str(seconds),
                    stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
                )  # fmt: skip
            print((await measured).line())
            if spy is not None:
                await spy.wait()
            api.client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="status")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before sampling")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--output", default="profile.txt")
    args = parser.parse_args()
    asyncio.run(main(args.scenario, args.delay, args.seconds, args.output))
