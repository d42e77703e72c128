"""JSON responses that show amounts of money as exact JSON numbers, never as strings."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
from litestar import Response
from litestar.openapi.spec import OpenAPIType, Schema
from litestar.plugins import OpenAPISchemaPlugin
from litestar.serialization import default_serializer
from litestar.types import Serializer
from litestar.typing import FieldDefinition

_encoder = msgspec.json.Encoder(enc_hook=default_serializer, decimal_format="number")


class FanfareResponse(Response[Any]):
    """Litestar's response, but ``Decimal`` renders as a JSON number (``100.50``)."""

    def render(
        self, content: Any, media_type: str, enc_hook: Serializer = default_serializer
    ) -> bytes:
        if media_type.startswith("application/json") and not isinstance(content, bytes | str):
            return _encoder.encode(content)
        return super().render(content, media_type, enc_hook)


class DecimalAsNumber(OpenAPISchemaPlugin):
    """Document amounts as JSON numbers in OpenAPI, as they are sent and accepted."""

    @staticmethod
    def is_plugin_supported_type(value: Any) -> bool:
        return value is Decimal

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        return Schema(type=OpenAPIType.NUMBER, description="An exact decimal amount")
