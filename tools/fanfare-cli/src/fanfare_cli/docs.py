"""``fanfare events docs``: the event catalogue as Markdown (filled in below)."""

from __future__ import annotations

from typing import Any


def register(commands: Any) -> None:
    return None
