"""Shared facts for the deployment tests: the repository root and the settings' variables."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from fanfare_core.settings import Settings, env_name

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def setting_names() -> frozenset[str]:
    """Every ``FANFARE_*`` variable the settings object reads."""
    return frozenset(env_name(field.name) for field in fields(Settings))
