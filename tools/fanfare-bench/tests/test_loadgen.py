"""The load generator measures what it claims: open-loop latency from the intended send
time, so a server's stall shows in every request due during it."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from types import SimpleNamespace
from typing import cast

import pytest
from hdrh.histogram import HdrHistogram

from fanfare_bench import loadgen
from fanfare_bench.loadgen import (
    DIGITS,
    HIGHEST_US,
    LOWEST_US,
    ConnectionPool,
    RunStats,
    combined,
    open_loop,
    request_bytes,
    saturate,
)
from fanfare_bench.results import Size
from fanfare_bench.scenarios.api import Api, Baseline, Sizes, beside_baseline
from fanfare_testing import Tenant


class StallingServer:
    """A tiny HTTP/1.1 server answering ``{"n": <count>}``; it can stall for a while, and
    close a connection after answering ``close_after`` requests on it."""

    def __init__(self) -> None:
        self.answered = 0
        self.stall_until = 0.0
        self.port = 0
        self.connections = 0
        self.most_open = 0
        self.open = 0
        self.close_after: int | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        self.connections += 1
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        served = 0
        try:
            while self.close_after is None or served < self.close_after:
                await reader.readuntil(b"\r\n\r\n")
                served += 1
                if (wait := self.stall_until - loop.time()) > 0:
                    await asyncio.sleep(wait)
                self.answered += 1
                body = b'{"n": %d}' % self.answered
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionResetError):
            pass
        finally:
            self.open -= 1
            writer.close()


@pytest.fixture
async def server() -> AsyncIterator[StallingServer]:
    stalling = StallingServer()
    listener = await asyncio.start_server(stalling.handle, "127.0.0.1", 0)
    stalling.port = listener.sockets[0].getsockname()[1]
    yield stalling
    listener.close()
    await listener.wait_closed()


async def test_every_request_is_answered_and_counted(server: StallingServer) -> None:
    pool = ConnectionPool("127.0.0.1", server.port, 8)
    request = request_bytes("GET", "/", "localhost")
    stats = await saturate(pool, lambda _: request, concurrency=8, count=500)
    pool.close()
    assert (stats.ok, stats.failed, server.answered) == (500, 0, 500)
    assert stats.histogram.get_total_count() == 500


async def test_a_stall_shows_in_the_requests_due_during_it(server: StallingServer) -> None:
    pool = ConnectionPool("127.0.0.1", server.port, 4)
    request = request_bytes("GET", "/", "localhost")
    server.stall_until = asyncio.get_running_loop().time() + 0.3
    # 100 requests a second for a second: the first 30 are due while the server stalls.
    stats = await open_loop(pool, lambda _: request, rate=100, count=100)
    pool.close()
    assert stats.ok == 100
    # The first request waited the whole stall; a closed-loop client that only timed the
    # requests it managed to send would report ~30 slow answers at most, not this spread.
    assert stats.ms(100) >= 250
    # The 25 requests due in the stall's first 250 ms each waited at least 50 ms.
    assert stats.ms(80) >= 50


async def test_the_generators_own_delays_are_measured_apart(server: StallingServer) -> None:
    """A server's stall is the server's latency, not the generator's lateness; the
    generator's own stall shows in both, and its line says how late it sent."""
    pool = ConnectionPool("127.0.0.1", server.port, 4)
    request = request_bytes("GET", "/", "localhost")
    server.stall_until = asyncio.get_running_loop().time() + 0.3
    stalled_server = await open_loop(pool, lambda _: request, rate=100, count=50)
    assert stalled_server.ms(80) >= 50
    assert stalled_server.send_lateness is not None
    assert stalled_server.send_lateness.get_total_count() == 50
    assert stalled_server.send_lateness.get_value_at_percentile(50) < 50_000  # µs

    def blocking(index: int) -> bytes:
        if index == 5:
            time.sleep(0.2)  # the generator's loop held, as by a pause of its own
        return request

    stalled_generator = await open_loop(pool, blocking, rate=100, count=50)
    pool.close()
    assert stalled_generator.ok == 50
    # The requests due during the pause began late, each by what was left of it.
    assert stalled_generator.send_lateness is not None
    assert stalled_generator.send_lateness.get_max_value() >= 150_000
    assert stalled_generator.ms(100) >= 150
    assert stalled_generator.lateness().startswith("the generator sent p99 ")
    assert RunStats(1, 1, 0, 1.0, HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)).lateness() == ""


async def test_the_open_loop_is_paced_by_a_thread_not_the_event_loops_timers(
    server: StallingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The event loop's timers count whole milliseconds, so its wait for a request due in
    under half a millisecond comes back at once: at 5,000 requests a second, pacing on
    them spun the core the generator shares with the data stores."""
    waits: list[float] = []
    sleep = asyncio.sleep

    async def noted(delay: float) -> None:
        waits.append(delay)
        await sleep(delay)

    pool = ConnectionPool("127.0.0.1", server.port, 16)
    request = request_bytes("GET", "/", "localhost")
    monkeypatch.setattr(loadgen.asyncio, "sleep", noted)
    stats = await open_loop(pool, lambda _: request, rate=5_000, count=500)
    monkeypatch.undo()
    pool.close()
    assert (stats.ok, server.answered) == (500, 500)
    assert waits == []
    # Each request is still timed from its own due instant.
    assert stats.send_lateness is not None
    assert stats.send_lateness.get_total_count() == 500


async def test_a_cancelled_open_loop_sends_nothing_more(server: StallingServer) -> None:
    pool = ConnectionPool("127.0.0.1", server.port, 4)
    request = request_bytes("GET", "/", "localhost")
    run = asyncio.create_task(open_loop(pool, lambda _: request, rate=100, count=1_000))
    await asyncio.sleep(0.2)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    answered = server.answered
    await asyncio.sleep(0.2)  # 20 more would have been due meanwhile
    pool.close()
    assert 0 < answered < 1_000
    assert server.answered <= answered + 4  # at most those already in flight


async def test_the_generator_collects_no_garbage_during_a_run(server: StallingServer) -> None:
    """Its own pauses would be counted as the server's latency."""
    pool = ConnectionPool("127.0.0.1", server.port, 4)
    request = request_bytes("GET", "/", "localhost")
    collecting: set[bool] = set()

    def noted(_: int, status: int, __: bytes) -> bool:
        collecting.add(gc.isenabled())
        return status == 200

    assert gc.isenabled()
    closed = await saturate(pool, lambda _: request, concurrency=4, count=50, check=noted)
    opened = await open_loop(pool, lambda _: request, rate=500, count=50, check=noted)
    pool.close()
    assert (closed.ok, opened.ok) == (50, 50)
    assert collecting == {False}
    assert gc.isenabled()


async def test_failed_answers_are_counted_not_timed(server: StallingServer) -> None:
    pool = ConnectionPool("127.0.0.1", server.port, 2)
    request = request_bytes("GET", "/", "localhost")
    stats = await saturate(
        pool, lambda _: request, concurrency=2, count=20, check=lambda i, status, body: i % 2 == 0
    )
    pool.close()
    assert (stats.ok, stats.failed) == (10, 10)
    assert stats.histogram.get_total_count() == 10
    assert stats.first_failure.startswith("200")


async def test_the_pool_keeps_to_its_size_and_replaces_closed_connections(
    server: StallingServer,
) -> None:
    pool = ConnectionPool("127.0.0.1", server.port, 3)
    request = request_bytes("GET", "/", "localhost")
    stats = await saturate(pool, lambda _: request, concurrency=20, count=300)
    assert (stats.ok, server.connections, server.most_open) == (300, 3, 3)
    # The server hangs up after every fifth answer: waiting requests get new connections.
    server.close_after = 5
    answers = await asyncio.gather(
        *(pool.request(request) for _ in range(40)), return_exceptions=True
    )
    pool.close()
    assert sum(isinstance(answer, tuple) for answer in answers) >= 30
    assert server.most_open <= 3


def test_runs_combined_are_one_run_of_their_answers_seconds_and_latencies() -> None:
    def run(ok: int, seconds: float, latency_us: int, cpu_us: float | None) -> RunStats:
        histogram = HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)
        for _ in range(ok):
            histogram.record_value(latency_us)
        return RunStats(ok + 1, ok, 1, seconds, histogram, f"failure after {ok}", cpu_us)

    both = combined([run(300, 1.0, 1_000, 100.0), run(100, 3.0, 9_000, 500.0)])
    assert (both.sent, both.ok, both.failed, both.seconds) == (402, 400, 2, 4.0)
    assert both.throughput == 100.0
    assert both.ms(50) == pytest.approx(1.0, rel=0.01)
    assert both.ms(99) == pytest.approx(9.0, rel=0.01)
    assert both.cpu_us == pytest.approx(200.0)  # weighted by answers
    assert both.first_failure == "failure after 300"
    assert combined([run(10, 1.0, 1_000, 100.0), run(10, 1.0, 1_000, None)]).cpu_us is None


def test_a_ratio_is_the_median_of_its_rounds_each_to_the_baseline_beside_it() -> None:
    def base(throughput: float) -> RunStats:
        return RunStats(
            int(throughput), int(throughput), 0, 1.0, HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)
        )

    # The baseline slows to 500 req/s around the third round; the fourth met a stall of
    # its own, the baseline beside it did not.
    runs = [base(1000), base(1000), base(500), base(500), base(1000), base(1000)]
    paired = Baseline.paired(runs, [700, 720, 360, 300, 690])
    assert paired.ratios == pytest.approx((0.70, 0.96, 0.72, 0.40, 0.69))
    assert paired.ratio == pytest.approx(0.70)
    assert paired.throughput == pytest.approx(5000 / 6)
    assert "rounds 0.70 0.96 0.72 0.40 0.69 x" in paired.describe()
    with pytest.raises(ValueError, match="3 rounds need 4 baseline runs"):
        Baseline.paired(runs[:3], [1.0, 2.0, 3.0])


async def test_a_maximum_rate_run_goes_in_rounds_between_baseline_runs(
    server: StallingServer,
) -> None:
    pool = ConnectionPool("127.0.0.1", server.port, 4)
    api = Api("127.0.0.1", server.port, pool, cast(Tenant, SimpleNamespace(publishable_key="k")))
    sizes = replace(Sizes.of(Size.SMOKE), rounds=3, beside=20, concurrency=4)
    made: list[int] = []
    checked: list[int] = []
    request = request_bytes("GET", "/scenario", "localhost")

    def make(index: int) -> bytes:
        made.append(index)
        return request

    def check(index: int, status: int, _: bytes) -> bool:
        checked.append(index)
        return status == 200

    peak, base = await beside_baseline(api, make, sizes, count=100, check=check)
    pool.close()
    # Every request number once, across three rounds (34, 34 and 32 of them), each round
    # with a baseline run before it and one after the last.
    assert sorted(made) == sorted(checked) == list(range(100))
    assert (peak.sent, peak.ok) == (100, 100)
    assert len(base.ratios) == 3
    assert server.answered == 100 + 4 * 20
