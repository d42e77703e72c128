"""The consumer API's composition root."""

from __future__ import annotations

from litestar import Litestar
from litestar.openapi.spec import SecurityScheme
from litestar.types import ControllerRouterHandler

from fanfare_consumer_api.auctions.routes import ROUTER as AUCTIONS
from fanfare_consumer_api.auth import CONSUMER_DEPENDENCIES, sessions_lifespan
from fanfare_consumer_api.draws.lifespan import draws_lifespan
from fanfare_consumer_api.draws.routes import ROUTER as DRAWS
from fanfare_consumer_api.queues.lifespan import queues_lifespan
from fanfare_consumer_api.queues.routes import ROUTER as QUEUES
from fanfare_consumer_api.sessions.routes import ROUTES as SESSION_ROUTES
from fanfare_core.clock import Clock, SystemClock
from fanfare_core.http.app import build_app
from fanfare_core.settings import Settings, load_settings

# Each bounded context adds its routes and its lifespan (entered in this order after the
# connections open, left in reverse order before they close).
ROUTES: list[ControllerRouterHandler] = [*SESSION_ROUTES, QUEUES, AUCTIONS, DRAWS]
LIFESPANS = [sessions_lifespan, queues_lifespan, draws_lifespan]


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> Litestar:
    """The consumer API for ``settings`` (default: from the environment)."""
    settings = settings or load_settings(service_name="consumer-api")
    app = build_app(
        settings=settings,
        title="Fanfare Consumer API",
        description=(
            "What shoppers' browsers and storefront servers call: queues, draws and auctions. "
            "Browsers send `X-Publishable-Key: pk_…` and a consumer token; servers use "
            "`Authorization: Bearer sk_…`."
        ),
        route_handlers=ROUTES,
        security_schemes={
            "PublishableKey": SecurityScheme(
                type="apiKey", name="X-Publishable-Key", security_scheme_in="header"
            ),
            "SecretKey": SecurityScheme(type="http", scheme="bearer"),
        },
        dependencies=CONSUMER_DEPENDENCIES,
        lifespans=LIFESPANS,
    )
    app.state.clock = clock or SystemClock()
    return app
