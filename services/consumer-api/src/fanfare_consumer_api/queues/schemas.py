"""Request and response bodies of the consumer queue routes, as the spec shows them."""

from __future__ import annotations

from typing import Literal

import msgspec
from msgspec import UNSET, UnsetType


class Queue(msgspec.Struct, rename="camel"):
    id: str
    name: str | None
    sequence_id: str
    capacity: int | None
    open_at: str | None
    close_at: str | None
    time_zone: str | None
    status: str
    consumer_count: int


class QueueConsumerState(msgspec.Struct, rename="camel"):
    queue_id: str
    consumer_id: str
    status: str
    position: int | None
    entered_at: str
    admitted_at: str | None
    admission_token: str | None
    deny_reason: str | None


class CompletedState(msgspec.Struct, rename="camel"):
    queue_id: str
    consumer_id: str
    status: str
    completed_at: str | None


class ConsumerRequest(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    consumer_id: str


class DenyRequest(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    consumer_id: str
    reason: Literal["ORDER_LIMIT_EXCEEDED", "FRAUD_DETECTED", "ADMIN_ACTION"]


class ValidateRequest(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    consumer_id: str
    token: str
    # The fingerprint of the device the storefront sees (or send it as X-Fingerprint).
    fingerprint: str | UnsetType = UNSET


class Support(msgspec.Struct, rename="camel"):
    message: str
    confirmation_code: str


class InvalidAdmission(msgspec.Struct, rename="camel", omit_defaults=True):
    valid: bool
    error: str
    message: str
    code: str
    support: Support | None = None
