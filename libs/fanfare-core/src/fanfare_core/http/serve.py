"""Running a REST service under uvicorn: SIGTERM drains requests, then the lifespan closes."""

from __future__ import annotations

import os

import uvicorn

from fanfare_core.settings import env_name, load_settings


def serve(service_name: str, app_factory: str, *, default_port: int) -> None:
    """Serve ``app_factory`` (``module:function``) on ``FANFARE_HTTP_HOST``/``FANFARE_HTTP_PORT``."""
    os.environ.setdefault(env_name("service_name"), service_name)
    os.environ.setdefault(env_name("http_port"), str(default_port))
    settings = load_settings()
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
