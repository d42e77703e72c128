"""``fanfare``: the project's command-line tool.

It reads the same ``FANFARE_*`` settings as the services.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from fanfare_cli import admin, dev, docs, draws, keys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fanfare", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    admin.register(commands)
    dev.register(commands)
    docs.register(commands)
    keys.register(commands)
    draws.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``fanfare`` command; the exit status says whether it worked."""
    args = build_parser().parse_args(argv)
    result = args.run(args)
    if asyncio.iscoroutine(result):
        result = asyncio.run(result)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
