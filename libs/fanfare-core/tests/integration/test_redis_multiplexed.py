"""The multiplexed Redis connection against real Valkey: a crowd's commands share one
socket and each caller gets its own reply, errors reach only their caller, and a lost
connection fails what waited on it and is made again for the next command."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError

from fanfare_core.adapters.redis.client import FanfareRedis, LuaScript, open_redis
from fanfare_core.adapters.redis.multiplexed import MultiplexedConnection
from fanfare_core.ids import new_id
from fanfare_devstack.ports import free_port


@pytest.fixture
async def redis(settings) -> AsyncIterator[FanfareRedis]:  # type: ignore[no-untyped-def]
    client = open_redis(settings.redis_url, max_connections=4)
    yield client
    await client.aclose()


async def connections_named(redis: FanfareRedis, name: str) -> int:
    clients = await redis.client_list()
    return sum(1 for client in clients if client.get("name") == name)


async def test_a_crowd_of_commands_each_gets_its_own_reply_on_one_socket(
    redis: FanfareRedis,
) -> None:
    tag = new_id("t")
    keys = [f"test:{{{tag}}}:{i}" for i in range(500)]
    # Five hundred callers in the same turn: every SET, then every GET, answered in order.
    assert await asyncio.gather(*(redis.call("SET", k, f"value {i}") for i, k in enumerate(keys)))
    values = await asyncio.gather(*(redis.call("GET", k) for k in keys))
    assert values == [f"value {i}".encode() for i in range(len(keys))]
    # All of it went over one connection, the one this client named.
    await redis.call("CLIENT", "SETNAME", tag)
    assert await connections_named(redis, tag) == 1
    assert await redis.call("DEL", *keys) == len(keys)


async def test_an_error_reply_reaches_its_caller_alone(redis: FanfareRedis) -> None:
    key = f"test:{{{new_id('t')}}}"
    await redis.call("SET", key, "text")
    before, wrong, after = await asyncio.gather(
        redis.call("GET", key),
        redis.call("HSET", key, "field", "value"),
        redis.call("STRLEN", key),
        return_exceptions=True,
    )
    assert before == b"text"
    assert isinstance(wrong, ResponseError)
    assert "WRONGTYPE" in str(wrong)
    assert after == 4
    await redis.call("DEL", key)


async def test_scripts_run_by_sha_and_are_sent_whole_after_a_flush(redis: FanfareRedis) -> None:
    script = LuaScript(f"return {{KEYS[1], ARGV[1], '{new_id('s')}'}}")
    await redis.call("SCRIPT", "FLUSH")
    with pytest.raises(NoScriptError):
        await redis.call("EVALSHA", script.sha, 1, "k", "a")
    # Unknown to Redis: sent whole (which caches it); then run by its SHA-1.
    assert (await redis.run(script, ["k"], ["a"]))[:2] == [b"k", b"a"]
    assert await redis.call("SCRIPT", "EXISTS", script.sha) == [1]
    assert (await redis.call("EVALSHA", script.sha, 1, "k", 7))[:2] == [b"k", b"7"]


async def test_a_caller_that_goes_away_leaves_the_replies_in_step(redis: FanfareRedis) -> None:
    key = f"test:{{{new_id('t')}}}"
    await redis.call("SET", key, "mine")
    gone = asyncio.create_task(redis.call("INCR", f"{key}:count"))
    await asyncio.sleep(0)  # its command is on the wire
    gone.cancel()
    assert await redis.call("GET", key) == b"mine"  # not the cancelled INCR's reply
    assert await redis.call("GET", f"{key}:count") == b"1"  # which Redis did run
    await redis.call("DEL", key, f"{key}:count")


async def test_a_lost_connection_fails_its_waiting_commands_and_is_made_again(
    redis: FanfareRedis,
) -> None:
    name = new_id("conn")
    await redis.call("CLIENT", "SETNAME", name)
    (ours,) = [c for c in await redis.client_list() if c.get("name") == name]
    # Killed by the server while a blocking command waits on it.
    waiting = asyncio.create_task(redis.call("BLPOP", f"test:{{{name}}}:never", 5))
    await asyncio.sleep(0.05)
    await redis.client_kill_filter(_id=ours["id"])
    with pytest.raises(RedisConnectionError):
        await asyncio.wait_for(waiting, 2)
    # The next command connects again.
    assert await redis.call("PING") == b"PONG"
    assert await connections_named(redis, name) == 0


async def test_sign_in_and_database_from_the_url(private_valkey) -> None:  # type: ignore[no-untyped-def]
    admin = open_redis(private_valkey.url, max_connections=1)
    await admin.config_set("requirepass", "s3cret")
    host_port = private_valkey.url.removeprefix("redis://").split("/")[0]
    signed_in = open_redis(f"redis://:s3cret@{host_port}/3", max_connections=1)
    anonymous = open_redis(f"redis://{host_port}/0", max_connections=1)
    try:
        assert await signed_in.call("SET", "where", "three") == b"OK"
        assert await signed_in.get("where") == b"three"  # the pool sees the same database
        assert b" db=3 " in await signed_in.call("CLIENT", "INFO")
        with pytest.raises(ResponseError, match="NOAUTH"):
            await anonymous.call("GET", "where")
    finally:
        await anonymous.aclose()
        await signed_in.aclose()
        await admin.aclose()


async def test_nobody_listening_is_a_connection_error_at_once() -> None:
    nowhere = MultiplexedConnection(host="127.0.0.1", port=free_port())
    for _ in range(2):  # and again, not a connection left half made
        with pytest.raises(RedisConnectionError, match="cannot connect"):
            await asyncio.wait_for(nowhere.execute("PING"), 2)
    await nowhere.close()
