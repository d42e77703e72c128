"""Time zones and instants.

A datetime written without an offset is read in a time zone (the distribution's, else the
organization's); one with an offset is taken as given. Instants are kept as aware UTC
datetimes and shown as ISO 8601 with ``Z``.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class InvalidTime(ValueError):
    """A time zone name or datetime text cannot be used; the message says why."""


def zone(name: str) -> ZoneInfo:
    """The IANA time zone called ``name``, or :class:`InvalidTime`."""
    if not name or name != name.strip() or ".." in name or name.startswith("/"):
        raise InvalidTime(f"unknown IANA time zone {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise InvalidTime(f"unknown IANA time zone {name!r}") from error


def parse_instant(text: str, local_zone: ZoneInfo) -> datetime:
    """Parse ISO 8601 ``text`` into an aware UTC datetime.

    Without an offset the wall-clock time is read in ``local_zone``. A wall-clock time that
    does not exist there (skipped by a daylight-saving jump) is refused; an ambiguous one
    (repeated when clocks go back) means its first occurrence.
    """
    if not isinstance(text, str) or not 10 <= len(text) <= 40:
        raise InvalidTime("must be an ISO 8601 datetime, e.g. 2024-12-15T09:00:00-05:00")
    candidate = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError as error:
        raise InvalidTime("must be an ISO 8601 datetime, e.g. 2024-12-15T09:00:00-05:00") from error
    if "T" not in candidate and " " not in candidate:
        raise InvalidTime("must include a time of day, e.g. 2024-12-15T09:00:00")
    if parsed.tzinfo is not None:
        return parsed.astimezone(UTC)
    local = parsed.replace(tzinfo=local_zone, fold=0)
    as_utc = local.astimezone(UTC)
    if as_utc.astimezone(local_zone).replace(tzinfo=None) != parsed:
        raise InvalidTime(
            f"{text} does not exist in {local_zone.key} (skipped by a daylight-saving change)"
        )
    return as_utc


def has_offset(text: str) -> bool:
    """Whether ISO 8601 ``text`` names its own offset (``Z``, ``+01:00``...)."""
    if text.endswith(("Z", "z")):
        return True
    try:
        return datetime.fromisoformat(text).tzinfo is not None
    except ValueError:
        return False


@functools.lru_cache(maxsize=1024)
def format_instant(value: datetime) -> str:
    """ISO 8601 in UTC with ``Z``; milliseconds only when the instant has them.

    Remembered for the last instants formatted: a batch of enters shares one instant,
    which its answers, events and queue line each format once per consumer.
    """
    utc = value.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond // 1000:03d}"
    return text + "Z"


def format_optional_instant(value: datetime | None) -> str | None:
    """:func:`format_instant`, passing ``None`` through."""
    return None if value is None else format_instant(value)
