"""A wake-up that arrives while a worker is busy ends its next sleep at once."""

import asyncio
import time

from fanfare_core.wakeup import Wakeup

LONG = 30.0  # a sleep that would fail the test if it were not cut short


async def test_a_ring_during_a_pass_ends_the_next_sleep_at_once() -> None:
    wakeup, stop = Wakeup(), asyncio.Event()
    wakeup.ring()  # while the worker was busy with its pass
    await asyncio.wait_for(wakeup.sleep(LONG, stop), timeout=5)


async def test_a_ring_wakes_a_sleeper() -> None:
    wakeup, stop = Wakeup(), asyncio.Event()
    sleeper = asyncio.create_task(wakeup.sleep(LONG, stop))
    await asyncio.sleep(0.01)
    assert not sleeper.done()
    wakeup.ring()
    await asyncio.wait_for(sleeper, timeout=5)


async def test_a_ring_is_consumed_by_the_sleep_it_ends() -> None:
    wakeup, stop = Wakeup(), asyncio.Event()
    wakeup.ring()
    wakeup.ring()  # two rings before one sleep wake it once
    await asyncio.wait_for(wakeup.sleep(LONG, stop), timeout=5)
    started = time.monotonic()
    await wakeup.sleep(0.05, stop)
    assert time.monotonic() - started >= 0.04


async def test_without_a_ring_the_sleep_lasts_its_time() -> None:
    wakeup, stop = Wakeup(), asyncio.Event()
    started = time.monotonic()
    await wakeup.sleep(0.05, stop)
    assert time.monotonic() - started >= 0.04


async def test_stop_ends_the_sleep() -> None:
    wakeup, stop = Wakeup(), asyncio.Event()
    sleeper = asyncio.create_task(wakeup.sleep(LONG, stop))
    await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(sleeper, timeout=5)
