"""Conversions shared by the admin API's request and response types."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

import msgspec

from fanfare_core.domain.money import plain
from fanfare_core.domain.timing import format_instant

V = TypeVar("V", bound=msgspec.Struct)


class Request(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    """Base of request bodies: camelCase names, unknown fields refused."""


class View(msgspec.Struct, rename="camel"):
    """Base of response bodies: camelCase names; null fields are shown, not omitted."""


def _shown(value: object) -> object:
    if isinstance(value, datetime):
        return format_instant(value)
    if isinstance(value, Decimal):
        return plain(value)
    if isinstance(value, Enum):
        return value.value
    return value


def view_of(view_type: type[V], source: object, **overrides: Any) -> V:
    """Build ``view_type`` from the same-named attributes of ``source`` (times in UTC ``Z``,
    amounts without trailing zeros); ``overrides`` supply fields ``source`` lacks."""
    values = {
        field.name: overrides[field.name]
        if field.name in overrides
        else _shown(getattr(source, field.name))
        for field in msgspec.structs.fields(view_type)
    }
    return view_type(**values)


def given_fields(
    request: msgspec.Struct, *, exclude: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The fields a request mentioned (not ``UNSET``), by attribute name."""
    return {
        field.name: getattr(request, field.name)
        for field in msgspec.structs.fields(request)
        if field.name not in exclude and getattr(request, field.name) is not msgspec.UNSET
    }


class ListOf(msgspec.Struct, rename="camel"):
    """A page of a listing; pass ``nextCursor`` back as ``cursor`` for the next page."""

    data: list[Any]
    next_cursor: str | None
