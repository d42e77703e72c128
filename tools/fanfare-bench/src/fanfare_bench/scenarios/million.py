"""A million consumers enter one queue: all accepted, positions exact and FIFO, and the
consumer API's memory stays bounded (≤ 300 MB resident).

The crowd signs in and enters in waves (signed-in shoppers are made per wave so the
generator's own memory stays small). Every enter's answer is kept; afterwards the record in
PostgreSQL is read in arrival order and each answered position must equal the consumer's
place in that order — nobody leaves, so the position at entry is the final one. A sample
of status polls checks the positions shoppers see later. The consumer API's resident
memory is sampled every half second throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from array import array
from pathlib import Path

from fanfare_bench.crowd import sessions_for, sign_in
from fanfare_bench.loadgen import ConnectionPool, saturate
from fanfare_bench.results import Result, Size
from fanfare_bench.scenarios.api import Api, consumer_api, distribution, open_line
from fanfare_bench.stack import Stack
from fanfare_core.domain.distributions import Kind
from fanfare_devstack.processes import ServiceProcess

MEMORY_LIMIT_MB = 300


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def watch_memory(pid: int, peak: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], resident_mb(pid))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


async def run(stack: Stack, size: Size) -> list[Result]:
    with consumer_api(stack) as process:
        return await _measure(stack, process, size)


async def _measure(stack: Stack, process: ServiceProcess, size: Size) -> list[Result]:
    total, wave = (1_000_000, 50_000) if size is Size.FULL else (400, 100)
    assert process.pid is not None
    port = process.spec.port
    api = Api("127.0.0.1", port, ConnectionPool("127.0.0.1", port, 256), await stack.tenant())
    peak = [resident_mb(process.pid)]
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_memory(process.pid, peak, stop))
    try:
        queue = await distribution(stack, api.tenant, Kind.QUEUE)
        await open_line(stack, api, queue)
        path = f"/api/v1/queues/{queue}/enter"
        answered = array("q", [0]) * total  # position answered to shopper i
        consumers: list[str] = []
        seconds = 0.0
        failed, first_failure = 0, ""
        for start in range(0, total, wave):
            crowd = await sign_in(stack, api.tenant, min(wave, total - start))
            consumers.extend(shopper.consumer_id for shopper in crowd)

            def keep(index: int, status: int, body: bytes, start: int = start) -> bool:
                if status != 200:
                    return False
                answered[start + index] = json.loads(body)["position"]
                return True

            stats = await saturate(
                api.client, lambda i, crowd=crowd: api.post(path, crowd[i].token),  # type: ignore[misc]
                concurrency=64, count=len(crowd), check=keep,
            )  # fmt: skip
            seconds += stats.seconds
            failed += stats.failed
            first_failure = first_failure or stats.first_failure
        place = await places_in_line(stack, queue)
        wrong = sum(
            1 for i, consumer in enumerate(consumers) if answered[i] != place.get(consumer, -1)
        )
        polled_wrong = await poll_sample(stack, api, queue, place, size)
    finally:
        stop.set()
        await watcher
        api.client.close()
    accepted = len(consumers) - failed
    figures = (
        f"{accepted:,} of {total:,} accepted in {seconds:,.0f} s ({accepted / seconds:,.0f}/s);"
        f" {len(place):,} in line; answered positions off: {wrong:,};"
        f" status polls off: {polled_wrong}; consumer API peak RSS {peak[0]:,.0f} MB"
    )
    if failed:
        figures += f"; {failed} FAILED (first: {first_failure})"
    met = (
        None
        if size is Size.SMOKE
        else (
            not failed
            and len(place) == total
            and wrong == 0
            and polled_wrong == 0
            and peak[0] <= MEMORY_LIMIT_MB
        )
    )
    return [
        Result(
            f"{total:,} enter one queue",
            figures,
            "all accepted, positions exact and FIFO, RSS ≤ 300 MB",
            met,
        )
    ]


async def places_in_line(stack: Stack, queue: str) -> dict[str, int]:
    """Each QUEUED consumer's place by arrival, from the record."""
    place: dict[str, int] = {}
    async with stack.pool.connection() as conn, conn.cursor(name="line") as cur:
        await cur.execute(
            "SELECT consumer_id FROM queue_entries WHERE queue_id = %s AND status = 'QUEUED'"
            " ORDER BY arrival",
            (queue,),
        )
        async for (consumer,) in cur:
            place[consumer] = len(place) + 1
    return place


async def poll_sample(stack: Stack, api: Api, queue: str, place: dict[str, int], size: Size) -> int:
    """Status polls of a random sample of the line: how many answers differ from the record."""
    sample = random.Random(11).sample(  # noqa: S311 - a reproducible sample
        sorted(place), min(len(place), 1000 if size is Size.FULL else 50)
    )
    wrong = 0
    for shopper in await sessions_for(stack, api.tenant, sample):
        request = api.get(f"/api/v1/queues/{queue}/status", shopper.token)
        status, body = await api.client.request(request)
        if status != 200 or json.loads(body)["position"] != place[shopper.consumer_id]:
            wrong += 1
    return wrong
