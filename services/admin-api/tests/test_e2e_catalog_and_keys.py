"""Experiences, sequences and API keys over HTTP against the running admin API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fanfare_testing import Tenant

from .helpers import (
    EMPTY_PAGE,
    MINIMAL,
    assert_error,
    bearer,
    error_fields,
    instant,
    is_id,
    is_instant,
    json_of,
    path,
)

UNKNOWN_EXPERIENCE = "exp_01JDQ8Z6W3K9X2M4N5P6Q7R8SA"
UNKNOWN_SEQUENCE = "seq_01JDQ8Z6W3K9X2M4N5P6Q7R8SA"


async def new_experience(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    made: dict[str, Any] = json_of(
        await client.post("/api/v1/experiences", json={"name": "Spring Drop", **fields}), 201
    )
    return made


async def new_sequence(
    client: httpx.AsyncClient, experience_id: str, **fields: Any
) -> dict[str, Any]:
    body = {"experienceId": experience_id, "name": "Members", **fields}
    made: dict[str, Any] = json_of(await client.post("/api/v1/sequences", json=body), 201)
    return made


async def get_json(client: httpx.AsyncClient, url: str, **params: Any) -> Any:
    return json_of(await client.get(url, params=params), 200)


# --- experiences ------------------------------------------------------------------------------


async def test_an_experience_is_created_read_updated_and_deleted(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    made = await new_experience(client, metadata={"season": "spring", "year": 2030})
    assert set(made) == {"id", "organizationId", "name", "metadata", "createdAt", "updatedAt"}
    assert is_id(made["id"], "exp")
    assert (made["organizationId"], made["name"], made["metadata"]) == (
        tenant.organization_id,
        "Spring Drop",
        {"season": "spring", "year": 2030},
    )
    assert is_instant(made["createdAt"])
    assert made["updatedAt"] == made["createdAt"]
    url = f"/api/v1/experiences/{made['id']}"
    assert await get_json(client, url) == made

    renamed = json_of(await client.put(url, json={"name": "Summer Drop"}), 200)
    assert renamed == {**made, "name": "Summer Drop", "updatedAt": renamed["updatedAt"]}
    assert instant(renamed["updatedAt"]) > instant(made["updatedAt"])
    cleared = json_of(await client.put(url, json={"metadata": None}), 200)
    assert cleared == {**renamed, "metadata": None, "updatedAt": cleared["updatedAt"]}
    assert await get_json(client, url) == cleared

    response = await client.delete(url)
    assert (response.status_code, response.content) == (204, b"")
    assert_error(await client.get(url), 404, "Experience not found")
    assert_error(await client.put(url, json={"name": "Again"}), 404, "Experience not found")
    assert_error(await client.delete(url), 404, "Experience not found")
    listed = await get_json(client, "/api/v1/experiences")
    assert [item["id"] for item in listed["data"]] == [tenant.experience_id]


async def test_experiences_are_listed_newest_first_in_pages(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    first = await new_experience(client, name="One")
    second = await new_experience(client, name="Two")
    page = await get_json(client, "/api/v1/experiences", limit=2)
    assert page["data"] == [second, first]
    assert isinstance(page["nextCursor"], str)
    rest = await get_json(client, "/api/v1/experiences", limit=2, cursor=page["nextCursor"])
    assert [item["id"] for item in rest["data"]] == [tenant.experience_id]
    assert rest["nextCursor"] is None
    assert error_fields(await client.get("/api/v1/experiences", params={"limit": 0})) == ["limit"]
    assert error_fields(await client.get("/api/v1/experiences", params={"cursor": "x"})) == [
        "cursor"
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": 7}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "Drop", "metadata": "text"}, "metadata"),
        ({"name": "Drop", "colour": "red"}, "colour"),
    ],
)
async def test_an_invalid_experience_is_refused(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], field: str
) -> None:
    assert error_fields(await client.post("/api/v1/experiences", json=body)) == [field]
    listed = await get_json(client, "/api/v1/experiences")
    assert [item["id"] for item in listed["data"]] == [tenant.experience_id]


async def test_an_experience_with_sequences_cannot_be_deleted(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    url = f"/api/v1/experiences/{tenant.experience_id}"
    assert_error(await client.delete(url), 409, "Cannot delete an experience that has sequences")
    assert (await get_json(client, url))["id"] == tenant.experience_id
    # Once its sequence is gone, it can go.
    assert (await client.delete(f"/api/v1/sequences/{tenant.sequence_id}")).status_code == 204
    assert (await client.delete(url)).status_code == 204
    assert_error(await client.get(url), 404, "Experience not found")


# --- sequences --------------------------------------------------------------------------------


async def test_a_sequence_is_created_read_updated_and_deleted(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    made = await new_sequence(client, tenant.experience_id, orderLimit=2)
    assert set(made) == {
        "id",
        "organizationId",
        "experienceId",
        "name",
        "orderLimit",
        "createdAt",
        "updatedAt",
    }
    assert is_id(made["id"], "seq")
    assert (made["organizationId"], made["experienceId"], made["name"], made["orderLimit"]) == (
        tenant.organization_id,
        tenant.experience_id,
        "Members",
        2,
    )
    assert made["createdAt"] == made["updatedAt"]
    url = f"/api/v1/sequences/{made['id']}"
    assert await get_json(client, url) == made

    updated = json_of(await client.put(url, json={"name": "Everyone", "orderLimit": None}), 200)
    assert updated == {
        **made,
        "name": "Everyone",
        "orderLimit": None,
        "updatedAt": updated["updatedAt"],
    }
    kept = json_of(await client.put(url, json={"orderLimit": 5}), 200)
    assert kept == {**updated, "orderLimit": 5, "updatedAt": kept["updatedAt"]}
    assert await get_json(client, url) == kept

    response = await client.delete(url)
    assert (response.status_code, response.content) == (204, b"")
    assert_error(await client.get(url), 404, "Sequence not found")
    assert_error(await client.put(url, json={"name": "Again"}), 404, "Sequence not found")
    assert_error(await client.delete(url), 404, "Sequence not found")
    # A deleted sequence takes no new distributions.
    body = {"sequenceId": made["id"], **MINIMAL["queue"]}
    assert error_fields(await client.post(path("queue"), json=body)) == ["sequenceId"]


async def test_sequences_are_listed_and_filtered_by_experience(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    other_experience = await new_experience(client, name="Other")
    second = await new_sequence(client, tenant.experience_id, name="Second")
    elsewhere = await new_sequence(client, other_experience["id"], name="Elsewhere")

    everything = await get_json(client, "/api/v1/sequences")
    assert [item["id"] for item in everything["data"]] == [
        elsewhere["id"],
        second["id"],
        tenant.sequence_id,
    ]
    assert everything["nextCursor"] is None
    in_first = await get_json(client, "/api/v1/sequences", experienceId=tenant.experience_id)
    assert [item["id"] for item in in_first["data"]] == [second["id"], tenant.sequence_id]
    in_other = await get_json(client, "/api/v1/sequences", experienceId=other_experience["id"])
    assert in_other == {"data": [elsewhere], "nextCursor": None}
    assert await get_json(client, "/api/v1/sequences", experienceId=UNKNOWN_EXPERIENCE) == (
        EMPTY_PAGE
    )

    page = await get_json(client, "/api/v1/sequences", limit=2)
    assert [item["id"] for item in page["data"]] == [elsewhere["id"], second["id"]]
    rest = await get_json(client, "/api/v1/sequences", limit=2, cursor=page["nextCursor"])
    assert [item["id"] for item in rest["data"]] == [tenant.sequence_id]
    assert rest["nextCursor"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "No experience"}, "experienceId"),
        ({"experienceId": UNKNOWN_EXPERIENCE, "name": "Lost"}, "experienceId"),
        ({"experienceId": None, "name": "Lost"}, "experienceId"),
        ({"name": ""}, "name"),
        ({"orderLimit": 0}, "orderLimit"),
        ({"orderLimit": "2"}, "orderLimit"),
        ({"orderLimit": 1.5}, "orderLimit"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_an_invalid_sequence_is_refused(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], field: str
) -> None:
    full = {"experienceId": tenant.experience_id, "name": "Members", **body}
    if "experienceId" not in body and field == "experienceId":
        del full["experienceId"]
    assert error_fields(await client.post("/api/v1/sequences", json=full)) == [field]
    listed = await get_json(client, "/api/v1/sequences")
    assert [item["id"] for item in listed["data"]] == [tenant.sequence_id]


async def test_a_sequence_cannot_be_moved_or_broken_by_an_update(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    url = f"/api/v1/sequences/{tenant.sequence_id}"
    before = await get_json(client, url)
    for body, field in (
        ({"experienceId": UNKNOWN_EXPERIENCE}, "experienceId"),
        ({"orderLimit": 0}, "orderLimit"),
        ({"name": ""}, "name"),
    ):
        assert error_fields(await client.put(url, json=body)) == [field]
    assert await get_json(client, url) == before


@pytest.mark.parametrize("kind", ["queue", "draw", "auction"])
async def test_a_sequence_with_distributions_cannot_be_deleted(
    client: httpx.AsyncClient, tenant: Tenant, kind: str
) -> None:
    body = {"sequenceId": tenant.sequence_id, **MINIMAL[kind]}
    distribution = json_of(await client.post(path(kind), json=body), 201)
    url = f"/api/v1/sequences/{tenant.sequence_id}"
    assert_error(await client.delete(url), 409, "Cannot delete a sequence that has distributions")
    assert (await get_json(client, url))["id"] == tenant.sequence_id
    # Deleted distributions do not count.
    assert (await client.delete(path(kind, distribution["id"]))).status_code == 204
    assert (await client.delete(url)).status_code == 204
    assert_error(await client.get(url), 404, "Sequence not found")


async def test_another_organizations_catalog_is_invisible(
    client: httpx.AsyncClient,
    other_client: httpx.AsyncClient,
    tenant: Tenant,
    other_tenant: Tenant,
) -> None:
    experience_url = f"/api/v1/experiences/{tenant.experience_id}"
    sequence_url = f"/api/v1/sequences/{tenant.sequence_id}"
    assert_error(await other_client.get(experience_url), 404, "Experience not found")
    assert_error(
        await other_client.put(experience_url, json={"name": "Mine now"}),
        404,
        "Experience not found",
    )
    assert_error(await other_client.delete(experience_url), 404, "Experience not found")
    assert_error(await other_client.get(sequence_url), 404, "Sequence not found")
    assert_error(
        await other_client.put(sequence_url, json={"name": "Mine now"}), 404, "Sequence not found"
    )
    assert_error(await other_client.delete(sequence_url), 404, "Sequence not found")

    theirs = await get_json(other_client, "/api/v1/experiences")
    assert [item["id"] for item in theirs["data"]] == [other_tenant.experience_id]
    theirs = await get_json(other_client, "/api/v1/sequences")
    assert [item["id"] for item in theirs["data"]] == [other_tenant.sequence_id]
    filtered = await get_json(other_client, "/api/v1/sequences", experienceId=tenant.experience_id)
    assert filtered == EMPTY_PAGE

    # A sequence cannot be made in another organization's experience.
    response = await other_client.post(
        "/api/v1/sequences", json={"experienceId": tenant.experience_id, "name": "Sneaky"}
    )
    assert error_fields(response) == ["experienceId"]
    mine = await get_json(client, "/api/v1/sequences", experienceId=tenant.experience_id)
    assert [item["id"] for item in mine["data"]] == [tenant.sequence_id]
    assert (await get_json(client, experience_url))["name"] == "Drop"


# --- API keys ---------------------------------------------------------------------------------

KEY_FIELDS = {"id", "kind", "mode", "name", "displayPrefix", "active", "createdAt", "revokedAt"}


@pytest.mark.parametrize(
    ("body", "prefix", "mode"),
    [
        ({"kind": "secret"}, "sk_test_", "test"),
        ({"kind": "secret", "mode": "live"}, "sk_live_", "live"),
        ({"kind": "publishable"}, "pk_test_", "test"),
        ({"kind": "publishable", "mode": "live", "name": "Storefront"}, "pk_live_", "live"),
    ],
)
async def test_a_key_is_shown_once_and_never_listed(
    client: httpx.AsyncClient, body: dict[str, Any], prefix: str, mode: str
) -> None:
    issued = json_of(await client.post("/api/v1/api-keys", json=body), 201)
    assert set(issued) == {*KEY_FIELDS, "key"}
    assert issued["key"].startswith(prefix)
    assert len(issued["key"]) > len(prefix) + 16
    assert is_id(issued["id"], "key")
    assert (issued["kind"], issued["mode"], issued["name"], issued["active"]) == (
        body["kind"],
        mode,
        body.get("name"),
        True,
    )
    assert issued["displayPrefix"] == issued["key"][: len(issued["displayPrefix"])]
    assert issued["displayPrefix"].startswith(prefix)
    assert issued["revokedAt"] is None
    assert is_instant(issued["createdAt"])

    listed = json_of(await client.get("/api/v1/api-keys"), 200)
    assert len(listed) == 3  # the tenant's two first keys and this one
    for key in listed:
        assert set(key) == KEY_FIELDS
    assert issued["key"] not in (await client.get("/api/v1/api-keys")).text
    new = [key for key in listed if key["id"] == issued["id"]]
    assert new == [{k: v for k, v in issued.items() if k != "key"}]


async def test_a_new_secret_key_works_and_a_revoked_one_stops_at_once(
    admin_api: str, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    issued = json_of(
        await client.post("/api/v1/api-keys", json={"kind": "secret", "name": "CI"}), 201
    )
    async with httpx.AsyncClient(base_url=admin_api, headers=bearer(issued["key"])) as second:
        listed = json_of(await second.get("/api/v1/experiences"), 200)
        assert [item["id"] for item in listed["data"]] == [tenant.experience_id]

        revoked = json_of(await client.delete(f"/api/v1/api-keys/{issued['id']}"), 200)
        assert set(revoked) == KEY_FIELDS
        assert revoked["active"] is False
        assert is_instant(revoked["revokedAt"])
        assert {k: v for k, v in revoked.items() if k not in ("active", "revokedAt")} == {
            k: v for k, v in issued.items() if k not in ("active", "revokedAt", "key")
        }

        response = await second.get("/api/v1/experiences")
        assert_error(response, 401, "Authentication required")
        assert response.headers["www-authenticate"] == "Bearer"

    listed_keys = json_of(await client.get("/api/v1/api-keys"), 200)
    assert [key for key in listed_keys if key["id"] == issued["id"]] == [revoked]
    # Revoking again changes nothing.
    again = json_of(await client.delete(f"/api/v1/api-keys/{issued['id']}"), 200)
    assert again == revoked
    # The original key still works.
    assert (await client.get("/api/v1/api-keys")).status_code == 200


async def test_the_last_active_secret_key_cannot_be_revoked(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    url = f"/api/v1/api-keys/{tenant.principal.key_id}"
    assert_error(await client.delete(url), 409, "Cannot revoke the last active secret key")
    assert (await client.get("/api/v1/api-keys")).status_code == 200

    # With a second secret key, the first can go; then the second is the last one.
    issued = json_of(await client.post("/api/v1/api-keys", json={"kind": "secret"}), 201)
    assert json_of(await client.delete(url), 200)["active"] is False
    assert_error(await client.get("/api/v1/api-keys"), 401, "Authentication required")
    async with httpx.AsyncClient(
        base_url=str(client.base_url), headers=bearer(issued["key"])
    ) as second:
        assert_error(
            await second.delete(f"/api/v1/api-keys/{issued['id']}"),
            409,
            "Cannot revoke the last active secret key",
        )


async def test_publishable_keys_can_be_revoked_and_do_not_open_the_admin_api(
    admin_api: str, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    issued = json_of(await client.post("/api/v1/api-keys", json={"kind": "publishable"}), 201)
    async with httpx.AsyncClient(base_url=admin_api, headers=bearer(issued["key"])) as browser:
        assert_error(await browser.get("/api/v1/queues"), 401, "Authentication required")
    listed = json_of(await client.get("/api/v1/api-keys"), 200)
    publishable = [key["id"] for key in listed if key["kind"] == "publishable"]
    for key_id in publishable:
        assert json_of(await client.delete(f"/api/v1/api-keys/{key_id}"), 200)["active"] is False
    listed = json_of(await client.get("/api/v1/api-keys"), 200)
    assert {key["id"] for key in listed if not key["active"]} == set(publishable)


async def test_unknown_and_foreign_key_ids_are_not_found(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, tenant: Tenant
) -> None:
    assert_error(
        await client.delete("/api/v1/api-keys/key_01JDQ8Z6W3K9X2M4N5P6Q7R8SA"),
        404,
        "API key not found",
    )
    # Another organization can neither revoke nor list this tenant's keys.
    assert_error(
        await other_client.delete(f"/api/v1/api-keys/{tenant.principal.key_id}"),
        404,
        "API key not found",
    )
    theirs = json_of(await other_client.get("/api/v1/api-keys"), 200)
    assert tenant.principal.key_id not in {key["id"] for key in theirs}
    assert (await client.get("/api/v1/api-keys")).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "kind"),
        ({"kind": "admin"}, "kind"),
        ({"kind": "secret", "mode": "prod"}, "mode"),
        ({"kind": "secret", "name": 3}, "name"),
        ({"kind": "secret", "scope": "all"}, "scope"),
    ],
)
async def test_an_invalid_key_request_is_refused(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    assert error_fields(await client.post("/api/v1/api-keys", json=body)) == [field]
    assert len(json_of(await client.get("/api/v1/api-keys"), 200)) == 2
