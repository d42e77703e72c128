"""Consumer sessions over HTTP against the running consumer API: guests, external
identities, one-time codes, refresh, logout, the JWKS and the publishable key."""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

import httpx
import jwt
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.clock import SystemClock
from fanfare_core.domain.organizations import KeyKind
from fanfare_core.service_layer.organizations import revoke_api_key
from fanfare_testing import Tenant

from .helpers import (
    FINGERPRINT_FAILED,
    INVALID_ACCESS_TOKEN,
    SESSION_FIELDS,
    assert_error,
    bearer,
    claims_of,
    field_errors,
    header_of,
    is_id,
    json_of,
    seconds_from_now,
)

Pool = AsyncConnectionPool[AsyncConnection]


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def guest(browser: httpx.AsyncClient, fingerprint: str | None = None) -> dict[str, Any]:
    headers = {} if fingerprint is None else {"X-Fingerprint": fingerprint}
    made: dict[str, Any] = json_of(await browser.post("/api/v1/auth/guest", headers=headers), 201)
    return made


async def session_of(
    browser: httpx.AsyncClient, access_token: str, **headers: str
) -> httpx.Response:
    return await browser.get("/api/v1/auth/session", headers=bearer(access_token) | headers)


async def authorize(server: httpx.AsyncClient, external_id: str, **fields: Any) -> dict[str, Any]:
    body = {"externalId": external_id, **fields}
    made: dict[str, Any] = json_of(
        await server.post("/api/v1/auth/external/authorize", json=body), 201
    )
    return made


async def exchange(browser: httpx.AsyncClient, code: str, **headers: str) -> httpx.Response:
    return await browser.post(
        "/api/v1/auth/external/exchange", json={"code": code}, headers=headers
    )


async def refresh(browser: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await browser.post("/api/v1/auth/refresh", json={"refreshToken": refresh_token})


# --- JWKS and guests --------------------------------------------------------------------------


async def test_the_jwks_is_public_cacheable_and_verifies_a_guest_token_offline(
    anonymous: httpx.AsyncClient, browser: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await anonymous.get("/.well-known/jwks.json")
    jwks = json_of(response, 200)
    assert response.headers["cache-control"] == "public, max-age=300"
    assert set(jwks) == {"keys"}
    assert jwks["keys"]
    for key in jwks["keys"]:
        assert set(key) == {"kty", "crv", "x", "kid", "use", "alg"}
        assert (key["kty"], key["crv"], key["use"], key["alg"]) == (
            "OKP",
            "Ed25519",
            "sig",
            "EdDSA",
        )

    made = await guest(browser)
    kid = header_of(made["accessToken"])["kid"]
    public = jwt.PyJWKSet.from_dict(jwks)[kid]
    claims = jwt.decode(
        made["accessToken"],
        public.key,
        algorithms=["EdDSA"],
        audience=tenant.organization_id,
        issuer="fanfare",
    )
    assert claims["sub"] == made["consumerId"]


async def test_each_guest_sign_in_makes_a_new_consumer_with_an_access_and_a_refresh_token(
    browser: httpx.AsyncClient, tenant: Tenant
) -> None:
    first = await guest(browser)
    assert set(first) == SESSION_FIELDS
    assert is_id(first["consumerId"], "cons")
    assert first["tokenType"] == "Bearer"
    assert 3590 < seconds_from_now(first["expiresAt"]) <= 3600
    assert len(first["refreshToken"]) >= 43
    assert header_of(first["accessToken"]) == {
        "alg": "EdDSA",
        "kid": header_of(first["accessToken"])["kid"],
        "typ": "JWT",
    }
    claims = claims_of(first["accessToken"])
    assert set(claims) == {"iss", "aud", "sub", "typ", "iat", "exp", "jti", "sid"}
    assert (claims["iss"], claims["aud"], claims["sub"], claims["typ"]) == (
        "fanfare",
        tenant.organization_id,
        first["consumerId"],
        "access",
    )
    assert claims["exp"] - claims["iat"] == 3600
    assert is_id(claims["sid"], "sess")
    assert is_id(claims["jti"], "tok")

    second = await guest(browser)
    assert second["consumerId"] != first["consumerId"]
    for made in (first, second):
        current = json_of(await session_of(browser, made["accessToken"]), 200)
        assert current == {
            "consumerId": made["consumerId"],
            "organizationId": tenant.organization_id,
        }


async def test_a_guest_session_is_bound_to_the_fingerprint_it_signed_in_with(
    browser: httpx.AsyncClient,
) -> None:
    made = await guest(browser, "fp_device-1")
    assert claims_of(made["accessToken"])["fph"] == sha256("fp_device-1")
    token = made["accessToken"]
    assert (await session_of(browser, token, **{"X-Fingerprint": "fp_device-1"})).status_code == 200
    assert (await session_of(browser, token)).status_code == 200  # the header is optional
    assert_error(
        await session_of(browser, token, **{"X-Fingerprint": "fp_device-2"}),
        400,
        FINGERPRINT_FAILED,
    )
    assert_error(
        await session_of(browser, token, **{"X-Fingerprint": "not valid!"}), 400, FINGERPRINT_FAILED
    )
    # An unbound session takes any well-formed fingerprint.
    unbound = (await guest(browser))["accessToken"]
    assert (await session_of(browser, unbound, **{"X-Fingerprint": "fp_any"})).status_code == 200
    assert_error(
        await session_of(browser, unbound, **{"X-Fingerprint": "x" * 257}), 400, FINGERPRINT_FAILED
    )


async def test_a_malformed_fingerprint_signs_nobody_in(browser: httpx.AsyncClient) -> None:
    for fingerprint in ("", "has space", "x" * 257, "semi;colon"):
        response = await browser.post("/api/v1/auth/guest", headers={"X-Fingerprint": fingerprint})
        assert_error(response, 400, FINGERPRINT_FAILED)
    assert set(await guest(browser, "A.b_c:d-9" + "x" * 247)) == SESSION_FIELDS


# --- the publishable key ----------------------------------------------------------------------


async def test_browser_routes_need_an_active_publishable_key(
    anonymous: httpx.AsyncClient, browser: httpx.AsyncClient, tenant: Tenant, pool: Pool
) -> None:
    made = await guest(browser)
    for headers in (
        {},
        {"X-Publishable-Key": ""},
        {"X-Publishable-Key": "pk_test_" + "x" * 32},
        {"X-Publishable-Key": tenant.secret_key},
        {"Authorization": f"Bearer {tenant.publishable_key}"},
    ):
        for method, url, body in (
            ("POST", "/api/v1/auth/guest", None),
            ("POST", "/api/v1/auth/external/exchange", {"code": "x"}),
            ("POST", "/api/v1/auth/external/exchange", {"unknown": 1}),
            ("POST", "/api/v1/auth/refresh", {"refreshToken": made["refreshToken"]}),
            ("POST", "/api/v1/auth/logout", None),
            ("GET", "/api/v1/auth/session", None),
        ):
            sent = headers if "Authorization" in headers else headers | bearer(made["accessToken"])
            response = await anonymous.request(method, url, json=body, headers=sent)
            assert_error(response, 401, "Authentication required")

    # A revoked publishable key stops working within the key cache's lifetime (1 s here).
    async with UnitOfWork(pool) as uow:
        keys = await uow.organizations.keys(tenant.organization_id)
    key_id = next(k.id for k in keys if k.kind is KeyKind.PUBLISHABLE)
    await revoke_api_key(UnitOfWork(pool), SystemClock(), tenant.principal, key_id)
    deadline = time.monotonic() + 5
    while (response := await browser.post("/api/v1/auth/guest")).status_code == 201:
        assert time.monotonic() < deadline, "the revoked key kept working"
        await asyncio.sleep(0.1)
    assert_error(response, 401, "Authentication required")
    assert_error(await session_of(browser, made["accessToken"]), 401, "Authentication required")


# --- external identities ----------------------------------------------------------------------


async def test_a_storefront_customer_is_always_the_same_consumer_and_each_code_works_once(
    browser: httpx.AsyncClient,
    storefront_server: httpx.AsyncClient,
    tenant: Tenant,
    other_tenant: Tenant,
    consumer_api: str,
) -> None:
    first = await authorize(storefront_server, "customer-42")
    assert set(first) == {"code", "expiresAt", "consumerId"}
    assert is_id(first["consumerId"], "cons")
    assert 110 < seconds_from_now(first["expiresAt"]) <= 120
    second = await authorize(storefront_server, "customer-42")
    assert second["consumerId"] == first["consumerId"]
    assert second["code"] != first["code"]
    someone_else = await authorize(storefront_server, "customer-43")
    assert someone_else["consumerId"] != first["consumerId"]
    async with httpx.AsyncClient(
        base_url=consumer_api, headers=bearer(other_tenant.secret_key), timeout=10
    ) as other_server:
        elsewhere = await authorize(other_server, "customer-42")
    assert elsewhere["consumerId"] not in {first["consumerId"], someone_else["consumerId"]}

    signed_in = json_of(await exchange(browser, first["code"]), 200)
    assert set(signed_in) == SESSION_FIELDS
    assert signed_in["consumerId"] == first["consumerId"]
    assert signed_in["tokenType"] == "Bearer"
    claims = claims_of(signed_in["accessToken"])
    assert (claims["sub"], claims["aud"]) == (first["consumerId"], tenant.organization_id)
    assert "fph" not in claims
    assert_error(await exchange(browser, first["code"]), 400, "Invalid exchange code")

    # The second code is a second session of the same consumer; logging one out leaves the other.
    again = json_of(await exchange(browser, second["code"]), 200)
    assert again["consumerId"] == first["consumerId"]
    assert claims_of(again["accessToken"])["sid"] != claims["sid"]
    logout = await browser.post("/api/v1/auth/logout", headers=bearer(signed_in["accessToken"]))
    assert logout.status_code == 204
    assert (await session_of(browser, again["accessToken"])).status_code == 200
    assert_error(await session_of(browser, signed_in["accessToken"]), 401, INVALID_ACCESS_TOKEN)


async def test_unknown_expired_and_foreign_codes_are_refused(
    browser: httpx.AsyncClient,
    storefront_server: httpx.AsyncClient,
    other_tenant: Tenant,
    consumer_api: str,
    pool: Pool,
) -> None:
    assert_error(await exchange(browser, "no-such-code"), 400, "Invalid exchange code")
    assert_error(await exchange(browser, ""), 400, "Invalid exchange code")

    expired = await authorize(storefront_server, "customer-late")
    async with pool.connection() as conn:
        cur = await conn.execute(
            "UPDATE exchange_codes SET expires_at = now() - interval '1 second'"
            " WHERE code_hash = %s",
            (sha256(expired["code"]),),
        )
        assert cur.rowcount == 1
    assert_error(await exchange(browser, expired["code"]), 400, "Invalid exchange code")

    code = await authorize(storefront_server, "customer-abroad")
    async with httpx.AsyncClient(
        base_url=consumer_api, headers={"X-Publishable-Key": other_tenant.publishable_key}
    ) as other_browser:
        assert_error(await exchange(other_browser, code["code"]), 400, "Invalid exchange code")
    # Another organization's attempt did not spend it.
    assert json_of(await exchange(browser, code["code"]), 200)["consumerId"] == code["consumerId"]


async def test_an_exchanged_session_is_bound_to_the_fingerprint_of_the_code_or_the_browser(
    browser: httpx.AsyncClient, storefront_server: httpx.AsyncClient
) -> None:
    bound = await authorize(storefront_server, "customer-device", fingerprint="fp_laptop")
    refused = await exchange(browser, bound["code"], **{"X-Fingerprint": "fp_phone"})
    assert_error(refused, 400, FINGERPRINT_FAILED)
    assert_error(
        await exchange(browser, bound["code"], **{"X-Fingerprint": "bad print"}),
        400,
        FINGERPRINT_FAILED,
    )
    signed_in = json_of(
        await exchange(browser, bound["code"], **{"X-Fingerprint": "fp_laptop"}), 200
    )
    assert claims_of(signed_in["accessToken"])["fph"] == sha256("fp_laptop")

    unbound = await authorize(storefront_server, "customer-device")
    signed_in = json_of(
        await exchange(browser, unbound["code"], **{"X-Fingerprint": "fp_tab"}), 200
    )
    assert claims_of(signed_in["accessToken"])["fph"] == sha256("fp_tab")
    without_header = await authorize(storefront_server, "customer-device", fingerprint="fp_pc")
    signed_in = json_of(await exchange(browser, without_header["code"]), 200)
    assert claims_of(signed_in["accessToken"])["fph"] == sha256("fp_pc")


async def test_authorize_takes_the_secret_key_and_a_strict_body(
    anonymous: httpx.AsyncClient,
    storefront_server: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    tenant: Tenant,
) -> None:
    url = "/api/v1/auth/external/authorize"
    for headers in (
        {},
        bearer(tenant.publishable_key),
        {"X-Publishable-Key": tenant.publishable_key},
        bearer("sk_test_" + "x" * 32),
    ):
        response = await anonymous.post(url, json={"unknown": True}, headers=headers)
        assert_error(response, 401, "Authentication required")
    assert field_errors(await storefront_server.post(url, json={})) == ["externalId"]
    assert field_errors(await storefront_server.post(url, json={"externalId": 42})) == [
        "externalId"
    ]
    assert field_errors(
        await storefront_server.post(url, json={"externalId": "c-1", "extra": 1})
    ) == ["extra"]
    assert field_errors(
        await storefront_server.post(url, json={"externalId": " ", "fingerprint": "no good"})
    ) == ["externalId", "fingerprint"]
    assert field_errors(await storefront_server.post(url, content=b"not json")) == ["body"]
    exchange_url = "/api/v1/auth/external/exchange"
    assert field_errors(await browser.post(exchange_url, json={"code": 7})) == ["code"]
    assert field_errors(await browser.post("/api/v1/auth/refresh", json={})) == ["refreshToken"]


# --- refresh and logout -----------------------------------------------------------------------


async def test_refresh_rotates_the_refresh_token_and_keeps_session_and_fingerprint(
    browser: httpx.AsyncClient, other_tenant: Tenant, consumer_api: str
) -> None:
    made = await guest(browser, "fp_mine")
    renewed = json_of(await refresh(browser, made["refreshToken"]), 200)
    assert set(renewed) == SESSION_FIELDS
    assert renewed["consumerId"] == made["consumerId"]
    assert renewed["refreshToken"] != made["refreshToken"]
    assert renewed["accessToken"] != made["accessToken"]
    before, after = claims_of(made["accessToken"]), claims_of(renewed["accessToken"])
    assert (after["sid"], after["fph"], after["sub"]) == (
        before["sid"],
        before["fph"],
        before["sub"],
    )
    assert after["jti"] != before["jti"]

    assert_error(await refresh(browser, made["refreshToken"]), 401, "Invalid refresh token")
    third = json_of(await refresh(browser, renewed["refreshToken"]), 200)
    assert third["consumerId"] == made["consumerId"]
    assert_error(await refresh(browser, "garbage"), 401, "Invalid refresh token")
    async with httpx.AsyncClient(
        base_url=consumer_api, headers={"X-Publishable-Key": other_tenant.publishable_key}
    ) as other_browser:
        assert_error(
            await refresh(other_browser, third["refreshToken"]), 401, "Invalid refresh token"
        )
    fingerprint = {"X-Fingerprint": "fp_other"}
    assert_error(
        await session_of(browser, third["accessToken"], **fingerprint), 400, FINGERPRINT_FAILED
    )
    assert (await session_of(browser, third["accessToken"])).status_code == 200


async def test_logout_ends_the_access_and_refresh_tokens_of_the_session(
    browser: httpx.AsyncClient,
) -> None:
    made = await guest(browser)
    renewed = json_of(await refresh(browser, made["refreshToken"]), 200)
    for token in (made["accessToken"], renewed["accessToken"]):
        assert (await session_of(browser, token)).status_code == 200  # verified and cached

    response = await browser.post("/api/v1/auth/logout", headers=bearer(made["accessToken"]))
    assert (response.status_code, response.content) == (204, b"")
    for token in (made["accessToken"], renewed["accessToken"]):
        assert_error(await session_of(browser, token), 401, INVALID_ACCESS_TOKEN)
        logout = await browser.post("/api/v1/auth/logout", headers=bearer(token))
        assert_error(logout, 401, INVALID_ACCESS_TOKEN)
    assert_error(await refresh(browser, renewed["refreshToken"]), 401, "Invalid refresh token")
    assert (await session_of(browser, (await guest(browser))["accessToken"])).status_code == 200


async def test_shopper_routes_need_a_bearer_access_token(browser: httpx.AsyncClient) -> None:
    for url, method in (("/api/v1/auth/session", "GET"), ("/api/v1/auth/logout", "POST")):
        assert_error(await browser.request(method, url), 400, "Consumer ID is required")
        for header in ("Basic dXNlcjpwYXNz", "Bearer", "bearer", "Token abc"):
            response = await browser.request(method, url, headers={"Authorization": header})
            assert_error(response, 401, INVALID_ACCESS_TOKEN)


async def test_the_openapi_document_lists_the_session_routes(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/docs/openapi.json")
    assert response.status_code == 200
    document = response.json()
    operations = {
        operation["operationId"]
        for path in document["paths"].values()
        for operation in path.values()
        if isinstance(operation, dict) and "operationId" in operation
    }
    assert {
        "getJwks",
        "signInGuest",
        "authorizeExternalConsumer",
        "exchangeExternalCode",
        "refreshSession",
        "logout",
        "getSession",
    } <= operations
