"""Consumers (shoppers) and their sessions.

A consumer is one shopper of one organization: a guest, or a storefront customer known by
the storefront's own id (``external_id``), which always maps to the same consumer. A
session is one sign-in; its access tokens name it, it may be bound to a device
fingerprint, and logout ends it. Only digests of fingerprints, exchange codes and refresh
tokens are kept.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from fanfare_core.domain.errors import BadRequest, ErrorCollector, FingerprintRejected

ACCESS_TOKEN_TYPE = "access"  # noqa: S105 - a token type, not a secret
MAX_EXTERNAL_ID = 255

# Error texts, as the API shows them (not secrets).
CONSUMER_ID_REQUIRED = "Consumer ID is required"
INVALID_ACCESS_TOKEN = "Invalid access token"  # noqa: S105
INVALID_REFRESH_TOKEN = "Invalid refresh token"  # noqa: S105
INVALID_EXCHANGE_CODE = "Invalid exchange code"

_FINGERPRINT = re.compile(r"[A-Za-z0-9._:-]{1,256}")


def digest(secret: str) -> str:
    """The SHA-256 stored for a fingerprint, code or refresh token, never the value itself.

    Codes and refresh tokens carry 256 random bits, so a fast hash is safe for them.
    """
    return hashlib.sha256(secret.encode()).hexdigest()


def fingerprint_hash(fingerprint: str) -> str:
    """What a session or token keeps of a device fingerprint (the ``fph`` claim)."""
    return digest(fingerprint)


def is_valid_fingerprint(fingerprint: str) -> bool:
    """1 to 256 characters of ``A-Z a-z 0-9 . _ : -``."""
    return _FINGERPRINT.fullmatch(fingerprint) is not None


def presented_fingerprint(header: str | None) -> str | None:
    """The ``X-Fingerprint`` a request presents: None when absent,
    :class:`FingerprintRejected` when malformed."""
    if header is None:
        return None
    if not is_valid_fingerprint(header):
        raise FingerprintRejected()
    return header


def check_fingerprint(bound_hash: str | None, presented: str | None) -> None:
    """A presented fingerprint must be the one a session (or code) is bound to.

    No fingerprint presented, or a session bound to none, passes: the header is optional.
    """
    if (
        bound_hash is not None
        and presented is not None
        and not secrets.compare_digest(bound_hash, fingerprint_hash(presented))
    ):
        raise FingerprintRejected()


def binding_of(code_hash: str | None, presented: str | None) -> str | None:
    """The fingerprint hash a session exchanged from a code is bound to: the code's (which
    the presented one must match), else the presented one's, else none."""
    check_fingerprint(code_hash, presented)
    if code_hash is not None:
        return code_hash
    return None if presented is None else fingerprint_hash(presented)


def check_external_identity(
    external_id: str, fingerprint: str | None, errors: ErrorCollector
) -> None:
    """Record into ``errors`` what is wrong with an external authorization request."""
    if not external_id.strip() or len(external_id) > MAX_EXTERNAL_ID:
        errors.add("externalId", f"must be 1 to {MAX_EXTERNAL_ID} characters")
    if fingerprint is not None and not is_valid_fingerprint(fingerprint):
        errors.add("fingerprint", "must be 1 to 256 characters of A-Z a-z 0-9 . _ : -")


def new_secret() -> str:
    """An opaque credential (exchange code, refresh token): 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


@dataclass(slots=True, kw_only=True)
class Consumer:
    id: str
    organization_id: str
    external_id: str | None
    created_at: datetime


@dataclass(slots=True, kw_only=True)
class ConsumerSession:
    """One sign-in of a consumer; ``revoked_at`` once logged out."""

    id: str
    organization_id: str
    consumer_id: str
    fingerprint_hash: str | None
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(slots=True, kw_only=True)
class ExchangeCode:
    """A one-time code for a known customer's consumer; stored by digest."""

    code_hash: str
    organization_id: str
    consumer_id: str
    fingerprint_hash: str | None
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


@dataclass(slots=True, kw_only=True)
class RefreshToken:
    """A refresh token of a session; stored by digest, revoked when used or logged out."""

    token_hash: str
    session_id: str
    organization_id: str
    consumer_id: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None


def invalid_exchange_code() -> BadRequest:
    return BadRequest(INVALID_EXCHANGE_CODE)
