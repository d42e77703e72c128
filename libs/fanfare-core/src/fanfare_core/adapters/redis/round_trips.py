"""Many small Redis reads answered by one round trip.

Thousands of shoppers poll at once, and each poll needs a read from Redis. Sent one by
one, every read pays a whole round trip in Python (a command packed and written, a reply
read and parsed, a wake-up), which costs far more than Redis's own work. Instead, the
reads of a group (a queue) go together: one call reads them all, and each caller gets its
own answer. A group has one call under way at a time: the reads that arrive during one
turn of the event loop go at the next turn, and those that arrive while the group's call
is under way go together as soon as it ends.

Nothing waits on a timer: a lone read is sent at the next turn of the loop, so under light
load a read costs what it did; the busier the group, or the longer Redis takes to answer,
the more reads each call carries.
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
    """Answers ``read(group, item)`` by calling ``fetch(group, items)`` once for the items
    of ``group`` asked during the same turn of the event loop, or while the group's
    previous call was under way.

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
        self._under_way: dict[G, int] = {}  # calls of each group not yet answered
        self._calls: set[asyncio.Task[None]] = set()

    async def read(self, group: G, item: T) -> R:
        """What ``fetch`` answers for ``item``, read together with the others of its group
        that wait with it (always read after this call began)."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[R] = loop.create_future()
        waiting = self._waiting.get(group)
        if waiting is None:
            waiting = self._waiting[group] = []
            if group not in self._under_way:
                loop.call_soon(self._send, group)
            # else the call under way sends these when it ends
        waiting.append((item, answer))
        if len(waiting) >= self._max_batch:
            self._send(group)
        return await answer

    def _send(self, group: G) -> None:
        waiting = self._waiting.pop(group, None)
        if not waiting:
            return  # sent already, because it was full
        self._under_way[group] = self._under_way.get(group, 0) + 1
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
        finally:
            self._ended(group)
        for (_, answer), result in zip(waiting, results, strict=True):
            if not answer.done():  # its caller may have gone away meanwhile
                answer.set_result(result)

    def _ended(self, group: G) -> None:
        """A call of ``group`` was answered (or failed): send what waited for it."""
        left = self._under_way.pop(group) - 1
        if left:
            self._under_way[group] = left
        elif group in self._waiting:
            self._send(group)
