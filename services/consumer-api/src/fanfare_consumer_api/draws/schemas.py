"""Request and response bodies of the consumer draw routes (they mirror the queue routes)."""

from __future__ import annotations

from typing import Literal

import msgspec


class Draw(msgspec.Struct, rename="camel"):
    id: str
    name: str | None
    sequence_id: str
    open_at: str | None
    close_at: str | None
    draw_at: str | None
    time_zone: str
    winner_count: int
    max_entries: int | None
    status: str
    entry_count: int
    commitment: str


class DrawConsumerState(msgspec.Struct, rename="camel"):
    draw_id: str
    consumer_id: str
    status: str
    entered_at: str
    won_at: str | None
    admission_token: str | None
    deny_reason: str | None
    claim_expires_at: str | None
    claimed_at: str | None


class DrawProof(msgspec.Struct, rename="camel"):
    draw_id: str
    algorithm: str
    version: int
    seed: str
    commitment: str
    entries_digest: str
    entry_count: int
    winner_count: int
    winners: list[str]
    backups: list[str]
    drawn_at: str
    entries_url: str


class ConsumerRequest(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    consumer_id: str


class DenyRequest(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    consumer_id: str
    reason: Literal["ORDER_LIMIT_EXCEEDED", "FRAUD_DETECTED", "ADMIN_ACTION"]
