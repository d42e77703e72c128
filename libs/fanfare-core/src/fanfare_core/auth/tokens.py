"""EdDSA JWTs: consumer access tokens now; admission and payment tokens share the shape.

Every token carries ``iss``, ``aud``, ``sub``, ``iat``, ``exp``, ``jti``, ``typ`` and a
``kid`` header. Verification pins the algorithm to EdDSA (so ``alg: none`` and
HS256-with-the-public-key forgeries fail), picks the key by ``kid``, and checks issuer,
audience, type and expiry. Times are judged against the caller's clock (``now``), not the
machine's, so an injected clock moves token expiry too.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec
from nacl.exceptions import BadSignatureError

from fanfare_core.auth.signing_keys import KeyRing, SigningKey, b64url
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


#: Longer than any token Fanfare issues by far; anything longer is refused unread.
MAX_TOKEN_LENGTH = 4096
#: Three segments of base64url without padding (RFC 7515's compact serialization).
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_SIGNATURE_LENGTH = 64  # Ed25519


def _unb64(segment: str) -> bytes:
    """One segment of a token that matched ``_COMPACT``."""
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except ValueError as error:  # binascii.Error: a length no encoder makes
        raise InvalidToken("malformed") from error


def _json_object(segment: str) -> dict[str, Any]:
    try:
        value = msgspec.json.decode(_unb64(segment))
    except msgspec.DecodeError as error:
        raise InvalidToken("malformed") from error
    if not isinstance(value, dict):
        raise InvalidToken("malformed")
    return value


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
        # Compact JWS by hand (RFC 7515 §7.1), as PyJWT would make it in 1.6 times the time:
        # a draw signs ten thousand at once, and every guest sign-in signs one.
        signing_input = f"{key.jwt_header}.{b64url(msgspec.json.encode(claims))}"
        signature = key.sign_key.sign(signing_input.encode()).signature
        return f"{signing_input}.{b64url(signature)}"

    def verify(self, token: str, *, audience: str, token_type: str, now: datetime) -> TokenClaims:
        """The claims of a token this service issued for ``audience``, or :class:`InvalidToken`."""
        claims, key = self._signed_claims(token, now)
        for name in REQUIRED_CLAIMS:
            if claims.get(name) is None:
                raise InvalidToken(f"no {name}")
        if claims["iss"] != self.issuer:
            raise InvalidToken("issuer")
        aud = claims["aud"]
        if not (aud == audience or (isinstance(aud, list) and audience in aud)):
            raise InvalidToken("audience")
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

    def _signed_claims(self, token: str, now: datetime) -> tuple[dict[str, Any], SigningKey]:
        """The claims of a token whose signature one of the ring's keys made, and that key.

        Read by hand rather than by PyJWT (which costs as much again as the signature check
        itself, and every shopper's first request pays it): exactly three base64url
        segments; the header names EdDSA and a ``kid`` of the ring; the Ed25519 signature
        over the first two segments verifies; only then are the claims read.
        """
        if len(token) > MAX_TOKEN_LENGTH or not _COMPACT.fullmatch(token):
            raise InvalidToken("malformed")
        head, body, signed = token.split(".")
        header = _json_object(head)
        if header.get("alg") != ALGORITHM:
            raise InvalidToken("algorithm")
        kid = header.get("kid")
        key = self.ring.verifier(kid, now) if isinstance(kid, str) else None
        if key is None:
            raise InvalidToken("unknown key")
        signature = _unb64(signed)
        if len(signature) != _SIGNATURE_LENGTH:
            raise InvalidToken("signature")
        try:
            key.verify_key.verify(token[: len(head) + 1 + len(body)].encode(), signature)
        except BadSignatureError as error:
            raise InvalidToken("signature") from error
        return _json_object(body), key
