"""Every setting a service reads is documented, and every documented setting exists."""

import re
from dataclasses import fields
from pathlib import Path

from fanfare_core.settings import Settings, env_name

DOC = Path(__file__).resolve().parents[4] / "docs" / "configuration.md"


def test_the_configuration_table_matches_the_settings() -> None:
    documented = set(re.findall(r"^\| `(FANFARE_[A-Z_]+)`", DOC.read_text(), re.MULTILINE))
    read = {env_name(f.name) for f in fields(Settings)}
    assert documented == read
