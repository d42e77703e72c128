"""The one error format: ``{"error": "<text of the spec>", "details": [{field, message}]}``.

``details`` appears on validation errors only. Every response also carries ``X-Request-Id``.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    ValidationException,
)
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_404_NOT_FOUND,
    HTTP_405_METHOD_NOT_ALLOWED,
    HTTP_409_CONFLICT,
    HTTP_423_LOCKED,
    HTTP_429_TOO_MANY_REQUESTS,
    HTTP_500_INTERNAL_SERVER_ERROR,
)
from litestar.types import ExceptionHandlersMap

from fanfare_core.domain.draws import DrawFull
from fanfare_core.domain.errors import (
    BadRequest,
    Conflict,
    DomainError,
    FieldError,
    FingerprintRejected,
    NotFound,
    NotOpenYet,
    TooManyRequests,
    Unauthenticated,
    ValidationFailed,
)
from fanfare_core.domain.queues import QueueFull
from fanfare_core.domain.timing import format_instant
from fanfare_core.http.strict_body import field_error
from fanfare_core.logs import get_logger

log = get_logger(__name__)


class ErrorDetail(msgspec.Struct, frozen=True):
    field: str
    message: str


class ErrorBody(msgspec.Struct, frozen=True, omit_defaults=True):
    error: str
    details: list[ErrorDetail] | None = None


def error_response(
    status_code: int,
    error: str,
    details: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[ErrorBody]:
    body = ErrorBody(
        error=error,
        details=None if details is None else [ErrorDetail(d.field, d.message) for d in details],
    )
    return Response(body, status_code=status_code, headers=headers)


_DOMAIN_STATUS: dict[type[DomainError], int] = {
    NotOpenYet: HTTP_423_LOCKED,
    QueueFull: HTTP_429_TOO_MANY_REQUESTS,
    DrawFull: HTTP_429_TOO_MANY_REQUESTS,
    TooManyRequests: HTTP_429_TOO_MANY_REQUESTS,
    ValidationFailed: HTTP_400_BAD_REQUEST,
    BadRequest: HTTP_400_BAD_REQUEST,
    FingerprintRejected: HTTP_400_BAD_REQUEST,
    Unauthenticated: HTTP_401_UNAUTHORIZED,
    NotFound: HTTP_404_NOT_FOUND,
    Conflict: HTTP_409_CONFLICT,
}


def _domain(_: Request[Any, Any, Any], exc: DomainError) -> Response[ErrorBody]:
    status = next(
        (code for kind, code in _DOMAIN_STATUS.items() if isinstance(exc, kind)),
        HTTP_400_BAD_REQUEST,
    )
    details = exc.details if isinstance(exc, ValidationFailed) else None
    return error_response(status, exc.message, details, _headers_of(exc, status))


def _headers_of(exc: DomainError, status: int) -> dict[str, str] | None:
    """Headers an error carries: when to retry, how to authenticate."""
    if status == HTTP_401_UNAUTHORIZED:
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, FingerprintRejected):
        return {"X-Fingerprint-Error": "true"}
    if isinstance(exc, NotOpenYet) and exc.opens_at is not None:
        return {"Retry-After": format_instant(exc.opens_at)}
    if isinstance(exc, QueueFull | DrawFull | TooManyRequests):
        return {"Retry-After": str(exc.retry_after_seconds)}
    return None


def _field_of(item: dict[str, Any]) -> FieldError:
    """Turn one of Litestar's validation messages (query and path parameters) into ours."""
    key = str(item.get("key") or "body")
    error = field_error(str(item.get("message") or "is invalid"))
    return FieldError(
        key if error.field == "body" and key != "data" else error.field, error.message
    )


def _validation(_: Request[Any, Any, Any], exc: ValidationException) -> Response[ErrorBody]:
    extra = exc.extra if isinstance(exc.extra, list) else []
    details = [_field_of(item) for item in extra if isinstance(item, dict)]
    if not details:
        details = [FieldError("body", f"is not valid JSON: {exc.detail}")]
    return error_response(HTTP_400_BAD_REQUEST, "Validation failed", details)


def _http(_: Request[Any, Any, Any], exc: HTTPException) -> Response[ErrorBody]:
    if exc.status_code == HTTP_400_BAD_REQUEST:
        return error_response(
            HTTP_400_BAD_REQUEST,
            "Validation failed",
            [FieldError("body", f"is not valid JSON: {exc.detail}")],
        )
    return error_response(exc.status_code, exc.detail, headers=exc.headers)


def _not_found(_: Request[Any, Any, Any], exc: NotFoundException) -> Response[ErrorBody]:
    return error_response(HTTP_404_NOT_FOUND, "Not found")


def _not_allowed(_: Request[Any, Any, Any], exc: MethodNotAllowedException) -> Response[ErrorBody]:
    return error_response(HTTP_405_METHOD_NOT_ALLOWED, "Method not allowed", headers=exc.headers)


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    log.exception("unhandled error", path=request.url.path, method=request.method)
    return error_response(HTTP_500_INTERNAL_SERVER_ERROR, "Internal server error")


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    DomainError: _domain,
    ValidationException: _validation,
    NotFoundException: _not_found,
    MethodNotAllowedException: _not_allowed,
    HTTPException: _http,
    Exception: _unexpected,
}
