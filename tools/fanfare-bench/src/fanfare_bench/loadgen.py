"""An open-loop HTTP load generator on asyncio.

Open loop: request ``i`` is due at ``start + i / rate`` whether or not earlier answers have
come back, and its latency is measured from that intended instant, not from when a
connection happened to be free. A thread of its own hands the event loop each request as
it falls due (:class:`_Pacer`). A server that stalls therefore shows its stall in every
request that should have been sent meanwhile (no "coordinated omission"). Latencies go
into an HDR histogram (microsecond resolution, three significant digits).

The client speaks just enough HTTP/1.1 for the job: keep-alive connections, one request in
flight per connection, ``Content-Length`` bodies. That keeps the generator's own cost per
request a small fraction of the server's, so one generator core can outrun one API core.

The generator's own pauses would count as the server's latency too, so Python's cyclic
garbage collector does not run during a run (:func:`collector_paused`): holding tens of
thousands of shoppers and their requests, this process was seen busy for 50 ms at once in
the middle of an enter run while the API idled, and every request due then was late.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import cast

from hdrh.histogram import HdrHistogram

# 1 µs to 60 s, three significant digits.
LOWEST_US, HIGHEST_US, DIGITS = 1, 60_000_000, 3

RequestFactory = Callable[[int], bytes]
"""Builds the raw bytes of request number ``i``."""

ResponseCheck = Callable[[int, int, bytes], bool]
"""Whether request ``i`` got the answer it should have (``status``, ``body``)."""


def request_bytes(
    method: str, path: str, host: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    """The raw bytes of one HTTP/1.1 request (built once per distinct request, ahead of time)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class ConnectionLost(Exception):
    """The server closed the connection before answering."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection; :meth:`send` writes a request and awaits its answer."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._need: int | None = None
        self._status = 0
        self._header_end = 0
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionLost(str(exc)))

    def send(self, raw: bytes) -> asyncio.Future[tuple[int, bytes]]:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._buffer.clear()
        self._need = None
        self.transport.write(raw)
        return self._waiter

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._need is None:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
            self._status = int(head[0].split(" ", 2)[1])
            length = 0
            for line in head[1:]:
                name, _, value = line.partition(":")
                if name.lower() == "content-length":
                    length = int(value)
                elif name.lower() == "transfer-encoding":
                    raise ValueError("chunked answers are not supported by this generator")
            self._header_end = end + 4
            self._need = self._header_end + length
        if len(self._buffer) >= self._need and self._waiter is not None:
            body = bytes(self._buffer[self._header_end : self._need])
            waiter, self._waiter = self._waiter, None
            waiter.set_result((self._status, body))


class ConnectionPool:
    """Up to ``size`` keep-alive connections to one server, opened on demand.

    Connections are handed over without a lock (one event loop owns the pool): a free
    one goes straight to the longest-waiting request. The generator shares its core with
    the data stores, so what it spends per request is taken from them."""

    def __init__(self, host: str, port: int, size: int) -> None:
        self.host, self.port, self.size = host, port, size
        self._idle: list[_Connection] = []
        self._open = 0
        self._waiting: collections.deque[asyncio.Future[_Connection | None]] = collections.deque()

    async def _acquire(self) -> _Connection:
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed:
                return connection
            self._open -= 1
        if self._open >= self.size:
            waiter: asyncio.Future[_Connection | None] = asyncio.get_running_loop().create_future()
            self._waiting.append(waiter)
            try:
                handed = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():  # handed over, then cancelled
                    handed = waiter.result()
                    if handed is None:
                        self._wake(None)  # the room it was given goes to the next
                    else:
                        self._release(handed)
                raise
            if handed is not None:
                return handed
            # None: a connection closed, leaving room to open one.
        self._open += 1
        try:
            loop = asyncio.get_running_loop()
            _, connection = await loop.create_connection(_Connection, self.host, self.port)
        except BaseException:
            self._open -= 1
            self._wake(None)
            raise
        return connection

    def _release(self, connection: _Connection) -> None:
        if connection.closed:
            self._open -= 1
            self._wake(None)
        elif not self._wake(connection):
            self._idle.append(connection)

    def _wake(self, connection: _Connection | None) -> bool:
        """Give ``connection`` (or, with None, room for a new one) to the longest-waiting
        request; False when nobody waits."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return True
        return False

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send ``raw`` on a free connection and return ``(status, body)``."""
        connection = await self._acquire()
        try:
            return await connection.send(raw)
        except BaseException:
            connection.closed = True
            if connection.transport is not None:
                connection.transport.close()
            raise
        finally:
            self._release(connection)

    def close(self) -> None:
        for connection in self._idle:
            if connection.transport is not None:
                connection.transport.close()
        self._idle.clear()


@dataclass(slots=True)
class RunStats:
    """What one run measured."""

    sent: int
    ok: int
    failed: int
    seconds: float
    histogram: HdrHistogram
    first_failure: str = ""
    #: CPU time the server process spent per successful answer, where it was measured.
    cpu_us: float | None = None
    #: What the data stores and the machine did in the background meanwhile, where it was
    #: watched (:mod:`fanfare_bench.background`).
    background: str = ""
    #: Open loop only: how late after its intended instant the generator began sending
    #: each request (its own delays, which the latencies count against the server).
    send_lateness: HdrHistogram | None = None

    @property
    def throughput(self) -> float:
        """Successful answers per second over the run."""
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    @property
    def busy(self) -> float | None:
        """The share of one core the server process used over the run (where its CPU time
        was measured)."""
        if self.cpu_us is None or self.seconds <= 0:
            return None
        return self.cpu_us * self.ok / 1e6 / self.seconds

    def ms(self, percentile: float) -> float:
        """Latency at ``percentile`` (0-100) in milliseconds."""
        return float(self.histogram.get_value_at_percentile(percentile)) / 1000.0

    def latencies(self) -> str:
        """``p50 0.71 ms, p99 2.26 ms, p99.9 4.43 ms``, and what happened in the background
        meanwhile where it was watched."""
        figures = (
            f"p50 {self.ms(50):.2f} ms, p99 {self.ms(99):.2f} ms, p99.9 {self.ms(99.9):.2f} ms"
        )
        return f"{figures}; {self.background}" if self.background else figures

    def lateness(self) -> str:
        """``the generator sent p99 0.41 ms, max 3.20 ms late`` for an open-loop run: how
        much of the latency the generator's own delays can account for."""
        if self.send_lateness is None or not self.send_lateness.get_total_count():
            return ""
        p99 = self.send_lateness.get_value_at_percentile(99) / 1000.0
        most = self.send_lateness.get_max_value() / 1000.0
        return f"the generator sent p99 {p99:.2f} ms, max {most:.2f} ms late"


def combined(runs: Sequence[RunStats]) -> RunStats:
    """Runs taken one after another as one: their answers, their seconds (the gaps
    between them left out), their latencies, and the server's CPU time per answer where
    every run measured it."""
    histogram = HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)
    for run in runs:
        histogram.add(run.histogram)
    ok = sum(run.ok for run in runs)
    cpu_us = None
    if ok and all(run.cpu_us is not None for run in runs):
        cpu_us = sum(cast(float, run.cpu_us) * run.ok for run in runs) / ok
    return RunStats(
        sum(run.sent for run in runs), ok, sum(run.failed for run in runs),
        sum(run.seconds for run in runs), histogram,
        next((run.first_failure for run in runs if run.first_failure), ""), cpu_us,
    )  # fmt: skip


def _micros(seconds: float) -> int:
    """``seconds`` in whole microseconds, within what the histograms hold."""
    return max(LOWEST_US, min(HIGHEST_US, int(seconds * 1_000_000)))


class _Recorder:
    def __init__(self, check: ResponseCheck | None) -> None:
        self.histogram = HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)
        self.send_lateness = HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)
        self.check = check
        self.ok = 0
        self.failed = 0
        self.first_failure = ""
        self.last_done = 0.0

    def sending(self, intended: float) -> None:
        """The generator begins sending a request due at ``intended``."""
        self.send_lateness.record_value(_micros(time.perf_counter() - intended))

    def record(
        self, index: int, intended: float, outcome: tuple[int, bytes] | BaseException
    ) -> None:
        done = time.perf_counter()
        self.last_done = max(self.last_done, done)
        if isinstance(outcome, BaseException):
            good, why = False, repr(outcome)
        else:
            status, body = outcome
            good = self.check(index, status, body) if self.check else 200 <= status < 300
            why = f"{status} {body[:200]!r}"
        if good:
            self.ok += 1
            self.histogram.record_value(_micros(done - intended))
        else:
            self.failed += 1
            if not self.first_failure:
                self.first_failure = why


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection meanwhile (what a run frees is freed by reference
    counting as it goes; cycles wait for the collector until the run ends)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Pacer:
    """Hands the event loop the requests of an open-loop run as they fall due, from a
    thread of its own: ``launch(first, last)`` runs on the loop for the requests numbered
    ``first`` to ``last - 1``, and :attr:`done` is set once the last is handed over.

    The event loop cannot do this itself. Its timers count whole milliseconds (uvloop
    rounds a delay to the nearest one), so a wait for a request due in under half a
    millisecond came back at once: above about 2,000 requests a second the generator spun
    its core, the one it shares with the data stores (in a loop against a trivial server,
    357 µs of CPU a request at 2,800 a second, the core 100 % busy). The thread sleeps on
    the kernel's own timers instead, to within a fraction of a millisecond, and wakes the
    loop once for all the requests due by then (56 µs a request and 16 % of the core
    there, the requests sent 0.11 ms late at the p99). A millisecond's tick of the loop
    would cost less but send each millisecond's requests together, an arrival the server
    would find cheaper than evenly spaced ones."""

    def __init__(
        self, launch: Callable[[int, int], None], start: float, interval: float, count: int
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._launch = launch
        self._start, self._interval, self._count = start, interval, count
        self._stopped = False
        self.done: asyncio.Future[None] = self._loop.create_future()
        threading.Thread(target=self._run, name="open-loop pacer", daemon=True).start()

    def stop(self) -> None:
        """Hand over nothing more (the run ended or was cancelled)."""
        self._stopped = True

    def _run(self) -> None:
        start, interval, count = self._start, self._interval, self._count
        index = 0
        try:
            while index < count and not self._stopped:
                wait = start + index * interval - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                now, first = time.perf_counter(), index
                # Everything due by now (a late wake-up sends a burst, as real arrivals
                # would).
                while index < count and start + index * interval <= now:
                    index += 1
                if index > first:
                    self._loop.call_soon_threadsafe(self._hand_over, first, index)
            self._loop.call_soon_threadsafe(self._finish)
        except RuntimeError:  # the loop was closed: the run was abandoned
            pass

    def _hand_over(self, first: int, last: int) -> None:
        if not self._stopped:
            self._launch(first, last)

    def _finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def open_loop(
    pool: ConnectionPool,
    make: RequestFactory,
    *,
    rate: float,
    count: int,
    check: ResponseCheck | None = None,
) -> RunStats:
    """Send ``count`` requests at ``rate`` a second, each due at its own instant, and
    measure every latency from that instant."""
    recorder = _Recorder(check)
    interval = 1.0 / rate
    pending: set[asyncio.Task[None]] = set()

    async def one(index: int, intended: float) -> None:
        recorder.sending(intended)
        try:
            outcome: tuple[int, bytes] | BaseException = await pool.request(make(index))
        except (OSError, ConnectionLost, ValueError) as error:
            outcome = error
        recorder.record(index, intended, outcome)

    def launch(first: int, last: int) -> None:
        for index in range(first, last):
            task = asyncio.create_task(one(index, start + index * interval))
            pending.add(task)
            task.add_done_callback(pending.discard)

    with collector_paused():
        start = time.perf_counter() + 0.01
        pacer = _Pacer(launch, start, interval, count)
        try:
            await pacer.done
        finally:
            pacer.stop()
        if pending:
            await asyncio.wait(pending)
    elapsed = (recorder.last_done or time.perf_counter()) - start
    return RunStats(
        count, recorder.ok, recorder.failed, elapsed, recorder.histogram,
        recorder.first_failure, send_lateness=recorder.send_lateness,
    )  # fmt: skip


async def saturate(
    pool: ConnectionPool,
    make: RequestFactory,
    *,
    concurrency: int,
    count: int,
    check: ResponseCheck | None = None,
) -> RunStats:
    """The most the server can do: ``concurrency`` clients each sending its next request as
    soon as the last is answered, ``count`` requests in all. Latency here is service time
    under saturation (closed loop); use :func:`open_loop` for latency figures."""
    recorder = _Recorder(check)
    counter = iter(range(count))

    async def client() -> None:
        for index in counter:
            sent = time.perf_counter()
            try:
                outcome: tuple[int, bytes] | BaseException = await pool.request(make(index))
            except (OSError, ConnectionLost, ValueError) as error:
                outcome = error
            recorder.record(index, sent, outcome)

    with collector_paused():
        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return RunStats(
        count, recorder.ok, recorder.failed, elapsed, recorder.histogram, recorder.first_failure
    )
