"""The domain depends on nothing but the standard library (STYLE.md rule 1)."""

import ast
import sys
from pathlib import Path

import fanfare_core.domain

DOMAIN = Path(fanfare_core.domain.__file__).parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_domain_imports_only_the_standard_library_and_itself() -> None:
    offenders = {}
    for path in DOMAIN.rglob("*.py"):
        bad = {
            name
            for name in imported_modules(path)
            if name.split(".")[0] not in sys.stdlib_module_names
            and not name.startswith("fanfare_core.domain")
        }
        if bad:
            offenders[path.name] = sorted(bad)
    assert offenders == {}


def test_the_check_would_notice_a_framework_import(tmp_path: Path) -> None:
    sample = tmp_path / "bad.py"
    sample.write_text("import litestar\nfrom psycopg import sql\nfrom datetime import UTC\n")
    assert imported_modules(sample) == {"litestar", "psycopg", "datetime"}
