"""The one id generator: a type prefix and a ULID, e.g. ``queue_01JD3M5Q2X9V7K4T8R6Y0ZB1CE``.

ULIDs sort by creation time (48-bit milliseconds, then 80 random bits), so ids double as a
stable, time-ordered pagination key. Within one process they are monotonic: two ids made in
the same millisecond still sort in the order they were made.
"""

from __future__ import annotations

import os
import threading
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


_lock = threading.Lock()
_last = 0


def ulid(now_ms: int | None = None) -> str:
    """A new 26-character ULID for the given (default: current) Unix time in milliseconds.

    Ids of the current time are monotonic within the process; an explicit ``now_ms`` gives
    a plain ULID of that instant and leaves the process's sequence alone.
    """
    global _last  # noqa: PLW0603 - the monotonic state is per process by design
    randomness = int.from_bytes(os.urandom(10), "big")
    if now_ms is not None:
        return _encode((now_ms << 80) | randomness)
    millis = int(time.time() * 1000)
    value = (millis << 80) | randomness
    with _lock:
        if value <= _last and (_last >> 80) >= millis:
            value = _last + 1  # same (or an earlier) millisecond: count up from the last id
        _last = value
    return _encode(value)


def _encode(value: int) -> str:
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """A new id of the given type, e.g. ``new_id("queue")``."""
    return f"{prefix}_{ulid()}"


_SUFFIX_BITS = 15
_suffixes: list[str] = []


def new_ids(prefix: str, count: int) -> list[str]:
    """``count`` new ids of one type at once, for bulk writes (a draw's events).

    They are consecutive ULIDs: monotonic with every other id of the process, as if made by
    ``count`` calls of :func:`new_id`, at a fraction of the cost (the last three characters
    come from a table, the others are encoded once per 32,768 ids).
    """
    global _last  # noqa: PLW0603 - the monotonic state is per process by design
    if count <= 0:
        return []
    if not _suffixes:
        _suffixes.extend(_encode(i)[-3:] for i in range(1 << _SUFFIX_BITS))
    millis = int(time.time() * 1000)
    with _lock:
        first = max((millis << 80) | int.from_bytes(os.urandom(10), "big"), _last + 1)
        _last = first + count - 1
    ids = []
    mask = (1 << _SUFFIX_BITS) - 1
    head_of = -1
    head = ""
    for value in range(first, first + count):
        if value >> _SUFFIX_BITS != head_of:
            head_of = value >> _SUFFIX_BITS
            head = f"{prefix}_{_encode(value)[:-3]}"
        ids.append(head + _suffixes[value & mask])
    return ids
