"""Running a REST service under uvicorn: SIGTERM drains requests, then the lifespan closes."""

from __future__ import annotations

import os
from collections.abc import Callable

import uvicorn
from litestar import Litestar

from fanfare_core.http.middleware import request_id_middleware
from fanfare_core.settings import env_name, service_settings


def serve(service_name: str, app_factory: Callable[[], Litestar], *, default_port: int) -> None:
    """Serve the app ``app_factory`` builds on the configured host and port."""
    settings = service_settings(service_name, default_port)
    # The app factory reads its settings from the environment too.
    os.environ[env_name("service_name")] = settings.service_name
    os.environ[env_name("http_port")] = str(settings.http_port)
    # The request-id layer wraps the whole app, so even the router's own 404 and 405
    # answers carry an X-Request-Id and reach the access log.
    uvicorn.run(
        request_id_middleware(app_factory()),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        loop="uvloop",  # a dependency, so images run the loop the benchmarks measured
        # X-Forwarded-For names the client (the per-address enter limit counts it) only
        # when the peer is one of these proxies; anyone else could forge it.
        proxy_headers=True,
        forwarded_allow_ips=settings.trusted_proxies,
        # Idle keep-alive connections stay open longer than the load balancers' own idle
        # timeouts (60 s is common), so the balancer closes them, never the API while the
        # balancer is sending on one (a 502 for that shopper).
        timeout_keep_alive=settings.http_keep_alive_seconds,
        timeout_graceful_shutdown=10,
    )
