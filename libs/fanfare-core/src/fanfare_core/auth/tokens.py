"""EdDSA JWTs: consumer access tokens now; admission and payment tokens share the shape.

Every token carries ``iss``, ``aud``, ``sub``, ``iat``, ``exp``, ``jti`` and a ``kid``
header. Verification pins the algorithm to EdDSA (so ``alg: none`` and HS256-with-the-
public-key forgeries fail), picks the key by ``kid``, and checks issuer, audience, expiry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt

from fanfare_core.auth.signing_keys import KeyRing
from fanfare_core.ids import new_id

ALGORITHM = "EdDSA"
REQUIRED_CLAIMS = ["iss", "aud", "sub", "iat", "exp", "jti"]


class InvalidToken(Exception):
    """The token cannot be trusted; ``reason`` says why (for logs, not for attackers)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def fingerprint_hash(fingerprint: str) -> str:
    """What a token stores of a device fingerprint: its SHA-256, never the value itself."""
    return hashlib.sha256(fingerprint.encode()).hexdigest()


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
        key = self.ring.signer(now)
        claims: dict[str, Any] = {
            **(extra or {}),
            "iss": self.issuer,
            "aud": audience,
            "sub": subject,
            "typ": token_type,
            "iat": int(now.timestamp()),
            "exp": int((now + lifetime).timestamp()),
            "jti": token_id or new_id("tok"),
        }
        if fingerprint is not None:
            claims["fph"] = fingerprint_hash(fingerprint)
        return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})

    def verify(self, token: str, *, audience: str, token_type: str, now: datetime) -> TokenClaims:
        """The claims of a token this service issued for ``audience``, or :class:`InvalidToken`."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise InvalidToken("malformed") from error
        if header.get("alg") != ALGORITHM:
            raise InvalidToken("algorithm")
        key = self.ring.verifier(str(header.get("kid", "")), now)
        if key is None:
            raise InvalidToken("unknown key")
        try:
            claims = jwt.decode(
                token,
                key.public_key,
                algorithms=[ALGORITHM],
                audience=audience,
                issuer=self.issuer,
                options={"require": REQUIRED_CLAIMS},
                leeway=0,
            )
        except jwt.ExpiredSignatureError as error:
            raise InvalidToken("expired") from error
        except jwt.PyJWTError as error:
            raise InvalidToken(type(error).__name__) from error
        if claims.get("typ") != token_type:
            raise InvalidToken("token type")
        known = {*REQUIRED_CLAIMS, "typ", "fph"}
        return TokenClaims(
            subject=str(claims["sub"]),
            audience=audience,
            token_type=token_type,
            issued_at=datetime.fromtimestamp(claims["iat"], now.tzinfo),
            expires_at=datetime.fromtimestamp(claims["exp"], now.tzinfo),
            token_id=str(claims["jti"]),
            fingerprint_hash=claims.get("fph"),
            extra={k: v for k, v in claims.items() if k not in known},
        )
