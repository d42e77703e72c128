"""Under load and through restarts: exact FIFO positions, the capacity cap, no lost entry."""

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from fanfare_core.adapters.redis.rate_limit import KEY_PREFIX
from fanfare_core.settings import Settings
from fanfare_devstack.processes import ServiceProcess
from fanfare_testing import Tenant, start_service
from fanfare_testing import queued_in_arrival_order as arrival_order

from .queue_support import Shopper, enter, make_queue, new_shopper, status


async def shoppers(browser: httpx.AsyncClient, count: int) -> list[Shopper]:
    return list(await asyncio.gather(*(new_shopper(browser) for _ in range(count))))


async def test_hundreds_of_concurrent_enters_and_leaves_keep_exact_fifo(
    browser, pool, tenant
) -> None:  # type: ignore[no-untyped-def]
    queue = await make_queue(pool, tenant)
    crowd = await shoppers(browser, 300)
    responses = await asyncio.gather(*(enter(browser, queue, s) for s in crowd))
    assert [r.status_code for r in responses] == [200] * 300
    assert sorted(r.json()["position"] for r in responses) == list(range(1, 301))
    # Some leave while others arrive.
    leaving = random.Random(7).sample(crowd, 60)
    late = await shoppers(browser, 60)
    await asyncio.gather(
        *(browser.post(f"/api/v1/queues/{queue}/leave", headers=s.headers()) for s in leaving),
        *(enter(browser, queue, s) for s in late),
    )
    order = await arrival_order(pool, queue)
    assert len(order) == 300  # every acknowledged entry is recorded, none lost
    polled = await asyncio.gather(
        *(status(browser, queue, s) for s in [*crowd, *late] if s not in leaving)
    )
    positions = {r.json()["consumerId"]: r.json()["position"] for r in polled}
    assert [positions[consumer] for consumer in order] == list(range(1, 301))


async def test_the_capacity_cap_holds_under_a_rush(browser, pool, tenant) -> None:  # type: ignore[no-untyped-def]
    queue = await make_queue(pool, tenant, max_capacity=50)
    crowd = await shoppers(browser, 200)
    responses = await asyncio.gather(*(enter(browser, queue, s) for s in crowd))
    accepted = [r.json()["consumerId"] for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    assert len(accepted) == 50
    assert {(r.status_code, r.json()["error"]) for r in refused} == {(429, "Queue is full")}
    assert sorted(await arrival_order(pool, queue)) == sorted(accepted)
    view = (await browser.get(f"/api/v1/queues/{queue}")).json()
    assert (view["capacity"], view["consumerCount"]) == (50, 50)


@pytest.fixture
def private_consumer_api(settings: Settings, tmp_path: Path) -> Iterator[ServiceProcess]:
    """A consumer API of this test's own, with a tight per-address limit on entering."""
    process = start_service(
        "consumer-api", settings, tmp_path, {"FANFARE_ENTER_LIMIT_PER_ADDRESS": "5"}
    )
    yield process
    process.stop()


async def test_entries_survive_a_restart_and_a_redis_flush(
    private_consumer_api: ServiceProcess, settings: Settings, pool, tenant: Tenant
) -> None:  # type: ignore[no-untyped-def]
    queue = await make_queue(pool, tenant)
    redis = aioredis.Redis.from_url(settings.redis_url)
    # The address counter is shared by every replica: clear what earlier tests counted.
    await redis.delete(f"{KEY_PREFIX}enter:a:127.0.0.1")
    url = private_consumer_api.spec.url
    headers = {"X-Publishable-Key": tenant.publishable_key}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as browser:
        crowd = await shoppers(browser, 5)
        for shopper in crowd:
            assert (await enter(browser, queue, shopper)).status_code == 200
        before = [(await status(browser, queue, s)).json() for s in crowd]
    private_consumer_api.stop()
    await redis.flushdb()
    await redis.aclose()
    private_consumer_api.start()
    private_consumer_api.wait_ready()
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as browser:
        after = [(await status(browser, queue, s)).json() for s in crowd]
        assert after == before
        assert [a["position"] for a in after] == [1, 2, 3, 4, 5]
        # The flush also emptied the rate-limit counters: five more enters pass...
        for position in range(6, 11):
            newcomer = await new_shopper(browser)
            assert (await enter(browser, queue, newcomer)).json()["position"] == position
        # ...and the per-address limit (5 a minute here) refuses the sixth.
        refused = await enter(browser, queue, await new_shopper(browser))
        assert (refused.status_code, refused.json()) == (429, {"error": "Too many requests"})
        assert int(refused.headers["Retry-After"]) >= 1


async def enter_from(browser: httpx.AsyncClient, queue: str, address: str) -> httpx.Response:
    """A new shopper entering through a proxy that names ``address`` as the client."""
    shopper = await new_shopper(browser)
    return await browser.post(
        f"/api/v1/queues/{queue}/enter",
        headers={**shopper.headers(), "X-Forwarded-For": address},
    )


async def test_the_address_limit_counts_the_client_a_trusted_proxy_names(
    private_consumer_api: ServiceProcess, pool, tenant: Tenant
) -> None:  # type: ignore[no-untyped-def]
    # The test client connects from 127.0.0.1, a trusted proxy by default.
    queue = await make_queue(pool, tenant)
    first, second = (f"198.51.100.{random.randint(1, 254)}" for _ in range(2))
    url = private_consumer_api.spec.url
    headers = {"X-Publishable-Key": tenant.publishable_key}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as browser:
        for _ in range(5):
            assert (await enter_from(browser, queue, first)).status_code == 200
        assert (await enter_from(browser, queue, first)).status_code == 429
        # Another shopper behind the same proxy has a budget of their own.
        assert (await enter_from(browser, queue, second)).status_code == 200


async def test_an_untrusted_peer_cannot_pick_its_address(
    settings: Settings, pool, tenant: Tenant, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    process = start_service(
        "consumer-api",
        settings,
        tmp_path,
        {"FANFARE_ENTER_LIMIT_PER_ADDRESS": "5", "FANFARE_TRUSTED_PROXIES": "10.1.2.3"},
    )
    try:
        queue = await make_queue(pool, tenant)
        redis = aioredis.Redis.from_url(settings.redis_url)
        await redis.delete(f"{KEY_PREFIX}enter:a:127.0.0.1")
        await redis.aclose()
        headers = {"X-Publishable-Key": tenant.publishable_key}
        async with httpx.AsyncClient(
            base_url=process.spec.url, headers=headers, timeout=10
        ) as browser:
            # A forged X-Forwarded-For per request does not escape the peer's own budget.
            codes = [
                (await enter_from(browser, queue, f"203.0.113.{n}")).status_code
                for n in range(1, 7)
            ]
        assert codes == [200] * 5 + [429]
    finally:
        process.stop()


async def test_three_hundred_simultaneous_connections_all_get_answers(
    consumer_api: str, pool, tenant: Tenant
) -> None:  # type: ignore[no-untyped-def]
    # More connections at once than the process keeps to Redis: requests wait their turn.
    queue = await make_queue(pool, tenant)
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
    headers = {"X-Publishable-Key": tenant.publishable_key}
    async with httpx.AsyncClient(
        base_url=consumer_api, headers=headers, timeout=30, limits=limits
    ) as browser:
        crowd = await shoppers(browser, 300)
        responses = await asyncio.gather(*(enter(browser, queue, s) for s in crowd))
    assert sorted({r.status_code for r in responses}) == [200]
    assert len(await arrival_order(pool, queue)) == 300
