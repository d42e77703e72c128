"""A wake-up call for a worker that sleeps between passes and is woken early by news.

The outbox relay (woken by PostgreSQL notifications) and the scheduler (woken by
``distribution.updated`` events) both loop: do a pass, sleep until a timeout or a wake-up.
A wake-up that arrives *during* a pass must end the next sleep at once, because the pass
may have read the database just before the change it announces committed. So a wake-up is
consumed when a sleep ends, never when one begins.
"""

from __future__ import annotations

import asyncio


class Wakeup:
    """Rung by a listener, slept on by a worker loop; a ring is never lost."""

    def __init__(self) -> None:
        self._rung = asyncio.Event()

    def ring(self) -> None:
        """Wake the sleeper now, or end its next sleep at once if it is not sleeping."""
        self._rung.set()

    async def sleep(self, seconds: float, stop: asyncio.Event) -> None:
        """Return after ``seconds``, or at once when rung since the last sleep ended, or
        when ``stop`` is set. Every ring until this sleep ends is consumed by it."""
        waiters = [asyncio.ensure_future(self._rung.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        # Rings from now on belong to the pass that follows this sleep.
        self._rung.clear()
