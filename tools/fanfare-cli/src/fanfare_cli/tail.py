"""``fanfare events tail``: watch the event stream live, one readable line per event.

Filters narrow the subject, exactly as the standard ``nats`` CLI would be used:
``fanfare events tail --organization org_1 --type queue.consumer.admitted`` subscribes to
``fanfare.events.org_1.*.queue.consumer.admitted``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any, TextIO

import nats
from nats.aio.msg import Msg

from fanfare_core.events.catalogue import EVENTS_PREFIX, SETTLEMENT_PREFIX
from fanfare_core.events.envelope import Envelope, decode_envelope
from fanfare_core.settings import load_settings


def register(events: Any) -> None:
    tail = events.add_parser("tail", help="print events live, one line each")
    tail.add_argument("--organization", help="only this organization's events")
    tail.add_argument("--distribution", help="only this distribution's events")
    tail.add_argument("--type", dest="event_type", help="only this type, e.g. auction.bid.placed")
    tail.add_argument("--json", action="store_true", help="print the raw JSON envelope instead")
    tail.add_argument("--count", type=int, default=0, help="stop after this many (0: never)")
    tail.set_defaults(run=_tail)


def subject_filter(
    organization: str | None, distribution: str | None, event_type: str | None
) -> str:
    """The NATS subject matching the filters (``*`` where a filter is not given)."""
    if event_type == "settlement.requested":
        return f"{SETTLEMENT_PREFIX}.{organization or '*'}.{distribution or '*'}"
    tail = event_type or ">"
    return f"{EVENTS_PREFIX}.{organization or '*'}.{distribution or '*'}.{tail}"


def describe(envelope: Envelope) -> str:
    """One readable line: time, type, organization, then the payload's fields."""
    fields = " ".join(f"{key}={value}" for key, value in envelope.data.items())
    return f"{envelope.timestamp} {envelope.type:<28} {envelope.organization_id} {fields}"


async def _tail(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    settings = load_settings()
    client = await nats.connect(settings.nats_url or "nats://127.0.0.1:4222", name="fanfare-tail")
    done = asyncio.Event()
    seen = 0

    async def show(message: Msg) -> None:
        nonlocal seen
        if args.json:
            out.write(message.data.decode() + "\n")
        else:
            out.write(describe(decode_envelope(message.data)) + "\n")
        out.flush()
        seen += 1
        if args.count and seen >= args.count:
            done.set()

    subject = subject_filter(args.organization, args.distribution, args.event_type)
    await client.subscribe(subject, cb=show)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, done.set)
    print(f"watching {subject} (Ctrl-C stops)", file=sys.stderr, flush=True)
    try:
        await done.wait()
    finally:
        await client.drain()
    return 0
