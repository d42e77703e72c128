"""Experiences (product launches) and their sequences, which distributions belong to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fanfare_core.domain.errors import ErrorCollector

MAX_CATALOG_NAME = 200


@dataclass(slots=True, kw_only=True)
class Experience:
    id: str
    organization_id: str
    name: str
    metadata: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


@dataclass(slots=True, kw_only=True)
class Sequence:
    """A step of an experience. ``order_limit`` caps completed purchases per consumer."""

    id: str
    organization_id: str
    experience_id: str
    name: str
    order_limit: int | None
    created_at: datetime
    updated_at: datetime


def check_name(name: str, errors: ErrorCollector) -> None:
    if not name.strip() or len(name) > MAX_CATALOG_NAME:
        errors.add("name", f"must be 1 to {MAX_CATALOG_NAME} characters")


def check_order_limit(order_limit: int | None, errors: ErrorCollector) -> None:
    if order_limit is not None and not 1 <= order_limit <= 1_000_000:
        errors.add("orderLimit", "must be a positive number")
