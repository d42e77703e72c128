"""A small in-process cache: entries expire, the oldest make way when it is full.

Used on hot paths (API key lookups, verified tokens) so that a status poll costs no
round trip to PostgreSQL. Time is ``time.monotonic`` unless a test passes its own.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """At most ``max_entries`` values, each kept until the deadline it was stored with."""

    def __init__(self, max_entries: int, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._max = max_entries
        self._monotonic = monotonic

    def get(self, key: K) -> V | None:
        """The value stored under ``key``, or None if there is none or it has expired."""
        found = self._entries.get(key)
        if found is None:
            return None
        deadline, value = found
        if self._monotonic() >= deadline:
            del self._entries[key]
            return None
        return value

    def put(self, key: K, value: V, ttl_seconds: float) -> None:
        """Keep ``value`` for ``ttl_seconds``; evicts the least recently stored when full."""
        if ttl_seconds <= 0:
            self._entries.pop(key, None)
            return
        self._entries[key] = (self._monotonic() + ttl_seconds, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def discard(self, key: K) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
