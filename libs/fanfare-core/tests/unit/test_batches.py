"""Requests taken in turn: batches in arrival order, one at a time, nothing left behind."""

from __future__ import annotations

import asyncio

import pytest

from fanfare_core.batches import TakenInTurn, together


class Recorder:
    """A taker that notes each batch and when it starts and ends."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.events: list[tuple[str, int]] = []
        self.batches: list[list[int]] = []
        self.seconds = seconds

    async def take(self, key: str, batch: list[int]) -> list[int | Exception]:
        number = len(self.batches)
        self.batches.append(batch)
        self.events.append(("starts", number))
        await asyncio.sleep(self.seconds)
        self.events.append(("ends", number))
        return [request * 10 for request in batch]


async def test_a_crowd_is_taken_in_batches_and_each_caller_gets_its_own_answer() -> None:
    recorder = Recorder()
    turns = TakenInTurn(recorder.take, name="test", max_batch=4)
    answers = await asyncio.gather(*(turns.submit("q", n) for n in range(10)))
    assert answers == [n * 10 for n in range(10)]
    assert [len(b) for b in recorder.batches] == [4, 4, 2]  # all arrived in one turn
    assert [r for b in recorder.batches for r in b] == list(range(10))  # in arrival order


async def test_batches_of_one_key_never_overlap_and_other_keys_do_not_wait() -> None:
    recorder = Recorder(seconds=0.01)
    turns = TakenInTurn(recorder.take, name="test", max_batch=2)
    other = Recorder(seconds=0.0)
    others = TakenInTurn(other.take, name="other")
    crowd = asyncio.gather(*(turns.submit("q", n) for n in range(7)))
    assert await others.submit("elsewhere", 1) == 10  # answered while "q" is busy
    await crowd
    steps = ("starts", "ends")
    assert recorder.events == [(s, n) for n in range(len(recorder.batches)) for s in steps]


async def test_a_request_arriving_while_the_last_batch_runs_is_taken() -> None:
    recorder = Recorder(seconds=0.05)
    turns = TakenInTurn(recorder.take, name="test")
    first = asyncio.create_task(turns.submit("q", 1))
    await asyncio.sleep(0.02)  # batch 0 is running and nothing else waits
    assert await turns.submit("q", 2) == 20
    assert await first == 10
    assert recorder.batches == [[1], [2]]


async def test_a_failing_batch_fails_its_callers_only() -> None:
    async def take(key: str, batch: list[int]) -> list[int | Exception]:
        if 13 in batch:
            raise ValueError("unlucky batch")
        return [KeyError("odd") if r % 2 else r for r in batch]

    turns = TakenInTurn(take, name="test", max_batch=1)
    outcomes = await asyncio.gather(
        *(turns.submit("q", n) for n in (13, 2, 3)), return_exceptions=True
    )
    assert isinstance(outcomes[0], ValueError)
    assert outcomes[1] == 2
    assert isinstance(outcomes[2], KeyError)


@pytest.mark.parametrize("size", [0, 2])
async def test_a_batch_answering_the_wrong_number_fails(size: int) -> None:
    async def take(key: str, batch: list[int]) -> list[int | Exception]:
        return [0] * size

    turns = TakenInTurn(take, name="test")
    with pytest.raises(RuntimeError, match="outcomes for 1 requests"):
        await turns.submit("q", 1)


class Turns:
    """Counts turns of the event loop: a task that yields once a turn."""

    def __init__(self) -> None:
        self.count = 0
        self._task = asyncio.ensure_future(self._tick())

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0)
            self.count += 1

    def stop(self) -> None:
        self._task.cancel()


async def test_a_caller_resumes_the_turn_after_its_batch_answers() -> None:
    answered_in_turn: list[int] = []
    turns = Turns()

    async def take(key: str, batch: list[int]) -> list[int | Exception]:
        await asyncio.sleep(0)  # a round trip
        answered_in_turn.append(turns.count)
        return batch

    taker = TakenInTurn(take, name="test")
    assert await taker.submit("q", 7) == 7
    resumed_in_turn = turns.count
    turns.stop()
    # A relay between the answer and its caller (asyncio.shield's) would cost a turn more.
    assert resumed_in_turn - answered_in_turn[0] == 1


async def test_a_caller_that_goes_away_leaves_its_request_to_be_done() -> None:
    done: list[int] = []

    async def take(key: str, batch: list[int]) -> list[int | Exception]:
        await asyncio.sleep(0.01)
        done.extend(batch)
        return batch

    taker = TakenInTurn(take, name="test")
    leaving = asyncio.ensure_future(taker.submit("q", 1))
    staying = asyncio.ensure_future(taker.submit("q", 2))
    await asyncio.sleep(0.001)  # the batch is under way
    leaving.cancel()
    assert await staying == 2
    assert leaving.cancelled()
    assert done == [1, 2]


async def test_together_runs_the_first_in_the_callers_task_and_the_second_alongside() -> None:
    tasks: list[asyncio.Task[object] | None] = []
    order: list[str] = []

    async def first() -> str:
        tasks.append(asyncio.current_task())
        order.append("first starts")
        await asyncio.sleep(0.01)
        order.append("first ends")
        return "one"

    async def second() -> str:
        order.append("second starts")
        await asyncio.sleep(0.001)
        order.append("second ends")
        return "two"

    assert await together(first(), second()) == ("one", "two")
    assert tasks == [asyncio.current_task()]
    assert order == ["first starts", "second starts", "second ends", "first ends"]


async def test_together_waits_for_both_and_raises_the_first_failure() -> None:
    finished: list[str] = []

    async def failing() -> str:
        raise ValueError("first failed")

    async def slow(name: str, error: Exception | None = None) -> str:
        await asyncio.sleep(0.01)
        finished.append(name)
        if error is not None:
            raise error
        return name

    with pytest.raises(ValueError, match="first failed"):
        await together(failing(), slow("second"))
    assert finished == ["second"]  # not left running
    with pytest.raises(ValueError, match="first failed"):
        await together(failing(), slow("also failing", KeyError("lesser")))
    with pytest.raises(KeyError, match="second failed"):
        await together(slow("first"), slow("second", KeyError("second failed")))
