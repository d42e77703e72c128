"""Tokens: what verifies, every forgery that must not, and rotation of the key ring."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from fanfare_core.auth.signing_keys import KeyRing, SigningKey, new_signing_key
from fanfare_core.auth.tokens import InvalidToken, TokenService, fingerprint_hash

T0 = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)  # far from the wall clock, on purpose
HOUR = timedelta(hours=1)
ISSUER = "fanfare"


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def segments(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    return json.loads(unb64(header)), json.loads(unb64(payload)), signature


def unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def assemble(header: dict[str, Any], claims: dict[str, Any], sign: Any = None) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = b"" if sign is None else sign(signing_input.encode())
    return f"{signing_input}.{b64(signature)}"


@pytest.fixture
def key() -> SigningKey:
    return new_signing_key(T0 - timedelta(days=1))


@pytest.fixture
def service(key: SigningKey) -> TokenService:
    return TokenService(KeyRing((key,)), ISSUER)


def issue(service: TokenService, **overrides: Any) -> str:
    values: dict[str, Any] = {
        "subject": "cons_1",
        "audience": "org_1",
        "token_type": "access",
        "now": T0,
        "lifetime": HOUR,
    }
    return service.issue(**(values | overrides))


def claims_of(**overrides: Any) -> dict[str, Any]:
    claims = {
        "iss": ISSUER,
        "aud": "org_1",
        "sub": "cons_1",
        "typ": "access",
        "iat": int(T0.timestamp()),
        "exp": int((T0 + HOUR).timestamp()),
        "jti": "tok_1",
    }
    return {k: v for k, v in (claims | overrides).items() if v is not None}


def refused(service: TokenService, token: str, *, at: datetime = T0, **expect: str) -> str:
    with pytest.raises(InvalidToken) as caught:
        service.verify(token, audience=expect.get("audience", "org_1"), token_type="access", now=at)
    return caught.value.reason


# --- what verifies ------------------------------------------------------------------------


def test_a_token_round_trips_with_its_claims_judged_by_the_given_clock(
    service: TokenService, key: SigningKey
) -> None:
    token = issue(service, fingerprint="device-1", extra={"sid": "sess_1"}, token_id="tok_9")
    header, payload, _ = segments(token)
    assert header == {"alg": "EdDSA", "kid": key.kid, "typ": "JWT"}
    assert set(payload) == {"iss", "aud", "sub", "typ", "iat", "exp", "jti", "fph", "sid"}
    claims = service.verify(token, audience="org_1", token_type="access", now=T0 + HOUR / 2)
    assert (claims.subject, claims.audience, claims.token_type) == ("cons_1", "org_1", "access")
    assert (claims.issued_at, claims.expires_at) == (T0, T0 + HOUR)
    assert claims.token_id == "tok_9"
    assert claims.fingerprint_hash == fingerprint_hash("device-1")
    assert claims.fingerprint_hash == hashlib.sha256(b"device-1").hexdigest()
    assert claims.extra == {"sid": "sess_1"}
    assert claims.key_id == key.kid


def test_extra_claims_never_override_the_standard_ones(service: TokenService) -> None:
    token = issue(service, extra={"sub": "cons_evil", "aud": "org_evil", "typ": "admin"})
    claims = service.verify(token, audience="org_1", token_type="access", now=T0)
    assert (claims.subject, claims.audience, claims.token_type) == ("cons_1", "org_1", "access")


def test_another_replicas_clock_may_run_a_little_ahead(service: TokenService) -> None:
    token = issue(service, now=T0 + timedelta(seconds=30))
    assert service.verify(token, audience="org_1", token_type="access", now=T0).subject == "cons_1"
    assert refused(service, issue(service, now=T0 + timedelta(minutes=5))) == (
        "issued in the future"
    )


# --- forgeries and wrong tokens -----------------------------------------------------------


def test_alg_none_is_refused(service: TokenService, key: SigningKey) -> None:
    forged = assemble({"alg": "none", "kid": key.kid, "typ": "JWT"}, claims_of())
    assert refused(service, forged) == "malformed"  # no signature at all
    forged = assemble({"alg": "none", "kid": key.kid}, claims_of(), key.private_key.sign)
    assert refused(service, forged) == "algorithm"  # even one our key made
    # The same claims with the algorithm named in another case, or no algorithm at all.
    for header in ({"alg": "None", "kid": key.kid}, {"kid": key.kid}):
        forged = assemble(header, claims_of(), key.private_key.sign)
        assert refused(service, forged) == "algorithm"


@pytest.mark.parametrize("encoding", ["raw", "pem", "jwk-x"])
def test_hs256_signed_with_the_public_key_is_refused(
    service: TokenService, key: SigningKey, encoding: str
) -> None:
    public = {
        "raw": key.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw),
        "pem": key.public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),
        "jwk-x": key.public_jwk()["x"].encode(),
    }[encoding]
    forged = assemble(
        {"alg": "HS256", "kid": key.kid, "typ": "JWT"},
        claims_of(),
        lambda data: hmac.new(public, data, hashlib.sha256).digest(),
    )
    assert refused(service, forged) == "algorithm"


@pytest.mark.parametrize("algorithm", ["RS256", "PS256", "ES256"])
def test_rsa_and_ec_algorithms_are_refused(
    service: TokenService, key: SigningKey, algorithm: str
) -> None:
    private: Any = (
        ec.generate_private_key(ec.SECP256R1())
        if algorithm.startswith("ES")
        else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    forged = jwt.encode(claims_of(), private, algorithm=algorithm, headers={"kid": key.kid})
    assert refused(service, forged) == "algorithm"


def test_an_expired_token_is_refused_from_its_exp_on(service: TokenService) -> None:
    token = issue(service)
    assert service.verify(
        token, audience="org_1", token_type="access", now=T0 + HOUR - timedelta(seconds=1)
    )
    assert refused(service, token, at=T0 + HOUR) == "expired"
    assert refused(service, token, at=T0 + 2 * HOUR) == "expired"


def test_a_tampered_payload_is_refused(service: TokenService) -> None:
    token = issue(service)
    header, _, signature = token.split(".")
    claims = segments(token)[1] | {"sub": "cons_someone_else"}
    tampered = f"{header}.{b64(json.dumps(claims).encode())}.{signature}"
    assert refused(service, tampered) == "signature"


def test_a_tampered_signature_is_refused(service: TokenService) -> None:
    header, payload, signature = issue(service).split(".")
    flipped = ("A" if signature[5] != "A" else "B").join([signature[:5], signature[6:]])
    assert refused(service, f"{header}.{payload}.{flipped}") == "signature"
    assert refused(service, f"{header}.{payload}.") == "malformed"
    assert refused(service, f"{header}.{payload}.{signature[:-4]}") == "signature"  # too short
    assert refused(service, f"{header}.{payload}.{signature}AAAA") == "signature"  # too long


def test_a_token_of_an_unknown_key_is_refused(service: TokenService, key: SigningKey) -> None:
    stranger = TokenService(KeyRing((new_signing_key(T0),)), ISSUER)
    assert refused(service, issue(stranger)) == "unknown key"
    # A stranger's signature under our kid does not verify either.
    header, payload, _ = issue(service).split(".")
    _, _, foreign_signature = issue(stranger).split(".")
    assert refused(service, f"{header}.{payload}.{foreign_signature}") == "signature"
    no_kid = jwt.encode(claims_of(), key.private_key, algorithm="EdDSA")
    assert refused(service, no_kid) == "unknown key"
    odd_kid = assemble({"alg": "EdDSA", "kid": 7}, claims_of(), key.private_key.sign)
    assert refused(service, odd_kid) in {"unknown key", "malformed"}


def test_wrong_audience_issuer_and_type_are_refused(service: TokenService) -> None:
    assert refused(service, issue(service), audience="org_2") == "audience"
    other_issuer = TokenService(service.ring, "someone-else")
    assert refused(service, issue(other_issuer)) == "issuer"
    assert refused(service, issue(service, token_type="admission")) == "token type"


@pytest.mark.parametrize("claim", ["iss", "aud", "sub", "iat", "exp", "jti", "typ"])
def test_a_token_missing_a_claim_is_refused(
    service: TokenService, key: SigningKey, claim: str
) -> None:
    token = jwt.encode(
        claims_of(**{claim: None}), key.private_key, algorithm="EdDSA", headers={"kid": key.kid}
    )
    assert refused(service, token) == f"no {claim}"


@pytest.mark.parametrize(
    ("claim", "value"), [("exp", "9999999999"), ("iat", 1.5), ("exp", True), ("fph", 42)]
)
def test_claims_of_the_wrong_type_are_refused(
    service: TokenService, key: SigningKey, claim: str, value: object
) -> None:
    token = jwt.encode(
        claims_of(**{claim: value}), key.private_key, algorithm="EdDSA", headers={"kid": key.kid}
    )
    refused(service, token)


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "eyJhbGciOiJFZERTQSJ9..", "x" * 5000])
def test_malformed_tokens_are_refused(service: TokenService, garbage: str) -> None:
    assert refused(service, garbage) == "malformed"


def test_segments_must_be_unpadded_base64url(service: TokenService, key: SigningKey) -> None:
    header, payload, signature = issue(service).split(".")
    for token in (
        f"{header}=.{payload}.{signature}",  # padding
        f"{header}.{payload}.{signature}=",
        f"{header}.{payload}+.{signature}",  # the standard alphabet's characters
        f"{header}.{payload}.{signature[:10]}/{signature[11:]}",
        f"{header}.{payload} .{signature}",
        f"{header}.{payload}.{signature}.{signature}",  # a fourth segment
        f"{header}.{payload}.{signature[:10]}\u00e9{signature[11:]}",
    ):
        assert refused(service, token) == "malformed", token
    assert refused(service, f"{b64(b'[1, 2]')}.{payload}.{signature}") == "malformed"
    # The claims are read only once the signature verified, and then must be an object.
    assert refused(service, f"{header}.{b64(b'not json')}.{signature}") == "signature"
    for claims in (b"not json", b'["iss"]'):
        signing_input = f"{header}.{b64(claims)}"
        forged = f"{signing_input}.{b64(key.private_key.sign(signing_input.encode()))}"
        assert refused(service, forged) == "malformed"


def test_the_signature_covers_the_header(service: TokenService, key: SigningKey) -> None:
    _, payload, signature = issue(service).split(".")
    other_header = b64(json.dumps({"alg": "EdDSA", "kid": key.kid, "typ": "JWT", "x": 1}).encode())
    assert refused(service, f"{other_header}.{payload}.{signature}") == "signature"


def test_a_list_audience_verifies_when_it_names_ours(
    service: TokenService, key: SigningKey
) -> None:
    def signed(audience: object) -> str:
        return jwt.encode(
            claims_of(aud=audience), key.private_key, algorithm="EdDSA", headers={"kid": key.kid}
        )

    listed = signed(["org_x", "org_1"])
    assert service.verify(listed, audience="org_1", token_type="access", now=T0).audience == "org_1"
    assert refused(service, signed(["org_x"])) == "audience"
    assert refused(service, signed(7)) == "audience"


def test_a_token_signed_by_pyjwt_for_another_verifier_still_verifies(
    service: TokenService, key: SigningKey
) -> None:
    # Tokens are standard JWTs: what a standard library signs with our key verifies here.
    token = jwt.encode(
        claims_of(fph="ab" * 32, sid="sess_1"), key.private_key, algorithm="EdDSA",
        headers={"kid": key.kid},
    )  # fmt: skip
    claims = service.verify(token, audience="org_1", token_type="access", now=T0)
    assert (claims.subject, claims.fingerprint_hash, claims.extra) == (
        "cons_1",
        "ab" * 32,
        {"sid": "sess_1"},
    )


# --- rotation -------------------------------------------------------------------------------


def rotated(old: SigningKey, at: datetime, overlap: timedelta) -> tuple[KeyRing, SigningKey]:
    new = new_signing_key(at)
    retiring = SigningKey(old.kid, old.private_key, old.created_at, at + overlap)
    return KeyRing((retiring, new)), new


def test_after_a_rotation_new_tokens_use_the_new_key_and_old_ones_verify_until_retirement(
    service: TokenService, key: SigningKey
) -> None:
    old_token = issue(service, lifetime=timedelta(days=3))
    ring, new = rotated(key, T0, timedelta(hours=24))
    after = TokenService(ring, ISSUER)
    new_token = issue(after, now=T0 + timedelta(minutes=1))
    assert segments(new_token)[0]["kid"] == new.kid
    assert ring.signer(T0) == new
    during = T0 + timedelta(hours=23, minutes=59)
    assert after.verify(old_token, audience="org_1", token_type="access", now=during)
    assert refused(after, old_token, at=T0 + timedelta(hours=24)) == "unknown key"
    assert after.verify(new_token, audience="org_1", token_type="access", now=T0 + HOUR / 2)


def test_the_jwks_lists_every_unretired_key_as_an_okp_key(key: SigningKey) -> None:
    ring, new = rotated(key, T0, timedelta(hours=24))
    listed = ring.jwks(T0)["keys"]
    assert [k["kid"] for k in listed] == [key.kid, new.kid]
    for jwk in listed:
        assert set(jwk) == {"kty", "crv", "x", "kid", "use", "alg"}
        assert (jwk["kty"], jwk["crv"], jwk["use"], jwk["alg"]) == (
            "OKP",
            "Ed25519",
            "sig",
            "EdDSA",
        )
    assert [k["kid"] for k in ring.jwks(T0 + timedelta(hours=24))["keys"]] == [new.kid]


def test_a_jwks_key_verifies_a_token_offline_with_pyjwt(
    service: TokenService, key: SigningKey
) -> None:
    token = issue(service)
    jwk = jwt.PyJWK(service.ring.jwks(T0)["keys"][0])
    claims = jwt.decode(
        token,
        jwk.key,
        algorithms=["EdDSA"],
        audience="org_1",
        issuer=ISSUER,
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["sub"] == "cons_1"
    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "kid": key.kid, "typ": "JWT"}


def test_a_ring_of_retired_keys_cannot_sign(key: SigningKey) -> None:
    retired = SigningKey(key.kid, key.private_key, key.created_at, T0)
    with pytest.raises(LookupError):
        KeyRing((retired,)).signer(T0)
