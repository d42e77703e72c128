"""The consumer API under a flash crowd: baseline, status polls, enters and bids.

One consumer API process, pinned to its own core, serves every scenario here, and the
baseline — ``GET /healthz``, a trivial JSON route of the same process behind the same
middleware — is measured under the same load in the same run. Each scenario is measured
twice: closed loop with many connections for its maximum throughput, then open loop at
half that rate for its latency percentiles. The maximum-rate run goes in rounds, each
bracketed by short runs of the baseline, and a scenario's ratio is the median of its
rounds' ratios, each to the mean of the two baseline runs beside it: a shared machine's
speed drifts over minutes and stalls for a second at a time, and a baseline measured
beside each round drifts with it, while one round that met a stall moves the median
no more than any other round.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import random
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

from fanfare_bench.background import watched
from fanfare_bench.crowd import SIGN_IN_TABLES, add_consumers, fill_queue, sign_in
from fanfare_bench.loadgen import (
    ConnectionPool,
    RequestFactory,
    ResponseCheck,
    RunStats,
    combined,
    open_loop,
    request_bytes,
    saturate,
)
from fanfare_bench.results import Result, Size
from fanfare_bench.stack import Stack
from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.clock import SystemClock
from fanfare_core.domain.distributions import DistributionChanges, Kind
from fanfare_core.service_layer.distributions import create_distribution
from fanfare_devstack.processes import ServiceProcess
from fanfare_testing import Tenant

OPENED = "2020-01-01T00:00:00Z"
# Every simulated shopper comes from 127.0.0.1: the per-address limit would stop the crowd
# after 600 enters, as it should stop a real single address. The API relays no events, as
# deploy/ runs it: a worker publishes them (see consumer_api).
API_ENVIRONMENT = {
    "FANFARE_ENTER_LIMIT_PER_ADDRESS": "1000000000",
    "FANFARE_LOG_LEVEL": "warning",
    "FANFARE_OUTBOX_RELAY": "false",
}


@dataclass(frozen=True, slots=True)
class Sizes:
    requests: int  # per saturation run
    # Length of each open-loop run. A p99 is the worst 1 %: over 10 s, one stall of the
    # shared machine of 100 ms (seen here every few runs, the baseline's p99.9 too) was
    # that 1 % by itself; over 30 s the run also meets the process's own periodic work
    # (caches refreshed every 30 s) instead of falling between two of them.
    open_seconds: float
    queued: int  # consumers in line for the status poll
    pollers: int  # of them, how many poll
    bidders: int
    # Connections of a maximum-rate run: enough that the API's core, not the wait for a
    # batch's round trips, sets the maximum. With 64 the enter crowd left the API idle
    # 16-21 % of the run (batches of one queue go one after another, and 64 shoppers
    # were all waiting on the two in progress), so its "maximum" was a latency bound.
    concurrency: int
    beside: int  # baseline requests in each run beside a maximum-rate round
    # Rounds of a maximum-rate run (its requests shared among them). With one round and a
    # baseline run either side, a second's stall in the round and not beside it (seen
    # here: the API's CPU time per poll half as much again as in the other runs) took the
    # status poll's ratio from 0.76 to 0.67.
    rounds: int

    @classmethod
    def of(cls, size: Size) -> Sizes:
        if size is Size.SMOKE:
            return cls(300, 0.5, 500, 100, 20, 8, 60, 2)
        return cls(30_000, 30.0, 100_000, 10_000, 1_000, 256, 6_000, 5)


@dataclass(frozen=True, slots=True)
class Baseline:
    """``GET /healthz`` at its maximum rate, measured beside each round of a scenario's
    maximum-rate run, and the scenario's ratio to it round by round."""

    throughput: float  # the mean of the runs
    cpu_us: float | None  # the API's CPU time per answer (the mean of the runs)
    ratios: tuple[float, ...]  # each round's figure over the mean of the two runs beside it

    @classmethod
    def paired(cls, runs: Sequence[RunStats], figures: Sequence[float]) -> Baseline:
        """``runs`` are the baseline's, one before each of the rounds whose ``figures``
        (throughputs, as a rule) are given and one after the last."""
        if len(runs) != len(figures) + 1 or not figures:
            raise ValueError(f"{len(figures)} rounds need {len(figures) + 1} baseline runs")
        beside = [(a.throughput + b.throughput) / 2 for a, b in itertools.pairwise(runs)]
        ratios = tuple(f / b if b > 0 else 0.0 for f, b in zip(figures, beside, strict=True))
        cpus = [run.cpu_us for run in runs if run.cpu_us is not None]
        cpu = statistics.fmean(cpus) if len(cpus) == len(runs) else None
        return cls(statistics.fmean(run.throughput for run in runs), cpu, ratios)

    @property
    def ratio(self) -> float:
        """The scenario's ratio to the baseline: the median of its rounds'."""
        return statistics.median(self.ratios)

    def describe(self) -> str:
        """``baseline beside it 8,123 req/s, 121 µs an answer; rounds 0.71 0.74 0.69``."""
        cpu = "" if self.cpu_us is None else f", {self.cpu_us:,.0f} µs an answer"
        rounds = " ".join(f"{ratio:.2f}" for ratio in self.ratios)
        return f"baseline beside it {self.throughput:,.0f} req/s{cpu}; rounds {rounds} x"


@dataclass(slots=True)
class Api:
    """The consumer API under test and a client pool for it."""

    host: str
    port: int
    client: ConnectionPool
    tenant: Tenant
    pid: int | None = None  # of the API process, whose CPU time is read
    #: The servers, watched during each half-rate run (see :mod:`fanfare_bench.background`).
    stack: Stack | None = None

    def get(self, path: str, token: str | None = None) -> bytes:
        return request_bytes("GET", path, f"{self.host}:{self.port}", self._headers(token))

    def post(self, path: str, token: str | None, body: bytes = b"") -> bytes:
        headers = self._headers(token)
        if body:
            headers["Content-Type"] = "application/json"
        return request_bytes("POST", path, f"{self.host}:{self.port}", headers, body)

    def _headers(self, token: str | None) -> dict[str, str]:
        headers = {"X-Publishable-Key": self.tenant.publishable_key}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return headers


@contextlib.contextmanager
def consumer_api(stack: Stack) -> Iterator[ServiceProcess]:
    """The consumer API under test on its own core, configured as deploy/ runs it: its
    events are published by another service's relay, here a settlement worker's beside
    the servers (its work counts against their core, not the API's)."""
    relay = stack.start(
        "settlement-worker", {"FANFARE_LOG_LEVEL": "warning"}, cores=stack.cores.generator
    )
    try:
        process = stack.start("consumer-api", API_ENVIRONMENT, cores=stack.cores.api)
        try:
            yield process
        finally:
            stack.stop(process)
    finally:
        stack.stop(relay)


async def distribution(stack: Stack, tenant: Tenant, kind: Kind, **changes: object) -> str:
    made = await create_distribution(
        UnitOfWork(stack.pool), SystemClock(), tenant.principal, kind,
        sequence_id=tenant.sequence_id,
        changes=DistributionChanges(open_at=OPENED, **changes),  # type: ignore[arg-type]
    )  # fmt: skip
    return made.id


def cpu_seconds(pid: int | None) -> float | None:
    """The user and system CPU time process ``pid`` has used (None where /proc lacks it)."""
    if pid is None:
        return None
    try:
        # Fields after the command name, which is in parentheses: utime and stime are the
        # 12th and 13th of them, in clock ticks.
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def saturated(
    api: Api, make: RequestFactory, *, count: int, concurrency: int,
    check: ResponseCheck | None = None,
) -> RunStats:  # fmt: skip
    """:func:`saturate`, with the CPU time the API spent per successful answer: a figure
    that other load on a shared machine moves far less than throughput."""
    return await with_cpu(
        api, saturate(api.client, make, concurrency=concurrency, count=count, check=check)
    )


async def with_cpu(api: Api, run: Awaitable[RunStats]) -> RunStats:
    """What ``run`` measured, with the API's CPU time per successful answer meanwhile."""
    before = cpu_seconds(api.pid)
    stats = await run
    after = cpu_seconds(api.pid)
    if before is None or after is None or not stats.ok:
        return stats
    return replace(stats, cpu_us=(after - before) * 1e6 / stats.ok)


async def beside_baseline(
    api: Api, make: RequestFactory, sizes: Sizes, *, count: int,
    check: ResponseCheck | None = None, figure: Callable[[RunStats], float] | None = None,
) -> tuple[RunStats, Baseline]:  # fmt: skip
    """A maximum-rate run of ``make`` (closed loop, :func:`saturated`) in
    ``sizes.rounds`` rounds, as one, and the baseline measured the same way before each
    round and after the last. Requests keep their numbers across the rounds. A round's
    ``figure`` is its throughput unless given (called once per round, in turn)."""
    healthz = api.get("/healthz")

    async def base_run() -> RunStats:
        return await saturated(
            api, lambda _: healthz, concurrency=sizes.concurrency, count=sizes.beside
        )

    runs = [await base_run()]
    rounds: list[RunStats] = []
    per_round: list[float] = []
    share = -(-count // sizes.rounds)
    for first in range(0, count, share):
        taken = await saturated(
            api, _numbered_from(make, first), concurrency=sizes.concurrency,
            count=min(share, count - first),
            check=None if check is None else _shifted(check, first),
        )  # fmt: skip
        rounds.append(taken)
        per_round.append(taken.throughput if figure is None else figure(taken))
        runs.append(await base_run())
    return combined(rounds), Baseline.paired(runs, per_round)


def _numbered_from(make: RequestFactory, first: int) -> RequestFactory:
    return lambda i: make(first + i)


def _shifted(check: ResponseCheck, first: int) -> ResponseCheck:
    return lambda i, status, body: check(first + i, status, body)


def figures(peak: RunStats, steady: RunStats, base: Baseline | None, unit: str) -> str:
    ratio = f" = {base.ratio:.2f} x baseline" if base else ""
    return (
        f"max {peak.throughput:,.0f} {unit}/s{ratio}{cpu_figure(peak, base)};"
        f" at {steady.throughput:,.0f}/s (half{busy_figure(steady)}{late_figure(steady)}):"
        f" {steady.latencies()}"
    )


def cpu_figure(peak: RunStats, base: Baseline | None) -> str:
    """``(the API busy 98% of its core, 812 µs an answer = 3.9 x baseline's; baseline
    beside it …)``, or ``(the API busy 99% of its core, 120 µs an answer)`` for the
    baseline itself. A maximum well below a whole core was not the API's maximum."""
    if peak.cpu_us is None or peak.busy is None:
        return "" if base is None else f" ({base.describe()})"
    cpu = f"the API busy {peak.busy:.0%} of its core, {peak.cpu_us:,.0f} µs an answer"
    if base is None:
        return f" ({cpu})"
    ratio = f" = {peak.cpu_us / base.cpu_us:.1f} x baseline's" if base.cpu_us else ""
    return f" ({cpu}{ratio}; {base.describe()})"


def ratio_verdict(
    steady: RunStats, base: Baseline, floor: float, p99_ms: float, size: Size
) -> bool | None:
    if size is Size.SMOKE:
        return None
    return base.ratio >= floor and steady.ms(99) <= p99_ms


def failures(*runs: RunStats) -> str:
    failed = sum(run.failed for run in runs)
    if not failed:
        return ""
    first = next(run.first_failure for run in runs if run.first_failure)
    return f"; {failed} FAILED (first: {first})"


async def half_rate(
    api: Api, make: RequestFactory, sizes: Sizes, peak: RunStats,
    check: ResponseCheck | None = None,
) -> RunStats:  # fmt: skip
    """Latency at half the maximum throughput (open loop)."""
    rate = max(1.0, peak.throughput / 2)
    count = max(10, int(rate * sizes.open_seconds))
    return await paced(api, make, rate=rate, count=count, check=check)


async def paced(
    api: Api, make: RequestFactory, *, rate: float, count: int,
    check: ResponseCheck | None = None,
) -> RunStats:  # fmt: skip
    """:func:`open_loop`, with the API's CPU time per successful answer (at a lower rate
    batches are smaller, and an answer can cost more than at the maximum) and what the
    servers did in the background meanwhile."""
    run = with_cpu(api, open_loop(api.client, make, rate=rate, count=count, check=check))
    if api.stack is None:
        return await run
    stats, seen = await watched(api.stack, run)
    return replace(stats, background=seen.describe())


def late_figure(steady: RunStats) -> str:
    """``; the generator sent p99 0.41 ms, max 3.20 ms late`` for an open-loop run."""
    late = steady.lateness()
    return f"; {late}" if late else ""


def busy_figure(steady: RunStats) -> str:
    """``; the API busy 85% of its core, 601 µs an answer`` where the API's CPU time was
    measured."""
    if steady.cpu_us is None or steady.busy is None:
        return ""
    return f"; the API busy {steady.busy:.0%} of its core, {steady.cpu_us:,.0f} µs an answer"


async def baseline(api: Api, sizes: Sizes) -> Result:
    request = api.get("/healthz")
    # Warm up connections and the process before anything counts.
    await saturate(
        api.client, lambda _: request, concurrency=sizes.concurrency, count=sizes.requests // 10
    )
    peak = await saturated(
        api, lambda _: request, concurrency=sizes.concurrency, count=sizes.requests
    )
    steady = await half_rate(api, lambda _: request, sizes, peak)
    return Result(
        "baseline: GET /healthz", figures(peak, steady, None, "req") + failures(peak, steady)
    )


async def status_poll(stack: Stack, api: Api, sizes: Sizes, size: Size) -> Result:
    queue = await distribution(stack, api.tenant, Kind.QUEUE)
    pollers = await sign_in(stack, api.tenant, sizes.pollers)
    others = await add_consumers(
        stack, api.tenant, sizes.queued - sizes.pollers, SystemClock().now()
    )
    line = [*others, *(p.consumer_id for p in pollers)]
    random.Random(7).shuffle(line)  # noqa: S311 - a reproducible order, not a secret
    await fill_queue(stack, api.tenant, queue, line)
    # The line is rebuilt from PostgreSQL before anything is measured: the scenario is a
    # queue of 100,000 being polled, not a rebuild (whose work would count against polls).
    await open_line(stack, api, queue)
    await stack.settle(*SIGN_IN_TABLES, "queue_entries")
    expected = {consumer: position for position, consumer in enumerate(line, start=1)}
    requests = [api.get(f"/api/v1/queues/{queue}/status", p.token) for p in pollers]

    def make(index: int) -> bytes:
        return requests[index % len(requests)]

    def exact(index: int, status: int, body: bytes) -> bool:
        if status != 200:
            return False
        state = json.loads(body)
        return bool(state["position"] == expected[pollers[index % len(pollers)].consumer_id])

    # First pass: every token verified once.
    await saturate(api.client, make, concurrency=sizes.concurrency, count=len(requests))
    peak, base = await beside_baseline(api, make, sizes, count=sizes.requests, check=exact)
    steady = await half_rate(api, make, sizes, peak, check=exact)
    return Result(
        f"status poll, {sizes.queued:,} queued",
        figures(peak, steady, base, "req") + failures(peak, steady),
        "≥ 0.7 x baseline, p99 ≤ 10 ms at half rate",
        ratio_verdict(steady, base, 0.7, 10.0, size) if not failures(peak, steady) else False,
    )


async def open_line(stack: Stack, api: Api, queue: str, within: float = 60.0) -> None:
    """Show the queue as a storefront page does before the crowd arrives: the consumer API
    then builds the queue's line in Redis, and waits (bounded) until it has."""
    status, _ = await api.client.request(api.get(f"/api/v1/queues/{queue}"))
    assert status == 200
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await stack.redis.exists(f"fq:{{{queue}}}:ready"):
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"the line of {queue} was not built within {within:.0f} s")


async def enter(stack: Stack, api: Api, sizes: Sizes, size: Size) -> Result:
    queue = await distribution(stack, api.tenant, Kind.QUEUE)
    await open_line(stack, api, queue)
    crowd = await sign_in(stack, api.tenant, sizes.requests)
    path = f"/api/v1/queues/{queue}/enter"
    peak, base = await beside_baseline(
        api, lambda i: api.post(path, crowd[i].token), sizes, count=len(crowd)
    )
    rate = max(1.0, peak.throughput / 2)
    late = await sign_in(stack, api.tenant, max(10, int(rate * sizes.open_seconds)))
    await events_relayed(stack)
    # What the maximum-rate run left (its entries, its published events) and the late
    # crowd's sign-in are vacuumed before the half-rate run, as the set-up's are.
    await stack.settle(*SIGN_IN_TABLES, "queue_entries", "outbox")
    steady = await paced(api, lambda i: api.post(path, late[i].token), rate=rate, count=len(late))
    accepted = peak.ok + steady.ok
    async with stack.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*), count(DISTINCT arrival) FROM queue_entries"
            " WHERE queue_id = %s AND status = 'QUEUED'",
            (queue,),
        )
        stored, distinct = await cur.fetchone() or (0, 0)
    durable = stored == accepted == distinct
    note = "" if durable else f"; STORED {stored} of {accepted} accepted"
    met = ratio_verdict(steady, base, 0.3, 25.0, size)
    return Result(
        "enter: new shoppers, one queue",
        figures(peak, steady, base, "enters") + failures(peak, steady) + note,
        "≥ 0.3 x baseline, p99 ≤ 25 ms at half rate",
        False if (note or failures(peak, steady)) else met,
    )


async def events_relayed(stack: Stack, within: float = 120.0) -> None:
    """Wait (bounded) until every event in the outbox is published. The run at the maximum
    rate leaves its enters' events for the API's relay to publish; the run at half the
    rate measures that rate, not the API catching up on a backlog twice its size."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not await stack.unpublished_events():
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the outbox was not relayed within {within:.0f} s")


async def bids(stack: Stack, api: Api, sizes: Sizes, size: Size) -> Result:
    auction = await distribution(
        stack, api.tenant, Kind.AUCTION, settle_at="2099-01-01T00:00:00Z",
        starting_bid=Decimal(1), minimum_increment=Decimal(1),
    )  # fmt: skip
    bidders = await sign_in(stack, api.tenant, sizes.bidders)
    await stack.settle(*SIGN_IN_TABLES)
    path = f"/api/v1/auctions/{auction}/bid"
    accepted: set[int] = set()
    counted = 0

    def accepted_rate(taken: RunStats) -> float:
        """A round's accepted bids a second (those it added to ``accepted``)."""
        nonlocal counted
        added, counted = len(accepted) - counted, len(accepted)
        return added / taken.seconds if taken.seconds > 0 else 0.0

    def make(index: int) -> bytes:
        # Each bid tops the one before it, so in arrival order every bid would be accepted;
        # bids overtaking each other on the way are refused as too low, as they should be.
        body = json.dumps({"amount": 10 + index}).encode()
        return api.post(path, bidders[index % len(bidders)].token, body)

    def judged(index: int, status: int, body: bytes) -> bool:
        if status == 200:
            accepted.add(10 + index)
            return True
        return status == 400 and b"Bid must be higher" in body

    peak, base = await beside_baseline(
        api, make, sizes, count=sizes.requests, check=judged, figure=accepted_rate
    )
    seconds = peak.seconds
    async with stack.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT amount FROM auction_bids WHERE auction_id = %s", (auction,)
        )
        stored = {int(row[0]) for row in await cur.fetchall()}
    lost = accepted - stored
    rate = len(accepted) / seconds if seconds else 0.0
    line = (
        f"{rate:,.0f} accepted bids/s = {base.ratio:.2f} x baseline"
        f" ({len(accepted):,} of {peak.sent:,} accepted, the rest overtaken;"
        f" {sizes.bidders:,} bidders){cpu_figure(peak, base)};"
        f" {len(lost)} accepted bids missing from the record"
    ) + failures(peak)
    met = None if size is Size.SMOKE else (base.ratio >= 0.2 and not lost and not peak.failed)
    return Result("bids: one auction", line, "≥ 0.2 x baseline accepted bids/s, none lost",
                  False if lost else met)  # fmt: skip


async def run(stack: Stack, size: Size) -> list[Result]:
    sizes = Sizes.of(size)
    with consumer_api(stack) as process:
        api = Api(
            "127.0.0.1",
            process.spec.port,
            ConnectionPool("127.0.0.1", process.spec.port, 256),
            await stack.tenant(),
            pid=process.pid,
            stack=stack,
        )
        try:
            results = [await baseline(api, sizes)]
            results.append(await status_poll(stack, api, sizes, size))
            results.append(await enter(stack, api, sizes, size))
            results.append(await bids(stack, api, sizes, size))
            return results
        finally:
            api.client.close()
