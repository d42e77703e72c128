"""Every forged, expired, foreign or otherwise wrong access token is refused by the running
consumer API with ``401 Invalid access token``, and a genuine one next to it is accepted.

Some forms are signed with the service's real key, read from the database, to show that a
valid signature alone is not enough (expired, wrong type, wrong issuer, no session).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.auth.signing_keys import KeyRing, SigningKey, new_signing_key
from fanfare_core.auth.tokens import TokenService
from fanfare_core.clock import SystemClock
from fanfare_core.service_layer.signing_keys import load_key_ring
from fanfare_testing import Tenant

from .helpers import (
    INVALID_ACCESS_TOKEN,
    assemble,
    assert_error,
    bearer,
    claims_of,
    header_of,
    json_of,
    unb64url,
)


@dataclass(frozen=True)
class Genuine:
    """A real guest session of the tenant, the service's key that signed it, and the JWKS."""

    token: str
    claims: dict[str, Any]
    key: SigningKey
    jwks: dict[str, Any]
    other_organization_token: str

    def signed(self, claims: dict[str, Any], *, key: SigningKey | None = None) -> str:
        signer = key or self.key
        return jwt.encode(
            claims, signer.private_key, algorithm="EdDSA", headers={"kid": signer.kid}
        )

    def reissued(self, **overrides: Any) -> str:
        """The genuine claims changed as told (a value of None drops the claim), re-signed
        with the service's own key."""
        changed = {**self.claims, **overrides}
        return self.signed({k: v for k, v in changed.items() if v is not None})


def _hs256_with_public_key(g: Genuine) -> str:
    """The classic confusion: HMAC keyed with the public key a verifier may hold."""
    jwk = next(k for k in g.jwks["keys"] if k["kid"] == g.key.kid)
    header = {"alg": "HS256", "kid": g.key.kid, "typ": "JWT"}
    signing_input = assemble(header, g.claims).rsplit(".", 1)[0].encode()
    signature = hmac.new(unb64url(jwk["x"]), signing_input, hashlib.sha256).digest()
    return assemble(header, g.claims, signature)


def _foreign_algorithm(g: Genuine, algorithm: str) -> str:
    private: Any = (
        ec.generate_private_key(ec.SECP256R1())
        if algorithm == "ES256"
        else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    return jwt.encode(g.claims, private, algorithm=algorithm, headers={"kid": g.key.kid})


def _tampered_payload(g: Genuine) -> str:
    header, _, signature = g.token.split(".")
    forged = assemble({}, {**g.claims, "sub": "cons_01HXYZ0000000000000000000A"}).split(".")[1]
    return f"{header}.{forged}.{signature}"


def _tampered_signature(g: Genuine) -> str:
    header, payload, signature = g.token.split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    return f"{header}.{payload}.{flipped}"


def _expired(g: Genuine) -> str:
    now = int(datetime.now(UTC).timestamp())
    return g.reissued(iat=now - 7200, exp=now - 3600)


FORGERIES: dict[str, Callable[[Genuine], str]] = {
    "not a jwt": lambda g: "not-a-jwt",
    "empty segments": lambda g: "..",
    "alg none": lambda g: assemble({"alg": "none", "kid": g.key.kid, "typ": "JWT"}, g.claims),
    "hs256 signed with the public key": _hs256_with_public_key,
    "rs256": lambda g: _foreign_algorithm(g, "RS256"),
    "es256": lambda g: _foreign_algorithm(g, "ES256"),
    "expired": _expired,
    "tampered payload": _tampered_payload,
    "tampered signature": _tampered_signature,
    "unknown kid": lambda g: g.signed(g.claims, key=new_signing_key(datetime.now(UTC))),
    "another organization": lambda g: g.other_organization_token,
    "another organization's audience": lambda g: g.reissued(aud="org_01HXYZ0000000000000000000A"),
    "admission token": lambda g: g.reissued(typ="admission"),
    "another issuer": lambda g: g.reissued(iss="someone-else"),
    "no session": lambda g: g.reissued(sid=None),
    "no expiry": lambda g: g.reissued(exp=None),
    "no subject": lambda g: g.reissued(sub=None),
}


@pytest.fixture
async def genuine(
    browser: httpx.AsyncClient,
    consumer_api: str,
    other_tenant: Tenant,
    pool: AsyncConnectionPool[AsyncConnection],
) -> Genuine:
    made = json_of(await browser.post("/api/v1/auth/guest"), 201)
    jwks = json_of(await browser.get("/.well-known/jwks.json"), 200)
    ring: KeyRing = await load_key_ring(UnitOfWork(pool), SystemClock())
    key = ring.verifier(header_of(made["accessToken"])["kid"], datetime.now(UTC))
    assert key is not None
    async with httpx.AsyncClient(
        base_url=consumer_api, headers={"X-Publishable-Key": other_tenant.publishable_key}
    ) as other_browser:
        other = json_of(await other_browser.post("/api/v1/auth/guest"), 201)
    return Genuine(
        token=made["accessToken"],
        claims=claims_of(made["accessToken"]),
        key=key,
        jwks=jwks,
        other_organization_token=other["accessToken"],
    )


@pytest.mark.parametrize("form", list(FORGERIES))
async def test_a_wrong_access_token_is_refused(
    browser: httpx.AsyncClient, genuine: Genuine, form: str
) -> None:
    forged = FORGERIES[form](genuine)
    for method, url in (("GET", "/api/v1/auth/session"), ("POST", "/api/v1/auth/logout")):
        response = await browser.request(method, url, headers=bearer(forged))
        assert_error(response, 401, INVALID_ACCESS_TOKEN)
    # The genuine token still works: nothing above logged it out.
    assert (
        await browser.get("/api/v1/auth/session", headers=bearer(genuine.token))
    ).status_code == 200


async def test_a_token_reissued_unchanged_with_the_service_key_is_accepted(
    browser: httpx.AsyncClient, genuine: Genuine
) -> None:
    """The control of the forms above: re-signing alone changes nothing."""
    response = await browser.get("/api/v1/auth/session", headers=bearer(genuine.reissued()))
    assert response.status_code == 200
    assert TokenService(KeyRing((genuine.key,)), "fanfare").verify(
        genuine.token,
        audience=genuine.claims["aud"],
        token_type="access",
        now=datetime.now(UTC) + timedelta(seconds=1),
    )
