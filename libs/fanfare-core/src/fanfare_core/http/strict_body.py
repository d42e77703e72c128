"""Strict request bodies: a string is never taken for a number, nor a number for a string.

Litestar converts handler arguments leniently (query strings must become numbers), and that
leniency would reach JSON bodies too. Before a handler runs, this hook decodes the body
strictly against the handler's ``data`` type, so wrong types answer 400 with the field.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request

from fanfare_core.domain.errors import FieldError, ValidationFailed

_decoders: dict[type[msgspec.Struct], msgspec.json.Decoder[Any]] = {}


def field_error(message: str) -> FieldError:
    """A field error from one of msgspec's validation messages."""
    text, _, location = message.partition(" - at `")
    path = location.rstrip("`").removeprefix("$").lstrip(".") or "body"
    named = text.split("`")[1] if text.count("`") >= 2 else None
    if text.startswith("Object contains unknown field") and named:
        return FieldError(f"{path}.{named}" if path != "body" else named, "is not a known field")
    if text.startswith("Object missing required field") and named:
        return FieldError(f"{path}.{named}" if path != "body" else named, "is required")
    if path == "body" and text.startswith("Expected `object`"):
        return FieldError("body", "must be a JSON object")
    plain = text.replace("`", "")
    return FieldError(path, plain[:1].lower() + plain[1:])


async def strict_body(request: Request[Any, Any, Any]) -> None:
    """Refuse a body that does not decode strictly into the handler's ``data`` type."""
    parameter = request.route_handler.parsed_fn_signature.parameters.get("data")
    body_type = parameter.annotation if parameter is not None else None
    if not (isinstance(body_type, type) and issubclass(body_type, msgspec.Struct)):
        return
    decoder = _decoders.get(body_type)
    if decoder is None:
        decoder = _decoders[body_type] = msgspec.json.Decoder(body_type, strict=True)
    try:
        decoder.decode(await request.body())
    except msgspec.ValidationError as error:
        raise ValidationFailed([field_error(str(error))]) from error
    except msgspec.DecodeError as error:
        raise ValidationFailed([FieldError("body", "must be a JSON object")]) from error
