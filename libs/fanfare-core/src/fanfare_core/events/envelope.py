"""The one event envelope: ``{id, type, timestamp, organizationId, data}`` as JSON."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import fields, replace
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


_layouts: dict[type[Event], tuple[tuple[str, str], ...]] = {}


def _data_fields(event_type: type[Event]) -> tuple[tuple[str, str], ...]:
    """``(attribute, JSON name)`` of each field of an event type that goes in ``data``
    (worked out once per type: every enter of a crowd writes an event)."""
    layout = _layouts.get(event_type)
    if layout is None:
        layout = _layouts[event_type] = tuple(
            (f.name, _camel(f.name)) for f in fields(event_type) if f.name not in _ENVELOPE_FIELDS
        )
    return layout


def to_envelope(event: Event, event_id: str) -> Envelope:
    """The envelope of a domain event; its data is the event's own fields in camelCase."""
    layout = _data_fields(type(event))
    data = {name: _plain(getattr(event, attribute)) for attribute, name in layout}
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


_PLAIN_TEXT = re.compile(r"[A-Za-z0-9_.:-]*")


def encode_variants(
    template: Event, field_name: str, values: Sequence[str], event_ids: Sequence[str]
) -> Iterator[tuple[str, str, bytes]]:
    """``(event id, subject, payload)`` of events equal to ``template`` except for the text
    field ``field_name``, one per value: what :func:`encode_event` gives for each, byte for
    byte, at a fraction of the cost (for bulk writes such as a draw's lost events). Rows
    are made as they are consumed, so a million need not be held at once.

    The template is encoded once with markers in place of the id and the field; plain
    values (letters, digits, ``_ . : -``, which JSON never escapes) are spliced in, others
    are encoded one by one.
    """
    if len(values) != len(event_ids):
        raise ValueError("one event id per value")
    id_marker, value_marker = f"@id{os.urandom(8).hex()}@", f"@value{os.urandom(8).hex()}@"
    marked = replace(template, **{field_name: value_marker})  # type: ignore[arg-type]
    subject, payload = encode_event(marked, id_marker)
    head, _, rest = payload.partition(id_marker.encode())
    middle, found, tail = rest.partition(value_marker.encode())
    splice = bool(found) and value_marker not in subject and value_marker.encode() not in tail
    # Checked at once for the usual case, where every value and id is plain.
    all_plain = splice and bool(
        _PLAIN_TEXT.fullmatch("".join(values)) and _PLAIN_TEXT.fullmatch("".join(event_ids))
    )

    def rows() -> Iterator[tuple[str, str, bytes]]:
        for value, event_id in zip(values, event_ids, strict=True):
            if all_plain or (
                splice and _PLAIN_TEXT.fullmatch(value) and _PLAIN_TEXT.fullmatch(event_id)
            ):
                parts = (head, event_id.encode(), middle, value.encode(), tail)
                yield event_id, subject, b"".join(parts)
            else:
                event = replace(template, **{field_name: value})  # type: ignore[arg-type]
                yield (event_id, *encode_event(event, event_id))

    return rows()
