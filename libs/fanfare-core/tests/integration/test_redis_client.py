"""The Redis client of every process (commands packed by hiredis) against real Valkey:
the same bytes redis-py would send, and the commands and errors services rely on."""

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection
from redis.exceptions import DataError, ResponseError

from fanfare_core.adapters.redis.client import (
    PackedConnection,
    PackedSSLConnection,
    PackedUnixConnection,
    open_redis,
)
from fanfare_core.ids import new_id

COMMANDS = [
    ("GET", "k"),
    ("SET", "fq:{q_1}:c:cons_1", "é✓", "EX", 60),
    ("EVALSHA", "a" * 40, 2, "k1", "k2", 0.1, 1733400000.123456, -0.0, 12345678901234567890),
    ("HSET", b"bytes", memoryview(b"view"), b"\x00\xff"),
    ("SCRIPT LOAD", "return 1"),
    ("EVALSHA", "b" * 40, 3, *(f"fq:{{q}}:c:cons_{i}" for i in range(3)), *range(300)),
]


@pytest.mark.parametrize("command", COMMANDS)
def test_packs_the_bytes_redis_py_packs(command: tuple[object, ...]) -> None:
    ours, theirs = PackedConnection(), Connection()
    assert b"".join(ours.pack_command(*command)) == b"".join(theirs.pack_command(*command))  # type: ignore[arg-type]


def test_what_hiredis_does_not_take_is_packed_or_refused_as_redis_py_does() -> None:
    ours, theirs = PackedConnection(), Connection()
    assert b"".join(ours.pack_command("SET", "k", bytearray(b"x"))) == b"".join(
        theirs.pack_command("SET", "k", bytearray(b"x"))
    )
    for bad in (None, True, [1]):
        with pytest.raises(DataError):
            ours.pack_command("SET", "k", bad)  # type: ignore[arg-type]


def test_each_url_scheme_keeps_its_kind_of_connection() -> None:
    for url, kind, options in [
        ("redis://127.0.0.1:6390/2", PackedConnection, {"host": "127.0.0.1", "db": 2}),
        ("rediss://user:secret@cache:6380/1?socket_timeout=3", PackedSSLConnection,
         {"host": "cache", "port": 6380, "password": "secret", "socket_timeout": 3.0}),
        ("unix:///run/valkey.sock?db=3", PackedUnixConnection,
         {"path": "/run/valkey.sock", "db": 3}),
    ]:  # fmt: skip
        pool = open_redis(url, max_connections=4).connection_pool
        assert pool.connection_class is kind
        assert isinstance(pool, aioredis.BlockingConnectionPool)
        assert pool.max_connections == 4
        assert options.items() <= pool.connection_kwargs.items()


@pytest.fixture
async def client(settings) -> AsyncIterator[aioredis.Redis]:  # type: ignore[no-untyped-def]
    redis = open_redis(settings.redis_url, max_connections=4)
    yield redis
    await redis.aclose()


async def test_scripts_values_and_errors_against_valkey(client: aioredis.Redis) -> None:
    key = f"test:{{{new_id('t')}}}"
    # A script with many arguments of every kind, as a queue's write-through sends them.
    echo = client.register_script("return ARGV")
    values = ["é✓|x", 0.1, 1733400000.123456, 12345678901234567890, b"\x00\xff", *range(300)]
    assert await echo(keys=[key], args=values) == [
        "é✓|x".encode(), b"0.1", b"1733400000.123456", b"12345678901234567890", b"\x00\xff",
        *(str(i).encode() for i in range(300)),
    ]  # fmt: skip
    # The script cache emptied under the client: redis-py loads it again.
    await client.script_flush()
    assert await echo(keys=[key], args=[1]) == [b"1"]
    # Words of one command name, and server errors, arrive as with redis-py's packer.
    sha = await client.execute_command("SCRIPT LOAD", "return 7")
    assert await client.evalsha(sha, 0) == 7
    await client.set(key, "text")
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await client.hset(key, "field", "value")
    await client.delete(key)
