"""Requests on one thing (a queue, an auction, a group of Redis reads) taken in turn, a
batch at a time.

A crowd's requests on the same queue or auction would otherwise each open a transaction,
queue for the same row locks and pay their own commit. Instead one task per thing and
process takes whatever has arrived, handles it in one transaction, answers every caller,
and takes the next batch; it ends when nothing is left. A lone request is taken at once,
so under light load nothing waits; under a crowd the batches grow by themselves.

Batches of one thing never overlap within a process, so what a batch wrote (and made
visible) is there before the next one starts.

Every hand-over between tasks costs a turn of the event loop, and under a crowd a turn is
long: the loop runs the ready work of every other request first (about a millisecond at
the enter benchmark's half rate). So the paths here hand over no more than they must: a
caller awaits its answer itself, a taker that finds more waiting takes it without
another task, and :func:`together` runs its first awaitable in the caller's own task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)  # the thing, e.g. a queue id
T = TypeVar("T")  # one request
R = TypeVar("R")  # its answer
U = TypeVar("U")

#: The most requests one batch takes; more wait for the next.
MAX_BATCH = 256


class TakenInTurn(Generic[K, T, R]):
    """``await submit(key, request)`` answers what ``take(key, batch)`` gives for it.

    ``take`` returns one outcome per request, in order: the answer, or an exception for
    that caller alone. If ``take`` itself raises, every caller of the batch gets that.
    """

    def __init__(
        self,
        take: Callable[[K, list[T]], Awaitable[list[R | Exception]]],
        *,
        name: str,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._take = take
        self._name = name
        self._max_batch = max_batch
        self._waiting: dict[K, list[tuple[T, asyncio.Future[R]]]] = {}
        self._takers: dict[K, asyncio.Task[None]] = {}

    async def submit(self, key: K, request: T) -> R:
        answer: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append((request, answer))
        if key not in self._takers:
            self._takers[key] = asyncio.create_task(self._take_all(key), name=f"{self._name}-{key}")
        # A caller that goes away (a client hung up) cancels its answer, not its request,
        # which is done all the same. (No asyncio.shield: its relay between the answer and
        # the caller would be one more turn of the loop.)
        return await answer

    async def _take_all(self, key: K) -> None:
        try:
            while waiting := self._waiting.get(key):
                batch = waiting[: self._max_batch]
                del waiting[: self._max_batch]
                try:
                    outcomes = await self._take(key, [request for request, _ in batch])
                    if len(outcomes) != len(batch):
                        raise RuntimeError(f"{len(outcomes)} outcomes for {len(batch)} requests")
                except BaseException as error:
                    for _, answer in batch:
                        if not answer.done():
                            answer.set_exception(error)
                    if not isinstance(error, Exception):
                        raise
                    continue
                for (_, answer), outcome in zip(batch, outcomes, strict=True):
                    if answer.done():
                        continue
                    if isinstance(outcome, Exception):
                        answer.set_exception(outcome)
                    else:
                        answer.set_result(outcome)
        finally:
            # Normally empty (no await since the loop found it so); not when this task was
            # cancelled, and then nobody will take what waits.
            for _, answer in self._waiting.pop(key, []):
                answer.cancel()
            del self._takers[key]


async def together(first: Awaitable[T], second: Awaitable[U]) -> tuple[T, U]:
    """Both results, the two awaited at once: ``second`` in a task of its own, ``first``
    in the caller's (handing it to a task too, as :func:`asyncio.gather` does, would cost
    the caller turns of the loop for the start and for the collection). Waits for both
    even when one fails (a statement still running on a transaction's connection must end
    before the transaction can roll back), then raises the first failure."""
    other = asyncio.ensure_future(second)
    try:
        one = await first
    except BaseException:
        await asyncio.wait([other])  # its outcome, if a failure too, is the lesser news
        if not other.cancelled():
            other.exception()  # retrieved: not logged as never retrieved
        raise
    return one, await other
