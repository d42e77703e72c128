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
the more reads each call carries. The calls of a group are taken in turn by one task
(:class:`~fanfare_core.batches.TakenInTurn`), which sends the next call as the last one's
answer arrives: a read hands over between tasks no more than it must (each hand-over is a
turn of the loop, long under a crowd).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

from fanfare_core.batches import TakenInTurn

G = TypeVar("G", bound=Hashable)  # reads that can share a call (e.g. of one queue)
T = TypeVar("T")  # what one caller asks
R = TypeVar("R")  # what one caller gets

#: The most reads one call carries; more wait for the next call.
MAX_BATCH = 256


class RoundTrips(Generic[G, T, R]):
    """Answers ``read(group, item)`` by calling ``fetch(group, items)`` once for the items
    of ``group`` asked during the same turn of the event loop, or while the group's
    previous call was under way.

    ``fetch`` answers one result per item, in order. When it fails, every caller of that
    call gets its exception.
    """

    def __init__(
        self,
        fetch: Callable[[G, list[T]], Awaitable[Sequence[R]]],
        *,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._fetch = fetch
        self._calls: TakenInTurn[G, T, R] = TakenInTurn(
            self._call, name="round-trips", max_batch=max_batch
        )

    async def read(self, group: G, item: T) -> R:
        """What ``fetch`` answers for ``item``, read together with the others of its group
        that wait with it (always read after this call began)."""
        return await self._calls.submit(group, item)

    async def _call(self, group: G, items: list[T]) -> list[R | Exception]:
        results = await self._fetch(group, items)
        if len(results) != len(items):
            raise RuntimeError(f"{len(results)} answers to {len(items)} reads")
        return list(results)
