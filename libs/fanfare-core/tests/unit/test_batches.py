"""Requests taken in turn: batches in arrival order, one at a time, nothing left behind."""

from __future__ import annotations

import asyncio

import pytest

from fanfare_core.batches import TakenInTurn


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
