"""EdDSA JWTs: consumer access tokens now; admission and payment tokens share the shape.

Every token carries ``iss``, ``aud``, ``sub``, ``iat``, ``exp``, ``jti``, ``typ`` and a
``kid`` header. Verification pins the algorithm to EdDSA (so ``alg: none`` and
HS256-with-the-public-key forgeries fail), picks the key by ``kid``, and checks issuer,
audience, type and expiry. Times are judged against the caller's clock (``now``), not the
machine's, so an injected clock moves token expiry too.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
import msgspec

from fanfare_core.auth.signing_keys import KeyRing
from fanfare_core.domain.consumers import fingerprint_hash
from fanfare_core.ids import new_id

ALGORITHM = "EdDSA"
REQUIRED_CLAIMS = ["iss", "aud", "sub", "iat", "exp", "jti", "typ"]
#: How far ahead of this process's clock another replica's ``iat`` may be.
CLOCK_SKEW = timedelta(seconds=60)

__all__ = [
    "ALGORITHM",
    "InvalidToken",
    "TokenClaims",
    "TokenService",
    "expiry_of",
    "fingerprint_hash",
]


class InvalidToken(Exception):
    """The token cannot be trusted; ``reason`` says why (for logs, not for attackers)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def expiry_of(now: datetime, lifetime: timedelta) -> datetime:
    """When a token issued at ``now`` for ``lifetime`` expires (``exp`` has whole seconds)."""
    return datetime.fromtimestamp(int((now + lifetime).timestamp()), now.tzinfo)


def _header(token: str) -> dict[str, Any]:
    """The token's header, read only to pick the verifying key: ``jwt.decode`` reads and
    checks it again in full (a quarter of what PyJWT's own unverified read costs)."""
    head, dot, _ = token.partition(".")
    try:
        if not dot:
            raise ValueError("no payload")
        header = msgspec.json.decode(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, msgspec.DecodeError) as error:  # binascii.Error is a ValueError
        raise InvalidToken("malformed") from error
    if not isinstance(header, dict):
        raise InvalidToken("malformed")
    return header


def _whole_seconds(claims: dict[str, Any], name: str) -> int:
    value = claims.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidToken(f"{name} is not a number of seconds")
    return value


@dataclass(frozen=True, slots=True)
class TokenClaims:
    subject: str
    audience: str
    token_type: str
    issued_at: datetime
    expires_at: datetime
    token_id: str
    fingerprint_hash: str | None
    extra: dict[str, Any]
    key_id: str = ""  # the ``kid`` that signed it


class TokenService:
    """Issues and verifies Fanfare's tokens with one key ring and issuer."""

    def __init__(self, ring: KeyRing, issuer: str) -> None:
        self.ring = ring
        self.issuer = issuer

    def issue(
        self,
        *,
        subject: str,
        audience: str,
        token_type: str,
        now: datetime,
        lifetime: timedelta,
        fingerprint: str | None = None,
        extra: dict[str, Any] | None = None,
        token_id: str | None = None,
    ) -> str:
        """A token signed by the ring's current signer. ``fingerprint`` (plain) is stored as
        its hash in ``fph``; ``extra`` claims never override the standard ones."""
        key = self.ring.signer(now)
        claims: dict[str, Any] = {
            **(extra or {}),
            "iss": self.issuer,
            "aud": audience,
            "sub": subject,
            "typ": token_type,
            "iat": int(now.timestamp()),
            "exp": int(expiry_of(now, lifetime).timestamp()),
            "jti": token_id or new_id("tok"),
        }
        if fingerprint is not None:
            claims["fph"] = fingerprint_hash(fingerprint)
        return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})

    def verify(self, token: str, *, audience: str, token_type: str, now: datetime) -> TokenClaims:
        """The claims of a token this service issued for ``audience``, or :class:`InvalidToken`."""
        header = _header(token)
        if header.get("alg") != ALGORITHM:
            raise InvalidToken("algorithm")
        kid = header.get("kid")
        key = self.ring.verifier(kid, now) if isinstance(kid, str) else None
        if key is None:
            raise InvalidToken("unknown key")
        try:
            claims = jwt.decode(
                token,
                key.public_key,
                algorithms=[ALGORITHM],
                audience=audience,
                issuer=self.issuer,
                # Times are checked below against ``now``; PyJWT would use the wall clock.
                options={
                    "require": REQUIRED_CLAIMS,
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError as error:
            raise InvalidToken(type(error).__name__) from error
        if claims.get("typ") != token_type:
            raise InvalidToken("token type")
        issued = _whole_seconds(claims, "iat")
        expires = _whole_seconds(claims, "exp")
        if now.timestamp() >= expires:
            raise InvalidToken("expired")
        if issued > (now + CLOCK_SKEW).timestamp():
            raise InvalidToken("issued in the future")
        fph = claims.get("fph")
        if fph is not None and not isinstance(fph, str):
            raise InvalidToken("fph is not a string")
        known = {*REQUIRED_CLAIMS, "fph"}
        return TokenClaims(
            subject=str(claims["sub"]),
            audience=audience,
            token_type=token_type,
            issued_at=datetime.fromtimestamp(issued, now.tzinfo),
            expires_at=datetime.fromtimestamp(expires, now.tzinfo),
            token_id=str(claims["jti"]),
            fingerprint_hash=fph,
            extra={k: v for k, v in claims.items() if k not in known},
            key_id=key.kid,
        )
