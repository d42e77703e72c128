"""The consumer API's composition root."""

from __future__ import annotations

from litestar import Litestar
from litestar.openapi.spec import SecurityScheme

from fanfare_core.http.app import build_app
from fanfare_core.settings import Settings, load_settings


def create_app(settings: Settings | None = None) -> Litestar:
    """The consumer API for ``settings`` (default: from the environment)."""
    settings = settings or load_settings(service_name="consumer-api")
    return build_app(
        settings=settings,
        title="Fanfare Consumer API",
        description=(
            "What shoppers' browsers and storefront servers call: queues, draws and auctions. "
            "Browsers send `X-Publishable-Key: pk_…` and a consumer token; servers use "
            "`Authorization: Bearer sk_…`."
        ),
        route_handlers=[],
        security_schemes={
            "PublishableKey": SecurityScheme(
                type="apiKey", name="X-Publishable-Key", security_scheme_in="header"
            ),
            "SecretKey": SecurityScheme(type="http", scheme="bearer"),
        },
    )
