"""Organizations (tenants) and their API keys.

A key is shown once, when it is made; only its SHA-256 digest is stored. Secret keys
(``sk_``) are for servers; publishable keys (``pk_``) may be shipped to browsers.
"""

from __future__ import annotations

import hashlib
import secrets
import string
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from fanfare_core.domain.errors import ErrorCollector
from fanfare_core.domain.money import is_currency_code
from fanfare_core.domain.timing import InvalidTime, zone

_ALPHABET = string.ascii_letters + string.digits
_KEY_BODY_LENGTH = 32
MAX_ORGANIZATION_NAME = 200


class KeyKind(StrEnum):
    SECRET = "secret"  # noqa: S105 - the name of a kind of key, not a key
    PUBLISHABLE = "publishable"

    @property
    def prefix(self) -> str:
        return "sk" if self is KeyKind.SECRET else "pk"


class KeyMode(StrEnum):
    LIVE = "live"
    TEST = "test"


@dataclass(slots=True, kw_only=True)
class Organization:
    id: str
    name: str
    time_zone: str
    currency_code: str
    created_at: datetime


@dataclass(slots=True, kw_only=True)
class ApiKey:
    """A stored key: what it is and a digest of it, never the key itself."""

    id: str
    organization_id: str
    kind: KeyKind
    mode: KeyMode
    name: str | None
    display_prefix: str
    key_hash: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A key as it is handed out once: the stored record and the plain key."""

    record: ApiKey
    plain: str


def hash_key(plain: str) -> str:
    """The digest stored for a key. Keys carry 190 bits of randomness, so a fast hash is safe."""
    return hashlib.sha256(plain.encode()).hexdigest()


def key_kind_of(plain: str) -> tuple[KeyKind, KeyMode] | None:
    """What kind of key ``plain`` claims to be from its prefix, or None if it is no key."""
    for kind in KeyKind:
        for mode in KeyMode:
            if plain.startswith(f"{kind.prefix}_{mode.value}_"):
                return kind, mode
    return None


def issue_key(
    *,
    key_id: str,
    organization_id: str,
    kind: KeyKind,
    mode: KeyMode,
    name: str | None,
    now: datetime,
) -> IssuedKey:
    """A new random key of the given kind and mode."""
    body = "".join(secrets.choice(_ALPHABET) for _ in range(_KEY_BODY_LENGTH))
    plain = f"{kind.prefix}_{mode.value}_{body}"
    record = ApiKey(
        id=key_id,
        organization_id=organization_id,
        kind=kind,
        mode=mode,
        name=name,
        display_prefix=plain[:12],
        key_hash=hash_key(plain),
        created_at=now,
    )
    return IssuedKey(record=record, plain=plain)


def check_organization_settings(
    name: str, time_zone: str, currency_code: str, errors: ErrorCollector
) -> None:
    """Record into ``errors`` what is wrong with an organization's settings."""
    if not name.strip() or len(name) > MAX_ORGANIZATION_NAME:
        errors.add("name", f"must be 1 to {MAX_ORGANIZATION_NAME} characters")
    try:
        zone(time_zone)
    except InvalidTime as error:
        errors.add("timeZone", str(error))
    if not is_currency_code(currency_code):
        errors.add("currencyCode", "must be an ISO 4217 code such as USD")
