"""The one id generator: a type prefix and a ULID, e.g. ``queue_01JD3M5Q2X9V7K4T8R6Y0ZB1CE``.

ULIDs sort by creation time (48-bit milliseconds, then 80 random bits), so ids double as a
stable, time-ordered pagination key.
"""

from __future__ import annotations

import os
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid(now_ms: int | None = None) -> str:
    """A new 26-character ULID for the given (default: current) Unix time in milliseconds."""
    millis = int(time.time() * 1000) if now_ms is None else now_ms
    value = (millis << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """A new id of the given type, e.g. ``new_id("queue")``."""
    return f"{prefix}_{ulid()}"
