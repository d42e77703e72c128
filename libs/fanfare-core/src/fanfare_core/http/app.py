"""The parts every Fanfare REST service is assembled from."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

from litestar import Litestar, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.openapi.spec import Components, Reference, SecurityScheme
from litestar.response import Response
from litestar.types import ControllerRouterHandler

from fanfare_core.gc_tuning import settle_after_startup
from fanfare_core.http.encoding import DecimalAsNumber, FanfareResponse
from fanfare_core.http.errors import EXCEPTION_HANDLERS
from fanfare_core.logs import configure_logging, get_logger
from fanfare_core.runtime import Resources
from fanfare_core.settings import Settings

log = get_logger(__name__)


@get("/healthz", operation_id="healthz", tags=["health"], include_in_schema=False)
async def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@get("/readyz", operation_id="readyz", tags=["health"], include_in_schema=False)
async def readyz(state: State) -> Response[dict[str, Any]]:
    """Readiness: PostgreSQL, Redis and NATS all answer."""
    resources: Resources = state.resources
    checks = await resources.readiness()
    ready = all(checks.values())
    return Response(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
    )


def provide_resources(state: State) -> Resources:
    resources: Resources = state.resources
    return resources


def build_app(
    *,
    settings: Settings,
    title: str,
    description: str,
    route_handlers: Sequence[ControllerRouterHandler],
    security_schemes: dict[str, SecurityScheme | Reference],
    dependencies: dict[str, Provide] | None = None,
    on_ready: Callable[[Resources], Any] | None = None,
    lifespans: Sequence[Callable[[Litestar], AbstractAsyncContextManager[Any]]] = (),
) -> Litestar:
    """A Litestar app with Fanfare's error format, request ids, probes and OpenAPI docs
    (``/docs``, document at ``/docs/openapi.json``). Connections open in the lifespan;
    then each of ``lifespans`` is entered in order (``app.state.resources`` is set by then)
    and left in reverse order before the connections close."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        configure_logging(settings)
        resources = await Resources.open(settings)
        resources.start_outbox_relay()
        app.state.resources = resources
        try:
            async with AsyncExitStack() as stack:
                for part in lifespans:
                    await stack.enter_async_context(part(app))
                if on_ready is not None:
                    on_ready(resources)
                settle_after_startup()
                log.info("ready", service=settings.service_name, port=settings.http_port)
                yield
        finally:
            await resources.close()
            log.info("stopped", service=settings.service_name)

    return Litestar(
        route_handlers=[healthz, readyz, *route_handlers],
        lifespan=[lifespan],
        exception_handlers=EXCEPTION_HANDLERS,
        response_class=FanfareResponse,
        plugins=[DecimalAsNumber()],
        dependencies={"resources": Provide(provide_resources, sync_to_thread=False)}
        | (dependencies or {}),
        openapi_config=OpenAPIConfig(
            title=title,
            version="1.0.0",
            description=description,
            path="/docs",
            render_plugins=[ScalarRenderPlugin()],
            components=Components(security_schemes=security_schemes),
            use_handler_docstrings=True,
        ),
        debug=False,
    )
