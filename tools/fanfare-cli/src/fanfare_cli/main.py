"""``fanfare``: the project's command-line tool.

It reads the same ``FANFARE_*`` settings as the services.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import Any

from fanfare_cli import admin, docs, draws, keys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fanfare", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    admin.register(commands)
    _register_dev(commands)
    docs.register(commands)
    keys.register(commands)
    draws.register(commands)
    return parser


def _register_dev(commands: Any) -> None:
    """``fanfare dev`` needs the embedded servers (the ``dev`` extra); images go without it."""
    try:
        from fanfare_cli import dev  # noqa: PLC0415 - optional: fanfare-devstack may be absent
    except ModuleNotFoundError as error:
        if not (error.name or "").startswith("fanfare_devstack"):
            raise
        return
    dev.register(commands)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``fanfare`` command; the exit status says whether it worked."""
    args = build_parser().parse_args(argv)
    result = args.run(args)
    if asyncio.iscoroutine(result):
        result = asyncio.run(result)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
