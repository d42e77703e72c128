"""Request ids and one structured access-log line per request."""

from __future__ import annotations

import logging
import re
import time

import structlog
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from fanfare_core.ids import ulid
from fanfare_core.logs import get_logger

log = get_logger("fanfare.access")
# Checked before each access-log line: below INFO the line is not even built.
_access = logging.getLogger("fanfare.access")
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_QUIET_PATHS = frozenset({"/healthz", "/readyz"})


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    """Give each request an id (the caller's ``X-Request-Id`` when sane), bind it to the
    logs, return it in ``X-Request-Id``, and log the request when it ends."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _VALID_ID.match(incoming) else f"req_{ulid()}"
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await app(scope, receive, send_with_id)
            finally:
                if scope["path"] not in _QUIET_PATHS and _access.isEnabledFor(logging.INFO):
                    log.info(
                        "request",
                        method=scope["method"],
                        path=scope["path"],
                        status=status,
                        duration_ms=round((time.perf_counter() - started) * 1000, 2),
                    )

    return middleware
