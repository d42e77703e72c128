"""Strict request bodies: a string is never taken for a number, nor a number for a string.

Litestar converts handler arguments leniently (query strings must become numbers), and that
leniency reaches JSON bodies too (``"10"`` would become ``10``). Handlers keep their typed
``data`` parameter for the OpenAPI document, and take the body from :func:`decode_body`.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from litestar import Request

from fanfare_core.domain.errors import FieldError, ValidationFailed

S = TypeVar("S", bound=msgspec.Struct)
_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}


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


async def decode_body(request: Request[Any, Any, Any], body_type: type[S]) -> S:
    """The request body as ``body_type``, decoded strictly from the JSON text.

    Amounts get their exact decimal value from the text, never a binary float's. A wrong
    type, an unknown field or a missing one raises :class:`ValidationFailed` naming it.
    """
    decoder = _decoders.get(body_type)
    if decoder is None:
        decoder = _decoders[body_type] = msgspec.json.Decoder(body_type, strict=True)
    try:
        decoded: S = decoder.decode(await request.body())
    except msgspec.ValidationError as error:
        raise ValidationFailed([field_error(str(error))]) from error
    except msgspec.DecodeError as error:
        raise ValidationFailed([FieldError("body", "must be a JSON object")]) from error
    return decoded
