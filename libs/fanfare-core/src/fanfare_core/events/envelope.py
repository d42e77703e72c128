"""The one event envelope: ``{id, type, timestamp, organizationId, data}`` as JSON."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any

import msgspec

from fanfare_core.domain.events import Event
from fanfare_core.domain.timing import format_instant
from fanfare_core.events.catalogue import subject_for

_ENVELOPE_FIELDS = {"organization_id", "occurred_at"}


class Envelope(msgspec.Struct, frozen=True, rename="camel"):
    """What every message on the bus looks like."""

    id: str
    type: str
    timestamp: str
    organization_id: str
    data: dict[str, Any]


_encoder = msgspec.json.Encoder(decimal_format="number")
_decoder = msgspec.json.Decoder(Envelope)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return format_instant(value)
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    return value


def to_envelope(event: Event, event_id: str) -> Envelope:
    """The envelope of a domain event; its data is the event's own fields in camelCase."""
    data = {
        _camel(f.name): _plain(getattr(event, f.name))
        for f in fields(event)
        if f.name not in _ENVELOPE_FIELDS
    }
    return Envelope(
        id=event_id,
        type=event.type_name,
        timestamp=format_instant(event.occurred_at),
        organization_id=event.organization_id,
        data=data,
    )


def encode_event(event: Event, event_id: str) -> tuple[str, bytes]:
    """The subject and JSON bytes to publish for ``event``."""
    envelope = to_envelope(event, event_id)
    return subject_for(event.type_name, event.organization_id, event.subject_key), _encoder.encode(
        envelope
    )


def decode_envelope(payload: bytes) -> Envelope:
    """Parse a message from the bus."""
    return _decoder.decode(payload)
