"""What every admin route shares: authentication, the error format, request ids, probes and
the OpenAPI document."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fanfare_testing import Tenant

from .helpers import MINIMAL, assert_error, bearer, error_fields, json_of, path

# One call of each admin route family: (method, path, JSON body or None).
PROTECTED = [
    ("GET", "/api/v1/queues", None),
    ("POST", "/api/v1/queues", {"sequenceId": "seq_01JDQ8Z6W3K9X2M4N5P6Q7R8SA"}),
    ("GET", "/api/v1/draws/draw_01JDQ8Z6W3K9X2M4N5P6Q7R8SA", None),
    ("PUT", "/api/v1/auctions/auction_01JDQ8Z6W3K9X2M4N5P6Q7R8SA", {"name": "x"}),
    ("DELETE", "/api/v1/queues/queue_01JDQ8Z6W3K9X2M4N5P6Q7R8SA", None),
    ("GET", "/api/v1/experiences", None),
    ("POST", "/api/v1/sequences", {"experienceId": "exp_1", "name": "x"}),
    ("GET", "/api/v1/api-keys", None),
    ("POST", "/api/v1/api-keys", {"kind": "secret"}),
    ("DELETE", "/api/v1/api-keys/key_01JDQ8Z6W3K9X2M4N5P6Q7R8SA", None),
]


def credentials(tenant: Tenant) -> list[tuple[str, dict[str, str]]]:
    return [
        ("missing", {}),
        ("bearer-without-key", {"Authorization": "Bearer"}),
        ("unknown-secret", bearer("sk_test_" + "A" * 32)),
        ("garbage", bearer("not-a-key")),
        ("publishable", bearer(tenant.publishable_key)),
        ("basic-scheme", {"Authorization": f"Basic {tenant.secret_key}"}),
        ("bare-key", {"Authorization": tenant.secret_key}),
    ]


@pytest.mark.parametrize(("method", "url", "body"), PROTECTED)
async def test_every_admin_route_requires_a_secret_key(
    anonymous: httpx.AsyncClient, tenant: Tenant, method: str, url: str, body: Any
) -> None:
    for label, headers in credentials(tenant):
        response = await anonymous.request(method, url, json=body, headers=headers)
        assert response.status_code == 401, (label, response.text)
        assert_error(response, 401, "Authentication required")
        assert response.headers["www-authenticate"] == "Bearer", label


async def test_authentication_comes_before_validation(
    anonymous: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await anonymous.post(
        path("queue"), json={"maxCapacity": "many"}, headers=bearer(tenant.publishable_key)
    )
    assert_error(response, 401, "Authentication required")
    response = await anonymous.post(
        path("queue"), content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_error(response, 401, "Authentication required")


async def test_the_bearer_scheme_is_case_insensitive(
    anonymous: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await anonymous.get(
        path("queue"), headers={"Authorization": f"bearer {tenant.secret_key}"}
    )
    assert json_of(response, 200) == {"data": [], "nextCursor": None}


async def test_a_sane_request_id_is_echoed_and_others_are_replaced(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    body = {"sequenceId": tenant.sequence_id, **MINIMAL["queue"]}
    echoed = [
        await client.get(path("queue"), headers={"X-Request-Id": "abc-123"}),
        await client.post(path("queue"), json=body, headers={"X-Request-Id": "trace.42:7_x"}),
        await client.post(path("queue"), json={}, headers={"X-Request-Id": "bad-body"}),
        await client.get(path("queue", "queue_x"), headers={"X-Request-Id": "missing"}),
        await client.get(path("queue"), headers={"X-Request-Id": "anon", "Authorization": ""}),
    ]
    assert [r.status_code for r in echoed] == [200, 201, 400, 404, 401]
    assert [r.headers["x-request-id"] for r in echoed] == [
        "abc-123",
        "trace.42:7_x",
        "bad-body",
        "missing",
        "anon",
    ]

    replaced = [
        await client.get(path("queue"), headers={"X-Request-Id": "has space"}),
        await client.get(path("queue"), headers={"X-Request-Id": "x" * 129}),
        await client.get(path("queue"), headers={"X-Request-Id": "<script>"}),
        await client.get(path("queue")),
        await client.get(path("queue")),
    ]
    generated = [r.headers["x-request-id"] for r in replaced]
    assert all(value.startswith("req_") and len(value) > 10 for value in generated), generated
    assert len(set(generated)) == len(generated)


async def test_unknown_routes_and_methods_use_the_error_format(client: httpx.AsyncClient) -> None:
    responses = [
        await client.get("/api/v1/nothing-here"),
        await client.patch(path("queue"), json={}),
        await client.get("/api/v1/nothing-here", headers={"X-Request-Id": "lost-1"}),
    ]
    assert [
        (r.status_code, r.json(), r.headers.get("x-request-id") is not None) for r in responses
    ] == [
        (404, {"error": "Not found"}, True),
        (405, {"error": "Method not allowed"}, True),
        (404, {"error": "Not found"}, True),
    ]
    assert responses[2].headers["x-request-id"] == "lost-1"


async def test_json_bodies_are_read_whatever_the_charset(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    # A JSON body without a content type is still read as JSON (curl -d sends a form type).
    response = await client.post(
        path("queue"),
        content=f'{{"sequenceId": "{tenant.sequence_id}"}}'.encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert json_of(response, 201)["status"] == "DRAFT"
    assert error_fields(await client.post(path("queue"), content=b"{}")) == ["sequenceId"]


async def test_health_and_readiness(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/healthz")
    assert json_of(response, 200) == {"status": "ok"}
    assert response.headers.get("x-request-id")
    response = await anonymous.get("/readyz")
    assert json_of(response, 200) == {
        "status": "ready",
        "checks": {"postgres": True, "redis": True, "nats": True},
    }


OPERATIONS = {
    f"{verb}{noun}"
    for label in ("Queue", "Draw", "Auction", "Experience", "Sequence")
    for verb, noun in (
        ("create", label),
        ("list", f"{label}s"),
        ("get", label),
        ("update", label),
        ("delete", label),
    )
} | {"createApiKey", "listApiKeys", "revokeApiKey"}


async def test_the_openapi_document_lists_every_operation(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/docs/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "Fanfare Admin API"
    operations = {
        operation["operationId"]: (url, method)
        for url, item in document["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "operationId" in operation
    }
    assert set(operations) == OPERATIONS
    assert operations["createQueue"] == ("/api/v1/queues", "post")
    assert operations["listDraws"] == ("/api/v1/draws", "get")
    assert operations["updateAuction"][1] == "put"
    assert operations["updateAuction"][0].startswith("/api/v1/auctions/{")
    assert operations["revokeApiKey"][1] == "delete"
    assert "bearer" in {
        scheme.get("scheme") for scheme in document["components"]["securitySchemes"].values()
    }
    # The request bodies are documented with the spec's camelCase fields.
    schemas = document["components"]["schemas"]
    create_queue = next(s for name, s in schemas.items() if name.endswith("CreateQueueRequest"))
    assert {"sequenceId", "openAt", "maxCapacity", "admissionRate"} <= set(
        create_queue["properties"]
    )
    assert create_queue["required"] == ["sequenceId"]
