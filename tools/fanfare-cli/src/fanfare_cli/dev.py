"""``fanfare dev``: the local stack (filled in below)."""

from __future__ import annotations

from typing import Any


def register(commands: Any) -> None:
    return None
