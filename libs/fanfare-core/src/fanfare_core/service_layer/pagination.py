"""Keyset pagination over time-ordered ids, with opaque cursors."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from fanfare_core.domain.errors import FieldError, ValidationFailed

T = TypeVar("T")
DEFAULT_LIMIT = 20
MAX_LIMIT = 100


@dataclass(frozen=True, slots=True)
class PageRequest:
    """``limit`` items after the item the ``cursor`` names (newest first)."""

    limit: int = DEFAULT_LIMIT
    cursor: str | None = None

    def checked(self) -> tuple[int, str | None]:
        """The limit and the id to list before, or :class:`ValidationFailed`."""
        details = []
        if not 1 <= self.limit <= MAX_LIMIT:
            details.append(FieldError("limit", f"must be between 1 and {MAX_LIMIT}"))
        before = None
        if self.cursor is not None:
            before = decode_cursor(self.cursor)
            if before is None:
                details.append(FieldError("cursor", "is not a cursor this API returned"))
        if details:
            raise ValidationFailed(details)
        return self.limit, before


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(item_id: str) -> str:
    return base64.urlsafe_b64encode(item_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str | None:
    """The id a cursor names, or None when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        item_id = raw.decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    prefix, _, ulid = item_id.partition("_")
    if not prefix.isalpha() or len(ulid) != 26 or not ulid.isalnum():
        return None
    return item_id


def page_of(rows: list[T], limit: int, id_of: Callable[[T], str]) -> Page[T]:
    """A page from ``limit + 1`` fetched rows: the extra row only says there is more."""
    items = rows[:limit]
    more = len(rows) > limit
    return Page(items=items, next_cursor=encode_cursor(id_of(items[-1])) if more else None)
