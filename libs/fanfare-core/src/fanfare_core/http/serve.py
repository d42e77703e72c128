"""Running a REST service under uvicorn: SIGTERM drains requests, then the lifespan closes."""

from __future__ import annotations

import os

import uvicorn

from fanfare_core.settings import env_name, service_settings


def serve(service_name: str, app_factory: str, *, default_port: int) -> None:
    """Serve ``app_factory`` (``module:function``) on the configured host and port."""
    settings = service_settings(service_name, default_port)
    # The app factory reads the environment again in uvicorn's process.
    os.environ[env_name("service_name")] = settings.service_name
    os.environ[env_name("http_port")] = str(settings.http_port)
    uvicorn.run(
        app_factory,
        factory=True,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        timeout_graceful_shutdown=10,
    )
