"""Rate limits against real Redis: exact counts when a crowd is counted together, the
window's time left, and a script cache emptied under the limiter."""

import asyncio
from collections.abc import AsyncIterator

import pytest

from fanfare_core.adapters.redis.client import FanfareRedis, open_redis
from fanfare_core.adapters.redis.rate_limit import KEY_PREFIX, RateLimits
from fanfare_core.ids import new_id


@pytest.fixture
async def redis(settings) -> AsyncIterator[FanfareRedis]:  # type: ignore[no-untyped-def]
    client = open_redis(settings.redis_url, max_connections=8)
    yield client
    await client.aclose()


async def test_a_crowd_counted_together_is_counted_exactly(redis) -> None:  # type: ignore[no-untyped-def]
    limits = RateLimits(redis, window_seconds=60)
    address, people = new_id("addr"), [new_id("cons") for _ in range(50)]
    # Fifty requests in one turn of the event loop, each with its own counter and the
    # shared one: the shared limit lets exactly thirty through, whatever the batching.
    waits = await asyncio.gather(
        *(limits.wait_seconds([(f"c:{p}", 5), (f"a:{address}", 30)]) for p in people)
    )
    assert sum(wait is None for wait in waits) == 30
    # The shared counter is called once for the turn; its counts go in the order asked.
    assert waits[:30] == [None] * 30
    assert all(wait is None or 1 <= wait <= 60 for wait in waits)
    assert int(await redis.get(f"{KEY_PREFIX}a:{address}")) == 50
    assert 0 < await redis.ttl(f"{KEY_PREFIX}a:{address}") <= 60
    # Each person's own counter is at one: the sixth request of one person is refused.
    person = people[0]
    more = [await limits.wait_seconds([(f"c:{person}", 5)]) for _ in range(5)]
    assert more[:4] == [None] * 4
    assert more[4] is not None
    assert 55 <= more[4] <= 60


async def test_a_shared_counter_goes_on_from_where_other_turns_left_it(redis) -> None:  # type: ignore[no-untyped-def]
    limits = RateLimits(redis, window_seconds=60)
    address = new_id("addr")
    assert await limits.wait_seconds([(f"a:{address}", 4)]) is None  # 1
    await redis.incrby(f"{KEY_PREFIX}a:{address}", 1)  # another replica counted one: 2
    waits = await asyncio.gather(*(limits.wait_seconds([(f"a:{address}", 4)]) for _ in range(4)))
    assert waits[:2] == [None, None]  # 3 and 4
    assert all(wait is not None and 55 <= wait <= 60 for wait in waits[2:])  # 5 and 6
    assert int(await redis.get(f"{KEY_PREFIX}a:{address}")) == 6


async def test_the_wait_is_what_the_window_has_left(redis) -> None:  # type: ignore[no-untyped-def]
    limits = RateLimits(redis, window_seconds=60)
    key = new_id("k")
    assert await limits.wait_seconds([(key, 1)]) is None
    await redis.expire(f"{KEY_PREFIX}{key}", 7)  # the window began 53 s ago
    assert await limits.wait_seconds([(key, 1)]) == 7


async def test_counting_goes_on_after_the_script_cache_is_emptied(redis) -> None:  # type: ignore[no-untyped-def]
    limits = RateLimits(redis, window_seconds=60)
    key = new_id("k")
    assert await limits.wait_seconds([(key, 2)]) is None
    await redis.script_flush()  # as after a Redis restart
    assert await limits.wait_seconds([(key, 2)]) is None
    wait = await limits.wait_seconds([(key, 2)])  # the third in the window
    assert wait is not None
    assert 55 <= wait <= 60


async def test_requests_counted_as_a_batch_take_consecutive_counts_in_order(redis) -> None:  # type: ignore[no-untyped-def]
    limits = RateLimits(redis, window_seconds=60)
    address, people = new_id("addr"), [new_id("cons") for _ in range(4)]
    # Six requests, one call: the shared counter lets four through, in the order given;
    # the fourth person asks twice and their own limit of one stops the second.
    batch = [[(f"c:{p}", 1), (f"a:{address}", 4)] for p in [*people, people[3], people[0]]]
    waits = await limits.wait_seconds_many(batch)
    assert waits[:4] == [None] * 4
    assert all(wait is not None and 1 <= wait <= 60 for wait in waits[4:])
    assert int(await redis.get(f"{KEY_PREFIX}a:{address}")) == 6
    assert int(await redis.get(f"{KEY_PREFIX}c:{people[3]}")) == 2
    assert await limits.wait_seconds_many([]) == []
