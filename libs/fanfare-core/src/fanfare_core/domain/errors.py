"""Errors the domain raises. Entry points translate them into the public error format."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


class DomainError(Exception):
    """Base class of every rule violation; ``message`` is the public error text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class FieldError:
    """One reason a request was rejected: which field (camelCase, as in the API) and why."""

    field: str
    message: str


class ValidationFailed(DomainError):
    """The request breaks one or more rules; nothing was written."""

    def __init__(self, details: list[FieldError]) -> None:
        super().__init__("Validation failed")
        self.details = details


class NotFound(DomainError):
    """The thing does not exist for this organization."""


class Conflict(DomainError):
    """The request is well formed but the current state forbids it."""


class Unauthenticated(DomainError):
    """Missing or invalid credentials."""

    def __init__(self, message: str = "Authentication required") -> None:
        super().__init__(message)


class NotOpenYet(DomainError):
    """Participation before opening (423); ``opens_at`` is when to retry, if known."""

    def __init__(self, message: str, opens_at: datetime | None) -> None:
        super().__init__(message)
        self.opens_at = opens_at


class TooManyRequests(DomainError):
    """A rate limit was reached (429); ``retry_after_seconds`` says when to come back."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__("Too many requests")
        self.retry_after_seconds = retry_after_seconds


class BadRequest(DomainError):
    """The request cannot be honoured as sent; ``message`` says why (answered with 400)."""


class FingerprintRejected(DomainError):
    """The ``X-Fingerprint`` presented is malformed or is not the device the session or
    admission is bound to (answered with 400 and ``X-Fingerprint-Error: true``)."""

    def __init__(self, message: str = "Fingerprint validation failed") -> None:
        super().__init__(message)


class ErrorCollector:
    """Collects field errors so one response can list every problem at once."""

    def __init__(self) -> None:
        self.details: list[FieldError] = []

    def add(self, field: str, message: str) -> None:
        self.details.append(FieldError(field, message))

    def raise_if_any(self) -> None:
        if self.details:
            raise ValidationFailed(self.details)
