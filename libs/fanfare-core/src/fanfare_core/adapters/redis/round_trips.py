"""Many small Redis reads answered by one round trip.

Thousands of shoppers poll at once, and each poll needs a read from Redis. Sent one by
one, every read pays a whole round trip in Python (a connection from the pool, a command
packed, a reply parsed, a wake-up), which costs far more than Redis's own work. Instead,
the reads that arrive during one turn of the event loop wait for the next turn and go
together: one call reads them all, and each caller gets its own answer.

Nothing waits on a timer: a lone read is sent at the next turn of the loop, so under light
load a read costs what it did, and under heavy load the batches grow by themselves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

G = TypeVar("G", bound=Hashable)  # reads that can share a call (e.g. of one queue)
T = TypeVar("T")  # what one caller asks
R = TypeVar("R")  # what one caller gets

#: The most reads one call carries; more start another call.
MAX_BATCH = 256


class RoundTrips(Generic[G, T, R]):
    """Answers ``read(group, item)`` by calling ``fetch(group, items)`` once for every
    item of ``group`` asked during the same turn of the event loop.

    ``fetch`` answers one result per item, in order. When it fails, every caller of that
    batch gets its exception.
    """

    def __init__(
        self,
        fetch: Callable[[G, list[T]], Awaitable[Sequence[R]]],
        *,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._fetch = fetch
        self._max_batch = max_batch
        self._waiting: dict[G, list[tuple[T, asyncio.Future[R]]]] = {}
        self._calls: set[asyncio.Task[None]] = set()

    async def read(self, group: G, item: T) -> R:
        """What ``fetch`` answers for ``item``, read together with the others of the turn."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[R] = loop.create_future()
        waiting = self._waiting.get(group)
        if waiting is None:
            waiting = self._waiting[group] = []
            loop.call_soon(self._send, group)
        waiting.append((item, answer))
        if len(waiting) >= self._max_batch:
            self._send(group)
        return await answer

    def _send(self, group: G) -> None:
        waiting = self._waiting.pop(group, None)
        if not waiting:
            return  # sent already, because it was full
        call = asyncio.create_task(self._call(group, waiting))
        self._calls.add(call)
        call.add_done_callback(self._calls.discard)

    async def _call(self, group: G, waiting: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._fetch(group, [item for item, _ in waiting])
            if len(results) != len(waiting):
                raise RuntimeError(f"{len(results)} answers to {len(waiting)} reads")
        except asyncio.CancelledError:
            for _, answer in waiting:
                answer.cancel()
            raise
        except Exception as error:
            for _, answer in waiting:
                if not answer.done():
                    answer.set_exception(error)
            return
        for (_, answer), result in zip(waiting, results, strict=True):
            if not answer.done():  # its caller may have gone away meanwhile
                answer.set_result(result)
