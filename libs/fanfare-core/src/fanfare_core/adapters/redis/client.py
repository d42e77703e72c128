"""The Redis client every Fanfare process opens: redis-py's, with commands packed in C,
and a multiplexed connection for the hot path (:meth:`FanfareRedis.call`).

redis-py's asyncio connections pack each command in Python, joining the buffer again for
every argument. A queue's write-through of thirty entries is one script call of about 300
arguments, and packing it took 207 µs of the consumer API's CPU where hiredis's
``pack_command`` (already installed as redis-py's reply parser) takes 28 µs for the same
bytes; a status poll's call, 5.6 against 0.7 µs. Everything else — pooling, retries,
replies, TLS and Unix sockets — stays redis-py's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.connection import (
    Connection,
    SSLConnection,
    UnixDomainSocketConnection,
    parse_url,
)
from redis.exceptions import NoScriptError
from redis.typing import EncodableT

from fanfare_core.adapters.redis.multiplexed import Arg, MultiplexedConnection


class _PackedByHiredis:
    """Packs a command with hiredis; what hiredis does not take (a ``bytearray``, a value
    redis-py refuses with its own error) goes to redis-py's packer as before."""

    def pack_command(self, *args: EncodableT) -> list[bytes]:
        command = args[0]
        # A command name with its subcommand in one string ("SCRIPT LOAD") goes as words.
        if isinstance(command, str) and " " in command:
            args = (*command.split(), *args[1:])
        try:
            return [hiredis.pack_command(args)]  # type: ignore[arg-type]
        except TypeError:
            packed: list[bytes] = super().pack_command(*args)  # type: ignore[misc]
            return packed


class PackedConnection(_PackedByHiredis, Connection):
    """A TCP connection (``redis://``)."""


class PackedSSLConnection(_PackedByHiredis, SSLConnection):
    """A TLS connection (``rediss://``)."""


class PackedUnixConnection(_PackedByHiredis, UnixDomainSocketConnection):
    """A Unix socket connection (``unix://``)."""


# redis-py's class for each URL scheme, and ours in its place.
_PACKED: dict[type[Any], type[Any]] = {
    Connection: PackedConnection,
    SSLConnection: PackedSSLConnection,
    UnixDomainSocketConnection: PackedUnixConnection,
}


@dataclass(frozen=True, slots=True)
class LuaScript:
    """A Lua script run by its SHA-1, sent whole only when Redis does not know it yet."""

    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        digest = hashlib.sha1(self.source.encode(), usedforsecurity=False).hexdigest()
        object.__setattr__(self, "sha", digest)


class FanfareRedis(aioredis.Redis):
    """redis-py's client, whose pooled connections pack commands in C, plus :meth:`call`
    and :meth:`run`: commands on the process's one multiplexed connection
    (:mod:`~fanfare_core.adapters.redis.multiplexed`), for the calls every request makes.
    Over TLS those go through the pool instead."""

    def __init__(
        self,
        *,
        connection_pool: aioredis.ConnectionPool,
        multiplexed: MultiplexedConnection | None = None,
    ) -> None:
        super().__init__(connection_pool=connection_pool)
        self._multiplexed = multiplexed

    async def call(self, *args: Arg) -> Any:
        """Redis's reply to the command ``args``, sent at once on the shared connection."""
        if self._multiplexed is None:
            return await self.execute_command(*args)  # type: ignore[no-untyped-call]
        return await self._multiplexed.execute(*args)

    async def run(self, script: LuaScript, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        """The reply of ``script`` run on ``keys`` and ``args`` (:meth:`call`); a Redis
        that restarted or flushed its script cache is sent the whole script."""
        try:
            return await self.call("EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await self.call("EVAL", script.source, len(keys), *keys, *args)

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        if self._multiplexed is not None:
            await self._multiplexed.close()
        await super().aclose(close_connection_pool)


def open_redis(url: str, *, max_connections: int, timeout: float = 10) -> FanfareRedis:
    """A client of the Redis or Valkey at ``url`` (``redis://``, ``rediss://`` or
    ``unix://``, options in its query string as redis-py reads them).

    A flash crowd opens hundreds of requests at once: beyond ``max_connections`` pooled
    connections they wait (up to ``timeout`` seconds) for one rather than fail."""
    options = parse_url(url)
    kind = options.get("connection_class", Connection)
    options["connection_class"] = _PACKED[kind]
    pool = aioredis.BlockingConnectionPool(
        max_connections=max_connections, timeout=timeout, **options
    )
    multiplexed = None
    if kind is not SSLConnection:
        multiplexed = MultiplexedConnection(
            host=options.get("host", "localhost"),
            port=int(options.get("port", 6379)),
            path=options.get("path"),
            username=options.get("username"),
            password=options.get("password"),
            db=int(options.get("db", 0)),
        )
    return FanfareRedis(connection_pool=pool, multiplexed=multiplexed)
