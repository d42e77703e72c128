"""``fanfare draws verify``: recompute a draw's winners from its published proof.

Works offline from the two files the consumer API serves (``GET …/proof`` saved as JSON and
``GET …/proof/entries`` saved as is), or fetches them with ``--url``. Needs no settings and
no database: anyone can run it. Exit status 0 when everything matches, 1 at the first
mismatch, 2 when the input cannot be read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from fanfare_core.domain.draw_selection import ALGORITHM, VERSION, DrawProof, first_mismatch

KEY_VARIABLE = "FANFARE_PUBLISHABLE_KEY"


class UnreadableInput(Exception):
    """A file or answer that is not a proof or entry list."""


def register(commands: Any) -> None:
    draws = commands.add_parser("draws", help="verifiable draws").add_subparsers(
        dest="action", required=True
    )
    verify = draws.add_parser(
        "verify",
        help="recompute a draw's winners from its proof and entry list (prints OK or the "
        "first mismatch)",
    )
    verify.add_argument("--proof", type=Path, help="the proof JSON (GET /api/v1/draws/:id/proof)")
    verify.add_argument(
        "--entries", type=Path, help="the entry list (GET /api/v1/draws/:id/proof/entries)"
    )
    verify.add_argument(
        "--url",
        help="fetch both instead: the proof's URL, e.g. "
        "https://consumer.example.com/api/v1/draws/draw_…/proof",
    )
    verify.add_argument(
        "--publishable-key",
        default=os.environ.get(KEY_VARIABLE),
        help=f"the storefront's publishable key for --url (default: ${KEY_VARIABLE})",
    )
    verify.set_defaults(run=_verify)


def _verify(args: argparse.Namespace) -> int:
    try:
        proof_text, entries = _inputs(args)
        proof = parse_proof(proof_text)
    except (OSError, UnreadableInput) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    problem = first_mismatch(proof, entries)
    if problem is not None:
        print(f"MISMATCH: {problem}")
        return 1
    print(
        f"OK: {proof.algorithm}, {proof.entry_count} entries (SHA-256 {proof.entries_digest}),"
        f" {len(proof.winners)} winners and {len(proof.backups)} backups recomputed;"
        " the seed matches its commitment."
    )
    return 0


def _inputs(args: argparse.Namespace) -> tuple[bytes, bytes]:
    if args.url:
        if args.proof or args.entries:
            raise UnreadableInput("give either --url or --proof and --entries")
        return _fetch(args.url, args.publishable_key)
    if not (args.proof and args.entries):
        raise UnreadableInput("give --proof and --entries (or --url)")
    return args.proof.read_bytes(), args.entries.read_bytes()


def _fetch(url: str, publishable_key: str | None) -> tuple[bytes, bytes]:
    if not url.startswith(("https://", "http://")):
        raise UnreadableInput("--url must be an http(s) URL")
    headers = {"X-Publishable-Key": publishable_key} if publishable_key else {}
    proof = _get(url, headers)
    try:
        entries_url = json.loads(proof).get("entriesUrl") or url.rstrip("/") + "/entries"
    except (ValueError, AttributeError) as error:
        raise UnreadableInput(f"{url} did not answer a proof") from error
    return proof, _get(urljoin(url, str(entries_url)), headers)


def _get(url: str, headers: dict[str, str]) -> bytes:
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - checked http(s) above
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            body: bytes = response.read()
    except urllib.error.HTTPError as error:
        raise UnreadableInput(f"{url} answered {error.code}: {error.read()[:200]!r}") from error
    except urllib.error.URLError as error:
        raise UnreadableInput(f"{url}: {error.reason}") from error
    return body


def parse_proof(text: bytes) -> DrawProof:
    """A proof from the JSON ``GET /api/v1/draws/:id/proof`` answers."""
    try:
        data = json.loads(text)
    except ValueError as error:
        raise UnreadableInput(f"the proof is not JSON: {error}") from error
    if not isinstance(data, dict):
        raise UnreadableInput("the proof is not a JSON object")
    version = data.get("version", VERSION)
    if data.get("algorithm") == ALGORITHM and version != VERSION:
        raise UnreadableInput(f"unknown version {version!r} of {ALGORITHM}")
    try:
        proof = DrawProof(
            algorithm=_text(data, "algorithm"),
            seed=bytes.fromhex(_text(data, "seed")),
            commitment=_text(data, "commitment"),
            entries_digest=_text(data, "entriesDigest"),
            entry_count=_count(data, "entryCount"),
            winner_count=_count(data, "winnerCount"),
            winners=_ids(data, "winners"),
            backups=_ids(data, "backups"),
        )
    except ValueError as error:
        raise UnreadableInput(f"the proof's seed is not hex: {error}") from error
    return proof


def _text(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise UnreadableInput(f"the proof has no text field {name!r}")
    return value


def _count(data: dict[str, Any], name: str) -> int:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UnreadableInput(f"the proof's {name!r} is not a count")
    return value


def _ids(data: dict[str, Any], name: str) -> tuple[str, ...]:
    value = data.get(name)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise UnreadableInput(f"the proof's {name!r} is not a list of consumer ids")
    return tuple(value)
