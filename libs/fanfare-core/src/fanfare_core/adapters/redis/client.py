"""The Redis client every Fanfare process opens: redis-py's, with commands packed in C.

redis-py's asyncio connections pack each command in Python, joining the buffer again for
every argument. A queue's write-through of thirty entries is one script call of about 300
arguments, and packing it took 207 µs of the consumer API's CPU where hiredis's
``pack_command`` (already installed as redis-py's reply parser) takes 28 µs for the same
bytes; a status poll's call, 5.6 against 0.7 µs. Everything else — pooling, retries,
replies, TLS and Unix sockets — stays redis-py's.
"""

from __future__ import annotations

from typing import Any

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.connection import (
    Connection,
    SSLConnection,
    UnixDomainSocketConnection,
    parse_url,
)
from redis.typing import EncodableT


class _PackedByHiredis:
    """Packs a command with hiredis; what hiredis does not take (a ``bytearray``, a value
    redis-py refuses with its own error) goes to redis-py's packer as before."""

    def pack_command(self, *args: EncodableT) -> list[bytes]:
        command = args[0]
        # A command name with its subcommand in one string ("SCRIPT LOAD") goes as words.
        if isinstance(command, str) and " " in command:
            args = (*command.split(), *args[1:])
        try:
            return [hiredis.pack_command(args)]
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


def open_redis(url: str, *, max_connections: int, timeout: float = 10) -> aioredis.Redis:
    """A client of the Redis or Valkey at ``url`` (``redis://``, ``rediss://`` or
    ``unix://``, options in its query string as redis-py reads them) whose connections
    pack commands in C.

    A flash crowd opens hundreds of requests at once: beyond ``max_connections`` they wait
    (up to ``timeout`` seconds) for a connection rather than fail."""
    options = parse_url(url)
    options["connection_class"] = _PACKED[options.get("connection_class", Connection)]
    pool = aioredis.BlockingConnectionPool(
        max_connections=max_connections, timeout=timeout, **options
    )
    return aioredis.Redis(connection_pool=pool)
