"""The admin API's composition root."""

from __future__ import annotations

from litestar import Litestar
from litestar.openapi.spec import SecurityScheme

from fanfare_admin_api.catalog.routes import ROUTER as CATALOG
from fanfare_admin_api.dependencies import DEPENDENCIES
from fanfare_admin_api.distributions.routes import ROUTERS as DISTRIBUTIONS
from fanfare_admin_api.keys.routes import ROUTER as KEYS
from fanfare_core.clock import Clock, SystemClock
from fanfare_core.http.app import build_app
from fanfare_core.settings import Settings, load_settings


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> Litestar:
    """The admin API for ``settings`` (default: from the environment)."""
    settings = settings or load_settings(service_name="admin-api")
    app = build_app(
        settings=settings,
        title="Fanfare Admin API",
        description=(
            "Manage queues, draws and auctions, the experiences and sequences they belong to, "
            "and API keys. Authenticate with `Authorization: Bearer sk_…`."
        ),
        route_handlers=[*DISTRIBUTIONS, CATALOG, KEYS],
        security_schemes={"SecretKey": SecurityScheme(type="http", scheme="bearer")},
        dependencies=DEPENDENCIES,
    )
    app.state.clock = clock or SystemClock()
    return app
