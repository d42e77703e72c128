"""One connection to Redis that every caller of a process shares, commands back to back.

Redis answers the commands of a connection in the order they came, so callers need not
take turns: each command is written as soon as it is asked, its answer waits in a line of
futures, and every reply that arrives settles the oldest. No pooled connection is taken
and given back, no lock is held, nothing is checked before sending: the hot path's calls
(a status poll's read, a batch's rate limits and write-through, the revoked-session
check) cost about half the CPU they cost through redis-py's pool here (a command
80 → 35 µs in a loop), and a crowd's calls share one socket.

Errors are redis-py's: an error reply raises :class:`~redis.exceptions.ResponseError`
(``NOSCRIPT`` as :class:`~redis.exceptions.NoScriptError`), a connection that cannot be
made or is lost raises :class:`~redis.exceptions.ConnectionError` for every command
waiting on it, and the next command connects again.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import hiredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError, NoScriptError, ResponseError

#: What a command is made of.
Arg = str | int | float | bytes | memoryview
#: How long connecting (and signing in) may take before the command fails.
CONNECT_SECONDS = 5.0


def _error(reply: ResponseError) -> ResponseError:
    return NoScriptError(str(reply)) if str(reply).startswith("NOSCRIPT") else reply


class _Replies(asyncio.Protocol):
    """The connection's socket: writes commands, settles the waiting futures in order."""

    def __init__(self) -> None:
        self._reader = hiredis.Reader(replyError=ResponseError)
        self.waiting: collections.deque[asyncio.Future[Any]] = collections.deque()
        self.transport: asyncio.Transport | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while True:
            try:
                reply = self._reader.gets()
            except hiredis.ProtocolError as error:  # the stream cannot be trusted any more
                self._fail(f"Redis protocol error: {error}")
                if self.transport is not None:
                    self.transport.close()
                return
            if reply is False:
                return
            answer = self.waiting.popleft()
            if answer.done():  # its caller went away; the reply was still its own
                continue
            if isinstance(reply, ResponseError):
                answer.set_exception(_error(reply))
            else:
                answer.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(f"Redis connection lost: {exc or 'closed'}")

    def _fail(self, why: str) -> None:
        self.lost = True
        while self.waiting:
            answer = self.waiting.popleft()
            if not answer.done():
                answer.set_exception(RedisConnectionError(why))

    def send(self, packed: bytes) -> asyncio.Future[Any]:
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.lost or self.transport is None:
            answer.set_exception(RedisConnectionError("Redis connection lost"))
            return answer
        self.transport.write(packed)
        self.waiting.append(answer)
        return answer


class MultiplexedConnection:
    """Commands to the Redis at ``host``:``port`` (or the Unix socket ``path``), database
    ``db``, signed in with ``username``/``password`` when given, on one shared socket."""

    def __init__(
        self,
        *,
        host: str = "localhost",
        port: int = 6379,
        path: str | None = None,
        username: str | None = None,
        password: str | None = None,
        db: int = 0,
    ) -> None:
        self._host, self._port, self._path = host, port, path
        self._username, self._password, self._db = username, password, db
        self._replies: _Replies | None = None
        self._connecting = asyncio.Lock()

    async def execute(self, *args: Arg) -> Any:
        """Redis's reply to the command ``args`` (bytes, integers and lists of them)."""
        try:
            packed = hiredis.pack_command(args)  # type: ignore[arg-type]
        except TypeError as error:
            raise DataError(f"cannot send {args[0]!r}: {error}") from error
        replies = self._replies
        if replies is None or replies.lost:
            replies = await self._connect()
        return await replies.send(packed)

    async def _connect(self) -> _Replies:
        async with self._connecting:
            if self._replies is not None and not self._replies.lost:
                return self._replies  # another caller connected meanwhile
            loop = asyncio.get_running_loop()
            replies: _Replies | None = None
            try:
                async with asyncio.timeout(CONNECT_SECONDS):
                    if self._path is not None:
                        _, replies = await loop.create_unix_connection(_Replies, self._path)
                    else:
                        _, replies = await loop.create_connection(_Replies, self._host, self._port)
                    for command in self._handshake():
                        await replies.send(hiredis.pack_command(command))  # type: ignore[arg-type]
            except BaseException as error:
                if replies is not None and replies.transport is not None:
                    replies.transport.close()
                if isinstance(error, OSError | TimeoutError):
                    where = self._path or f"{self._host}:{self._port}"
                    raise RedisConnectionError(
                        f"cannot connect to Redis at {where}: {error}"
                    ) from error
                raise
            self._replies = replies
            return replies

    def _handshake(self) -> list[tuple[Arg, ...]]:
        commands: list[tuple[Arg, ...]] = []
        if self._password is not None:
            commands.append(
                ("AUTH", self._password)
                if self._username is None
                else ("AUTH", self._username, self._password)
            )
        if self._db:
            commands.append(("SELECT", self._db))
        return commands

    async def close(self) -> None:
        replies, self._replies = self._replies, None
        if replies is not None and replies.transport is not None:
            replies.transport.close()
