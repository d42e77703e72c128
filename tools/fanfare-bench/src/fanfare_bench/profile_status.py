"""Profile the consumer API under a status-poll flood (a development aid, not a benchmark).

    uv run python -m fanfare_bench.profile_status [--seconds 20] [--output status.txt]

Starts the stack and a consumer API pinned to its own core, fills a queue with 100,000
consumers, floods status polls while py-spy (installed separately) samples the API, and
prints the throughput beside the /healthz baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil

from fanfare_bench.loadgen import ConnectionPool
from fanfare_bench.results import Size
from fanfare_bench.scenarios.api import Api, Sizes, baseline, status_poll
from fanfare_bench.stack import open_stack


async def main(seconds: int, output: str) -> None:
    async with open_stack() as stack:
        process = stack.start("consumer-api", {"FANFARE_LOG_LEVEL": "warning"}, pinned=True)
        port = process.spec.port
        api = Api("127.0.0.1", port, ConnectionPool("127.0.0.1", port, 256), await stack.tenant())
        sizes = Sizes.of(Size.FULL)
        base, line = await baseline(api, sizes, Size.FULL)
        print(line.line())
        spy = None
        py_spy = shutil.which("py-spy")
        if py_spy and process.pid is not None:
            spy = await asyncio.create_subprocess_exec(
                py_spy, "record", "-o", output, "-f", "raw", "-r", "200",
                "-p", str(process.pid), "-d", str(seconds),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
        print((await status_poll(stack, api, sizes, Size.FULL, base)).line())
        if spy is not None:
            await spy.wait()
        api.client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--output", default="status-profile.txt")
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.output))
