"""Reads asked in the same turn of the event loop share one call; each caller gets its own
answer, or the call's failure."""

import asyncio

import pytest

from fanfare_core.adapters.redis.round_trips import RoundTrips


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[int]]] = []

    async def fetch(self, group: str, items: list[int]) -> list[str]:
        self.calls.append((group, items))
        await asyncio.sleep(0)
        return [f"{group}:{item * 10}" for item in items]


async def test_reads_of_one_turn_share_one_call_per_group() -> None:
    recorder = Recorder()
    trips: RoundTrips[str, int, str] = RoundTrips(recorder.fetch)
    answers = await asyncio.gather(
        trips.read("a", 1), trips.read("b", 2), trips.read("a", 3), trips.read("a", 1)
    )
    assert answers == ["a:10", "b:20", "a:30", "a:10"]
    assert sorted(recorder.calls) == [("a", [1, 3, 1]), ("b", [2])]


async def test_a_lone_read_is_sent_at_once_and_later_reads_make_a_new_call() -> None:
    recorder = Recorder()
    trips: RoundTrips[str, int, str] = RoundTrips(recorder.fetch)
    assert await trips.read("a", 1) == "a:10"
    assert await trips.read("a", 2) == "a:20"
    assert recorder.calls == [("a", [1]), ("a", [2])]


async def test_reads_asked_while_their_groups_call_is_under_way_go_together_after_it() -> None:
    release = asyncio.Event()
    calls: list[tuple[str, list[int]]] = []

    async def fetch(group: str, items: list[int]) -> list[int]:
        calls.append((group, items))
        if group == "a" and len(calls) == 1:
            await release.wait()
        return [item * 10 for item in items]

    trips: RoundTrips[str, int, int] = RoundTrips(fetch)
    first = asyncio.ensure_future(trips.read("a", 1))
    await asyncio.sleep(0)
    await asyncio.sleep(0)  # its call is under way
    later = []
    for item in (2, 3, 4):  # each in a turn of its own
        later.append(asyncio.ensure_future(trips.read("a", item)))
        await asyncio.sleep(0)
    # Another group is not held back by the first one's call.
    assert await trips.read("b", 5) == 50
    assert calls == [("a", [1]), ("b", [5])]
    release.set()
    assert await first == 10
    assert await asyncio.gather(*later) == [20, 30, 40]
    assert calls == [("a", [1]), ("b", [5]), ("a", [2, 3, 4])]


async def test_reads_waiting_on_a_failed_call_are_still_sent() -> None:
    calls: list[list[int]] = []
    release = asyncio.Event()

    async def fetch(group: str, items: list[int]) -> list[int]:
        calls.append(items)
        if len(calls) == 1:
            await release.wait()
            raise ConnectionError("redis went away")
        return items

    trips: RoundTrips[str, int, int] = RoundTrips(fetch)
    failing = asyncio.ensure_future(trips.read("a", 1))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    waiting = asyncio.ensure_future(trips.read("a", 2))
    await asyncio.sleep(0)
    release.set()
    with pytest.raises(ConnectionError):
        await failing
    assert await waiting == 2
    assert calls == [[1], [2]]


async def test_a_full_batch_goes_alone_and_the_rest_follow() -> None:
    recorder = Recorder()
    trips: RoundTrips[str, int, str] = RoundTrips(recorder.fetch, max_batch=3)
    answers = await asyncio.gather(*(trips.read("a", i) for i in range(7)))
    assert answers == [f"a:{i * 10}" for i in range(7)]
    assert [items for _, items in recorder.calls] == [[0, 1, 2], [3, 4, 5], [6]]


async def test_a_failed_call_fails_every_read_of_its_batch_and_only_those() -> None:
    async def fetch(group: str, items: list[int]) -> list[int]:
        if group == "down":
            raise ConnectionError("redis went away")
        return items

    trips: RoundTrips[str, int, int] = RoundTrips(fetch)
    outcomes = await asyncio.gather(
        trips.read("down", 1), trips.read("up", 2), trips.read("down", 3), return_exceptions=True
    )
    assert isinstance(outcomes[0], ConnectionError)
    assert isinstance(outcomes[2], ConnectionError)
    assert outcomes[1] == 2


async def test_a_fetch_that_answers_the_wrong_number_of_items_is_an_error() -> None:
    async def fetch(group: str, items: list[int]) -> list[int]:
        return items[:-1]

    trips: RoundTrips[str, int, int] = RoundTrips(fetch)
    with pytest.raises(RuntimeError, match="1 answers to 2 reads"):
        await asyncio.gather(trips.read("a", 1), trips.read("a", 2))


async def test_a_caller_that_goes_away_does_not_disturb_the_others() -> None:
    release = asyncio.Event()

    async def fetch(group: str, items: list[int]) -> list[int]:
        await release.wait()
        return items

    trips: RoundTrips[str, int, int] = RoundTrips(fetch)
    leaving = asyncio.ensure_future(trips.read("a", 1))
    staying = asyncio.ensure_future(trips.read("a", 2))
    await asyncio.sleep(0.01)
    leaving.cancel()
    release.set()
    assert await staying == 2
    assert leaving.cancelled()
