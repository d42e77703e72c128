"""Queues, draws and auctions over HTTP against the running admin API (spec: admin
distributions API): create, read, list, update, delete, validation and tenant isolation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from fanfare_testing import Tenant, make_tenant

from .conftest import SetStatus
from .helpers import (
    EMPTY_PAGE,
    KINDS,
    MINIMAL,
    NOT_FOUND,
    UUID,
    assert_error,
    bearer,
    error_fields,
    instant,
    is_id,
    is_instant,
    json_of,
    path,
    without_generated,
)

# The three examples of the spec: request, then response.
SPEC_EXAMPLES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "queue": (
        {
            "sequenceId": "seq_01HXYZ123456789",
            "name": "Launch Day Queue",
            "timeZone": "America/New_York",
            "openAt": "2024-12-15T09:00:00-05:00",
            "closeAt": "2024-12-15T18:00:00-05:00",
            "maxCapacity": 10000,
            "admissionRate": 100,
            "sessionDurationSeconds": 900,
        },
        {
            "id": "queue_01HXYZ123456789",
            "organizationId": "org_01HXYZ123456789",
            "sequenceId": "seq_01HXYZ123456789",
            "name": "Launch Day Queue",
            "timeZone": "America/New_York",
            "status": "SCHEDULED",
            "openAt": "2024-12-15T14:00:00Z",
            "closeAt": "2024-12-15T23:00:00Z",
            "encryptionSeed": "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
            "maxCapacity": 10000,
            "admissionRate": 100,
            "sessionDurationSeconds": 900,
            "metadata": None,
            "createdAt": "2024-12-01T10:00:00Z",
            "updatedAt": "2024-12-01T10:00:00Z",
        },
    ),
    "draw": (
        {
            "sequenceId": "seq_01HXYZ123456789",
            "name": "Holiday Raffle",
            "timeZone": "America/New_York",
            "openAt": "2024-12-01T00:00:00-05:00",
            "closeAt": "2024-12-14T23:59:59-05:00",
            "drawAt": "2024-12-15T12:00:00-05:00",
            "winnerCount": 100,
            "maxEntries": 50000,
        },
        {
            "id": "draw_01HXYZ123456789",
            "organizationId": "org_01HXYZ123456789",
            "sequenceId": "seq_01HXYZ123456789",
            "name": "Holiday Raffle",
            "timeZone": "America/New_York",
            "status": "SCHEDULED",
            "openAt": "2024-12-01T05:00:00Z",
            "closeAt": "2024-12-15T04:59:59Z",
            "drawAt": "2024-12-15T17:00:00Z",
            "winnerCount": 100,
            "encryptionSeed": "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
            "maxEntries": 50000,
            "metadata": None,
            "createdAt": "2024-12-01T10:00:00Z",
            "updatedAt": "2024-12-01T10:00:00Z",
        },
    ),
    "auction": (
        {
            "sequenceId": "seq_01HXYZ123456789",
            "name": "Rare Collectible Auction",
            "timeZone": "America/New_York",
            "openAt": "2024-12-10T09:00:00-05:00",
            "closeAt": "2024-12-15T21:00:00-05:00",
            "settleAt": "2024-12-15T21:30:00-05:00",
            "startingBid": 100,
            "minimumIncrement": 10,
            "reservePrice": 500,
            "buyNowPrice": 2000,
        },
        {
            "id": "auction_01HXYZ123456789",
            "organizationId": "org_01HXYZ123456789",
            "sequenceId": "seq_01HXYZ123456789",
            "name": "Rare Collectible Auction",
            "timeZone": "America/New_York",
            "status": "SCHEDULED",
            "openAt": "2024-12-10T14:00:00Z",
            "closeAt": "2024-12-16T02:00:00Z",
            "settleAt": "2024-12-16T02:30:00Z",
            "startingBid": 100,
            "minimumIncrement": 10,
            "reservePrice": 500,
            "buyNowPrice": 2000,
            "encryptionSeed": "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
            "metadata": None,
            "createdAt": "2024-12-01T10:00:00Z",
            "updatedAt": "2024-12-01T10:00:00Z",
            # Extensions documented by DESIGN.md.
            "winnerCount": 1,
            "currencyCode": "USD",
        },
    ),
}

# A schedule that is valid for every kind (open < close <= draw/settle).
SCHEDULE: dict[str, dict[str, Any]] = {
    "queue": {"openAt": "2030-06-01T09:00:00Z", "closeAt": "2030-06-01T18:00:00Z"},
    "draw": {
        "openAt": "2030-06-01T09:00:00Z",
        "closeAt": "2030-06-01T18:00:00Z",
        "drawAt": "2030-06-01T19:00:00Z",
        "winnerCount": 3,
    },
    "auction": {
        "openAt": "2030-06-01T09:00:00Z",
        "closeAt": "2030-06-01T18:00:00Z",
        "settleAt": "2030-06-01T19:00:00Z",
    },
}

# Nullable settings of each kind, with a valid value.
NULLABLE: dict[str, dict[str, Any]] = {
    "queue": {"maxCapacity": 500, "admissionRate": 60, "sessionDurationSeconds": 600},
    "draw": {"maxEntries": 1000},
    "auction": {
        "startingBid": 100,
        "minimumIncrement": 5,
        "reservePrice": 300,
        "buyNowPrice": 900,
    },
}

CLOSED_STATUSES = [
    ("queue", "CLOSED"),
    ("queue", "COMPLETED"),
    ("draw", "CLOSED"),
    ("draw", "DRAWN"),
    ("draw", "COMPLETED"),
    ("auction", "CLOSED"),
    ("auction", "SETTLED"),
]


async def create(
    client: httpx.AsyncClient, tenant: Tenant, kind: str, **fields: Any
) -> dict[str, Any]:
    """Create a distribution of ``kind`` in the tenant's sequence; return the 201 body."""
    body = {"sequenceId": tenant.sequence_id, **MINIMAL[kind], **fields}
    created: dict[str, Any] = json_of(await client.post(path(kind), json=body), 201)
    return created


async def fetch(client: httpx.AsyncClient, kind: str, distribution_id: str) -> dict[str, Any]:
    found: dict[str, Any] = json_of(await client.get(path(kind, distribution_id)), 200)
    return found


async def listing(client: httpx.AsyncClient, kind: str, **params: Any) -> dict[str, Any]:
    page: dict[str, Any] = json_of(await client.get(path(kind), params=params), 200)
    return page


# --- create ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_the_spec_example_is_reproduced(
    client: httpx.AsyncClient, tenant: Tenant, kind: str
) -> None:
    request, expected = SPEC_EXAMPLES[kind]
    response = await client.post(path(kind), json={**request, "sequenceId": tenant.sequence_id})
    created = json_of(response, 201)

    assert set(created) == set(expected)
    assert without_generated(created) == without_generated(
        {**expected, "sequenceId": tenant.sequence_id}
    )
    assert is_id(created["id"], kind)
    assert created["organizationId"] == tenant.organization_id
    assert UUID.match(created["encryptionSeed"])
    assert is_instant(created["createdAt"])
    assert created["updatedAt"] == created["createdAt"]
    assert response.headers.get("x-request-id")
    # What was written is what is read back.
    assert await fetch(client, kind, created["id"]) == created


@pytest.mark.parametrize("kind", KINDS)
async def test_a_minimal_create_is_a_draft_with_every_field_shown(
    client: httpx.AsyncClient, tenant: Tenant, kind: str
) -> None:
    created = await create(client, tenant, kind)
    common = {
        "sequenceId": tenant.sequence_id,
        "name": None,
        "timeZone": "America/New_York",
        "status": "DRAFT",
        "openAt": None,
        "closeAt": None,
        "metadata": None,
    }
    specific: dict[str, dict[str, Any]] = {
        "queue": {"maxCapacity": None, "admissionRate": None, "sessionDurationSeconds": None},
        "draw": {"drawAt": "2030-06-01T12:00:00Z", "winnerCount": 3, "maxEntries": None},
        "auction": {
            "settleAt": "2030-06-01T12:00:00Z",
            "startingBid": None,
            "minimumIncrement": None,
            "reservePrice": None,
            "buyNowPrice": None,
            "winnerCount": 1,
            "currencyCode": "USD",
        },
    }
    assert without_generated(created) == {**common, **specific[kind]}
    assert UUID.match(created["encryptionSeed"])
    assert created["organizationId"] == tenant.organization_id


async def test_the_encryption_seed_is_kept_when_given_and_unique_when_generated(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    given = await create(client, tenant, "queue", encryptionSeed="my-own-seed-42")
    assert given["encryptionSeed"] == "my-own-seed-42"
    assert (await fetch(client, "queue", given["id"]))["encryptionSeed"] == "my-own-seed-42"
    first = await create(client, tenant, "draw")
    second = await create(client, tenant, "draw")
    assert UUID.match(first["encryptionSeed"])
    assert UUID.match(second["encryptionSeed"])
    assert first["encryptionSeed"] != second["encryptionSeed"]


async def test_name_and_metadata_round_trip(client: httpx.AsyncClient, tenant: Tenant) -> None:
    metadata = {"sku": "SNKR-1", "sizes": [9, 10.5], "limited": True, "nested": {"a": None}}
    created = await create(client, tenant, "queue", name="Drop", metadata=metadata)
    assert created["name"] == "Drop"
    assert created["metadata"] == metadata
    assert (await fetch(client, "queue", created["id"]))["metadata"] == metadata


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {"openAt": "2024-12-15T09:00:00"},
            {"timeZone": "America/New_York", "openAt": "2024-12-15T14:00:00Z"},
            id="naive-in-organization-zone-winter",
        ),
        pytest.param(
            {"openAt": "2024-07-01T09:00:00"},
            {"timeZone": "America/New_York", "openAt": "2024-07-01T13:00:00Z"},
            id="naive-in-organization-zone-summer",
        ),
        pytest.param(
            {"timeZone": "Europe/Paris", "openAt": "2024-07-01T09:00:00"},
            {"timeZone": "Europe/Paris", "openAt": "2024-07-01T07:00:00Z"},
            id="naive-in-request-zone",
        ),
        pytest.param(
            {"timeZone": "Europe/Paris", "openAt": "2024-12-15T09:00:00+09:00"},
            {"timeZone": "Europe/Paris", "openAt": "2024-12-15T00:00:00Z"},
            id="offset-wins-over-zone",
        ),
        pytest.param(
            {"timeZone": "Asia/Tokyo", "openAt": "2024-12-15T09:00:00Z"},
            {"timeZone": "Asia/Tokyo", "openAt": "2024-12-15T09:00:00Z"},
            id="utc-z",
        ),
        pytest.param(
            {"openAt": "2024-12-15T09:00:00.250-05:00"},
            {"timeZone": "America/New_York", "openAt": "2024-12-15T14:00:00.250Z"},
            id="milliseconds-kept",
        ),
        pytest.param(
            {"openAt": "2024-11-03T01:30:00"},
            {"timeZone": "America/New_York", "openAt": "2024-11-03T05:30:00Z"},
            id="ambiguous-wall-time-is-first-occurrence",
        ),
    ],
)
async def test_datetimes_are_read_in_the_right_zone_and_shown_in_utc(
    client: httpx.AsyncClient, tenant: Tenant, fields: dict[str, Any], expected: dict[str, Any]
) -> None:
    created = await create(client, tenant, "queue", **fields)
    assert {key: created[key] for key in expected} == expected
    assert created["status"] == "SCHEDULED"
    assert await fetch(client, "queue", created["id"]) == created


async def test_naive_datetimes_use_the_organizations_own_default_zone(
    admin_api: str, pool: AsyncConnectionPool[AsyncConnection]
) -> None:
    tokyo: Tenant = await make_tenant(pool, "Asia/Tokyo")
    async with httpx.AsyncClient(base_url=admin_api, headers=bearer(tokyo.secret_key)) as http:
        created = await create(
            http,
            tokyo,
            "draw",
            openAt="2024-12-15T09:00:00",
            closeAt="2024-12-15T21:00:00",
            drawAt="2024-12-16T09:00:00",
        )
    assert created["timeZone"] == "Asia/Tokyo"
    assert (created["openAt"], created["closeAt"], created["drawAt"]) == (
        "2024-12-15T00:00:00Z",
        "2024-12-15T12:00:00Z",
        "2024-12-16T00:00:00Z",
    )


async def test_amounts_are_exact_json_numbers(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(
        path("auction"),
        json={
            "sequenceId": tenant.sequence_id,
            "settleAt": "2030-06-01T12:00:00Z",
            "startingBid": 100,
            "minimumIncrement": 10.5,
            "reservePrice": 19.99,
            "buyNowPrice": 2000.00,
        },
    )
    created = json_of(response, 201)
    assert (
        created["startingBid"],
        created["minimumIncrement"],
        created["reservePrice"],
        created["buyNowPrice"],
    ) == (100, 10.5, 19.99, 2000)
    assert type(created["startingBid"]) is int
    assert type(created["buyNowPrice"]) is int
    assert type(created["minimumIncrement"]) is float
    # In the raw text too: numbers, never strings, without trailing zeros.
    for text in ('"startingBid":100,', '"minimumIncrement":10.5,', '"reservePrice":19.99,'):
        assert text in response.text.replace(" ", "")
    assert '"buyNowPrice":2000,' in response.text.replace(" ", "")
    again = await fetch(client, "auction", created["id"])
    assert again == created


async def test_an_auction_takes_its_currency_and_winner_count(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    created = await create(
        client, tenant, "auction", currencyCode="JPY", winnerCount=3, startingBid=1500
    )
    assert (created["currencyCode"], created["winnerCount"], created["startingBid"]) == (
        "JPY",
        3,
        1500,
    )


# --- create: validation ---------------------------------------------------------------------

OPEN, CLOSE = "2030-06-01T09:00:00Z", "2030-06-01T18:00:00Z"
UNKNOWN_SEQUENCE = "seq_01JDQ8Z6W3K9X2M4N5P6Q7R8SA"
INVALID_CREATES = [
    # (id, kind, fields to add or override, fields to remove, the field named)
    ("unknown-field", "queue", {"colour": "red"}, (), "colour"),
    ("field-of-another-kind", "draw", {"maxCapacity": 10}, (), "maxCapacity"),
    ("string-for-integer", "queue", {"maxCapacity": "10"}, (), "maxCapacity"),
    ("string-for-winner-count", "draw", {"winnerCount": "3"}, (), "winnerCount"),
    ("float-winner-count", "draw", {"winnerCount": 1.5}, (), "winnerCount"),
    ("float-auction-winner-count", "auction", {"winnerCount": 2.5}, (), "winnerCount"),
    ("boolean-for-integer", "queue", {"admissionRate": True}, (), "admissionRate"),
    ("boolean-max-entries", "draw", {"maxEntries": False}, (), "maxEntries"),
    ("number-for-name", "queue", {"name": 5}, (), "name"),
    ("blank-name", "queue", {"name": "   "}, (), "name"),
    ("array-metadata", "queue", {"metadata": [1, 2]}, (), "metadata"),
    ("empty-seed", "queue", {"encryptionSeed": ""}, (), "encryptionSeed"),
    ("missing-sequence", "queue", {}, ("sequenceId",), "sequenceId"),
    ("missing-draw-at", "draw", {}, ("drawAt",), "drawAt"),
    ("missing-winner-count", "draw", {}, ("winnerCount",), "winnerCount"),
    ("missing-settle-at", "auction", {}, ("settleAt",), "settleAt"),
    ("null-draw-at", "draw", {"drawAt": None}, (), "drawAt"),
    ("close-before-open", "queue", {"openAt": CLOSE, "closeAt": OPEN}, (), "closeAt"),
    ("close-equals-open", "queue", {"openAt": OPEN, "closeAt": OPEN}, (), "closeAt"),
    (
        "draw-before-close",
        "draw",
        {"openAt": OPEN, "closeAt": CLOSE, "drawAt": "2030-06-01T17:59:59Z"},
        (),
        "drawAt",
    ),
    ("draw-before-open", "draw", {"openAt": OPEN, "drawAt": "2030-06-01T08:00:00Z"}, (), "drawAt"),
    (
        "settle-before-close",
        "auction",
        {"openAt": OPEN, "closeAt": CLOSE, "settleAt": "2030-06-01T12:00:00Z"},
        (),
        "settleAt",
    ),
    ("zero-winner-count", "draw", {"winnerCount": 0}, (), "winnerCount"),
    ("negative-winner-count", "draw", {"winnerCount": -5}, (), "winnerCount"),
    ("zero-auction-winner-count", "auction", {"winnerCount": 0}, (), "winnerCount"),
    ("zero-max-capacity", "queue", {"maxCapacity": 0}, (), "maxCapacity"),
    ("negative-max-capacity", "queue", {"maxCapacity": -1}, (), "maxCapacity"),
    ("huge-max-capacity", "queue", {"maxCapacity": 2**31}, (), "maxCapacity"),
    ("zero-admission-rate", "queue", {"admissionRate": 0}, (), "admissionRate"),
    ("zero-session-duration", "queue", {"sessionDurationSeconds": 0}, (), "sessionDurationSeconds"),
    ("zero-max-entries", "draw", {"maxEntries": 0}, (), "maxEntries"),
    ("negative-starting-bid", "auction", {"startingBid": -1}, (), "startingBid"),
    ("negative-increment", "auction", {"minimumIncrement": -0.5}, (), "minimumIncrement"),
    ("negative-reserve", "auction", {"reservePrice": -10}, (), "reservePrice"),
    ("negative-buy-now", "auction", {"buyNowPrice": -10}, (), "buyNowPrice"),
    ("zero-increment", "auction", {"minimumIncrement": 0}, (), "minimumIncrement"),
    (
        "buy-now-equals-start",
        "auction",
        {"startingBid": 100, "buyNowPrice": 100},
        (),
        "buyNowPrice",
    ),
    ("buy-now-below-start", "auction", {"startingBid": 100, "buyNowPrice": 50}, (), "buyNowPrice"),
    (
        "reserve-above-buy-now",
        "auction",
        {"reservePrice": 600, "buyNowPrice": 500},
        (),
        "reservePrice",
    ),
    ("too-many-decimals", "auction", {"startingBid": 10.123}, (), "startingBid"),
    (
        "decimals-for-yen",
        "auction",
        {"currencyCode": "JPY", "startingBid": 100.5},
        (),
        "startingBid",
    ),
    ("bad-currency", "auction", {"currencyCode": "usd"}, (), "currencyCode"),
    (
        "unknown-sequence",
        "queue",
        {"sequenceId": "seq_01JDQ8Z6W3K9X2M4N5P6Q7R8SA"},
        (),
        "sequenceId",
    ),
    ("invalid-time-zone", "queue", {"timeZone": "Mars/Olympus_Mons"}, (), "timeZone"),
    ("malformed-datetime", "queue", {"openAt": "15/12/2024 09:00"}, (), "openAt"),
    ("date-without-time", "queue", {"closeAt": "2030-06-01"}, (), "closeAt"),
    ("dst-gap", "queue", {"openAt": "2024-03-10T02:30:00"}, (), "openAt"),
    (
        "dst-gap-in-request-zone",
        "draw",
        {"timeZone": "Europe/Paris", "drawAt": "2024-03-31T02:30:00"},
        (),
        "drawAt",
    ),
    ("long-name", "queue", {"name": "x" * 201}, (), "name"),
    ("huge-metadata", "queue", {"metadata": {"blob": "x" * 17_000}}, (), "metadata"),
]


@pytest.mark.parametrize(
    ("kind", "fields", "removed", "field"),
    [pytest.param(*case[1:], id=case[0]) for case in INVALID_CREATES],
)
async def test_an_invalid_create_names_the_field_and_writes_nothing(
    client: httpx.AsyncClient,
    tenant: Tenant,
    kind: str,
    fields: dict[str, Any],
    removed: tuple[str, ...],
    field: str,
) -> None:
    body = {"sequenceId": tenant.sequence_id, **MINIMAL[kind], **fields}
    for name in removed:
        del body[name]
    response = await client.post(path(kind), json=body)
    assert error_fields(response) == [field]
    assert response.headers.get("x-request-id")
    assert await listing(client, kind) == EMPTY_PAGE


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b'{"sequenceId": ', id="malformed"),
        pytest.param(b"[]", id="array"),
        pytest.param(b"null", id="null"),
        pytest.param(b'"queue"', id="string"),
    ],
)
async def test_a_body_that_is_not_a_json_object_is_refused(
    client: httpx.AsyncClient, content: bytes
) -> None:
    response = await client.post(
        path("queue"), content=content, headers={"Content-Type": "application/json"}
    )
    assert error_fields(response) == ["body"]
    assert await listing(client, "queue") == EMPTY_PAGE


async def test_every_problem_is_reported_at_once(client: httpx.AsyncClient) -> None:
    response = await client.post(
        path("queue"),
        json={
            "sequenceId": UNKNOWN_SEQUENCE,
            "name": "",
            "openAt": CLOSE,
            "closeAt": OPEN,
            "maxCapacity": 0,
        },
    )
    assert sorted(error_fields(response)) == ["closeAt", "maxCapacity", "name", "sequenceId"]
    assert await listing(client, "queue") == EMPTY_PAGE


@pytest.mark.parametrize("kind", KINDS)
async def test_another_organizations_sequence_cannot_be_used(
    client: httpx.AsyncClient,
    other_client: httpx.AsyncClient,
    tenant: Tenant,
    other_tenant: Tenant,
    kind: str,
) -> None:
    body = {**MINIMAL[kind], "sequenceId": other_tenant.sequence_id}
    assert error_fields(await client.post(path(kind), json=body)) == ["sequenceId"]
    assert await listing(client, kind) == EMPTY_PAGE
    assert await listing(other_client, kind) == EMPTY_PAGE
    # The same sequence is fine for its own organization.
    await create(other_client, other_tenant, kind)


# --- read, isolation --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_unknown_ids_answer_not_found(client: httpx.AsyncClient, kind: str) -> None:
    unknown = f"{kind}_01JDQ8Z6W3K9X2M4N5P6Q7R8SA"
    assert_error(await client.get(path(kind, unknown)), 404, NOT_FOUND[kind])
    assert_error(await client.put(path(kind, unknown), json={"name": "x"}), 404, NOT_FOUND[kind])
    assert_error(await client.delete(path(kind, unknown)), 404, NOT_FOUND[kind])
    assert_error(await client.get(path(kind, "not-an-id")), 404, NOT_FOUND[kind])


async def test_an_id_of_another_kind_is_not_found(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    queue = await create(client, tenant, "queue")
    assert_error(await client.get(path("draw", queue["id"])), 404, "Draw not found")
    assert_error(await client.get(path("auction", queue["id"])), 404, "Auction not found")
    assert await listing(client, "draw") == EMPTY_PAGE
    assert [item["id"] for item in (await listing(client, "queue"))["data"]] == [queue["id"]]


@pytest.mark.parametrize("kind", KINDS)
async def test_another_organization_cannot_see_change_or_delete(
    client: httpx.AsyncClient,
    other_client: httpx.AsyncClient,
    tenant: Tenant,
    kind: str,
) -> None:
    mine = await create(client, tenant, kind, name="Mine")
    url = path(kind, mine["id"])
    assert_error(await other_client.get(url), 404, NOT_FOUND[kind])
    assert_error(await other_client.put(url, json={"name": "Theirs"}), 404, NOT_FOUND[kind])
    assert_error(await other_client.delete(url), 404, NOT_FOUND[kind])
    assert await listing(other_client, kind) == EMPTY_PAGE
    assert await listing(other_client, kind, sequenceId=tenant.sequence_id) == EMPTY_PAGE
    # Untouched for its owner.
    assert await fetch(client, kind, mine["id"]) == mine


# --- update -----------------------------------------------------------------------------------


async def test_the_spec_update_example(client: httpx.AsyncClient, tenant: Tenant) -> None:
    request, _ = SPEC_EXAMPLES["queue"]
    created = json_of(
        await client.post(path("queue"), json={**request, "sequenceId": tenant.sequence_id}), 201
    )
    response = await client.put(
        path("queue", created["id"]),
        json={"admissionRate": 150, "closeAt": "2024-12-15T20:00:00-05:00"},
    )
    updated = json_of(response, 200)
    assert updated == {
        **created,
        "admissionRate": 150,
        "closeAt": "2024-12-16T01:00:00Z",
        "updatedAt": updated["updatedAt"],
    }
    assert is_instant(updated["updatedAt"])
    assert instant(updated["updatedAt"]) > instant(created["updatedAt"])
    assert updated["createdAt"] == created["createdAt"]
    assert await fetch(client, "queue", created["id"]) == updated


@pytest.mark.parametrize("kind", KINDS)
async def test_an_update_is_partial_and_null_clears(
    client: httpx.AsyncClient, tenant: Tenant, kind: str
) -> None:
    created = await create(
        client,
        tenant,
        kind,
        name="Before",
        metadata={"colour": "red"},
        **SCHEDULE[kind],
        **NULLABLE[kind],
    )
    url = path(kind, created["id"])

    renamed = json_of(await client.put(url, json={"name": "After"}), 200)
    assert renamed == {**created, "name": "After", "updatedAt": renamed["updatedAt"]}

    nulls = dict.fromkeys([*NULLABLE[kind], "metadata", "name"])
    cleared = json_of(await client.put(url, json=nulls), 200)
    assert cleared == {**renamed, **nulls, "updatedAt": cleared["updatedAt"]}
    assert cleared["createdAt"] == created["createdAt"]
    assert await fetch(client, kind, created["id"]) == cleared

    restored = json_of(await client.put(url, json={**NULLABLE[kind], "metadata": {"a": 1}}), 200)
    assert restored == {
        **cleared,
        **NULLABLE[kind],
        "metadata": {"a": 1},
        "updatedAt": restored["updatedAt"],
    }


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("queue", "openAt"),
        ("queue", "closeAt"),
        ("draw", "openAt"),
        ("draw", "closeAt"),
        ("draw", "drawAt"),
        ("draw", "winnerCount"),
        ("auction", "openAt"),
        ("auction", "closeAt"),
        ("auction", "settleAt"),
        ("auction", "timeZone"),
    ],
)
async def test_times_cannot_be_cleared(
    client: httpx.AsyncClient, tenant: Tenant, kind: str, field: str
) -> None:
    created = await create(client, tenant, kind, **SCHEDULE[kind])
    response = await client.put(path(kind, created["id"]), json={field: None})
    assert error_fields(response) == [field]
    assert await fetch(client, kind, created["id"]) == created


@pytest.mark.parametrize("kind", KINDS)
async def test_the_encryption_seed_cannot_be_updated(
    client: httpx.AsyncClient, tenant: Tenant, kind: str
) -> None:
    created = await create(client, tenant, kind)
    response = await client.put(path(kind, created["id"]), json={"encryptionSeed": "new"})
    assert error_fields(response) == ["encryptionSeed"]
    assert await fetch(client, kind, created["id"]) == created


@pytest.mark.parametrize("kind", KINDS)
async def test_setting_open_at_schedules_a_draft(
    client: httpx.AsyncClient, tenant: Tenant, kind: str
) -> None:
    created = await create(client, tenant, kind)
    assert created["status"] == "DRAFT"
    updated = json_of(
        await client.put(path(kind, created["id"]), json={"openAt": "2030-05-01T09:00:00"}), 200
    )
    assert updated["status"] == "SCHEDULED"
    assert updated["openAt"] == "2030-05-01T13:00:00Z"
    assert await fetch(client, kind, created["id"]) == updated


async def test_an_update_reads_naive_times_in_the_distributions_zone(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    created = await create(
        client, tenant, "queue", timeZone="Europe/Paris", openAt="2030-07-01T09:00:00"
    )
    assert created["openAt"] == "2030-07-01T07:00:00Z"
    url = path("queue", created["id"])
    updated = json_of(await client.put(url, json={"closeAt": "2030-07-01T20:00:00"}), 200)
    assert updated["closeAt"] == "2030-07-01T18:00:00Z"
    moved = json_of(
        await client.put(url, json={"timeZone": "Asia/Tokyo", "closeAt": "2030-07-02T20:00:00"}),
        200,
    )
    assert (moved["timeZone"], moved["closeAt"]) == ("Asia/Tokyo", "2030-07-02T11:00:00Z")


UPDATE_PROBLEMS = [
    ("queue", {"closeAt": "2030-06-01T08:00:00Z"}, "closeAt"),
    ("queue", {"maxCapacity": "5"}, "maxCapacity"),
    ("queue", {"maxCapacity": 0}, "maxCapacity"),
    ("queue", {"colour": "red"}, "colour"),
    ("queue", {"sequenceId": "seq_01JDQ8Z6W3K9X2M4N5P6Q7R8SA"}, "sequenceId"),
    ("queue", {"openAt": "not a time"}, "openAt"),
    ("queue", {"timeZone": "Atlantis/Capital"}, "timeZone"),
    ("draw", {"drawAt": "2030-06-01T10:00:00Z"}, "drawAt"),
    ("draw", {"winnerCount": 0}, "winnerCount"),
    ("draw", {"winnerCount": 2.5}, "winnerCount"),
    ("auction", {"settleAt": "2030-06-01T10:00:00Z"}, "settleAt"),
    ("auction", {"buyNowPrice": 10, "startingBid": 20}, "buyNowPrice"),
    ("auction", {"startingBid": 1.999}, "startingBid"),
    ("auction", {"minimumIncrement": 0}, "minimumIncrement"),
]


@pytest.mark.parametrize(("kind", "fields", "field"), UPDATE_PROBLEMS)
async def test_an_invalid_update_names_the_field_and_changes_nothing(
    client: httpx.AsyncClient, tenant: Tenant, kind: str, fields: dict[str, Any], field: str
) -> None:
    created = await create(client, tenant, kind, **SCHEDULE[kind])
    response = await client.put(path(kind, created["id"]), json=fields)
    assert error_fields(response) == [field]
    assert await fetch(client, kind, created["id"]) == created


@pytest.mark.parametrize(
    "content", [pytest.param(b"", id="empty"), pytest.param(b"[1]", id="array")]
)
async def test_an_update_body_must_be_a_json_object(
    client: httpx.AsyncClient, tenant: Tenant, content: bytes
) -> None:
    created = await create(client, tenant, "queue")
    response = await client.put(
        path("queue", created["id"]),
        content=content,
        headers={"Content-Type": "application/json"},
    )
    assert error_fields(response) == ["body"]


@pytest.mark.parametrize(("kind", "status"), CLOSED_STATUSES)
async def test_a_closed_distribution_cannot_be_updated(
    client: httpx.AsyncClient, tenant: Tenant, set_status: SetStatus, kind: str, status: str
) -> None:
    created = await create(client, tenant, kind, name="Frozen", **SCHEDULE[kind])
    await set_status(created["id"], status)
    url = path(kind, created["id"])
    assert_error(
        await client.put(url, json={"name": "Thawed"}), 409, "Cannot update closed distribution"
    )
    assert_error(await client.put(url, json={}), 409, "Cannot update closed distribution")
    assert await fetch(client, kind, created["id"]) == {**created, "status": status}


@pytest.mark.parametrize("kind", KINDS)
async def test_an_open_distribution_keeps_its_opening_time(
    client: httpx.AsyncClient, tenant: Tenant, set_status: SetStatus, kind: str
) -> None:
    created = await create(client, tenant, kind, **SCHEDULE[kind], **NULLABLE[kind])
    await set_status(created["id"], "OPEN")
    url = path(kind, created["id"])
    response = await client.put(url, json={"openAt": "2030-06-01T08:00:00Z"})
    assert error_fields(response) == ["openAt"]
    # Other settings may still change, and the status stays OPEN.
    later = json_of(await client.put(url, json={"closeAt": "2030-06-01T18:30:00Z"}), 200)
    assert (later["status"], later["closeAt"], later["openAt"]) == (
        "OPEN",
        "2030-06-01T18:30:00Z",
        created["openAt"],
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"startingBid": 150},
        {"minimumIncrement": 1},
        {"reservePrice": 200},
        {"buyNowPrice": 1000},
        {"reservePrice": None},
    ],
    ids=lambda fields: next(iter(fields)),
)
async def test_an_open_auction_keeps_its_prices(
    client: httpx.AsyncClient, tenant: Tenant, set_status: SetStatus, fields: dict[str, Any]
) -> None:
    created = await create(client, tenant, "auction", **SCHEDULE["auction"], **NULLABLE["auction"])
    await set_status(created["id"], "OPEN")
    response = await client.put(path("auction", created["id"]), json=fields)
    assert error_fields(response) == list(fields)
    assert await fetch(client, "auction", created["id"]) == {**created, "status": "OPEN"}


async def test_a_new_currency_must_suit_the_prices_already_set(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    """Money is exact: 10.50 USD cannot silently become 10.5 JPY (a currency without cents)."""
    created = await create(client, tenant, "auction", startingBid=10.5, buyNowPrice=99.99)
    response = await client.put(path("auction", created["id"]), json={"currencyCode": "JPY"})
    fields = error_fields(response)
    assert set(fields) <= {"currencyCode", "startingBid", "buyNowPrice"}
    assert await fetch(client, "auction", created["id"]) == created
    # Whole amounts are fine in yen.
    whole = await create(client, tenant, "auction", startingBid=10, buyNowPrice=99)
    moved = json_of(
        await client.put(path("auction", whole["id"]), json={"currencyCode": "JPY"}), 200
    )
    assert (moved["currencyCode"], moved["startingBid"], moved["buyNowPrice"]) == ("JPY", 10, 99)


# --- delete -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_a_deleted_distribution_is_gone(
    client: httpx.AsyncClient, tenant: Tenant, kind: str
) -> None:
    kept = await create(client, tenant, kind, name="Kept")
    doomed = await create(client, tenant, kind, name="Doomed")
    url = path(kind, doomed["id"])

    response = await client.delete(url)
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers.get("x-request-id")

    assert_error(await client.get(url), 404, NOT_FOUND[kind])
    assert_error(await client.put(url, json={"name": "Back"}), 404, NOT_FOUND[kind])
    assert_error(await client.delete(url), 404, NOT_FOUND[kind])
    assert await listing(client, kind) == {"data": [kept], "nextCursor": None}
    assert await fetch(client, kind, kept["id"]) == kept


# --- list -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_listing_pages_newest_first(
    client: httpx.AsyncClient, tenant: Tenant, kind: str
) -> None:
    created = [await create(client, tenant, kind, name=f"#{n}") for n in range(5)]
    newest_first = list(reversed(created))

    seen: list[dict[str, Any]] = []
    sizes = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = await listing(client, kind, **params)
        assert set(page) == {"data", "nextCursor"}
        seen.extend(page["data"])
        sizes.append(len(page["data"]))
        cursor = page["nextCursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str)
        assert cursor
    assert sizes == [2, 2, 1]
    assert seen == newest_first
    assert await listing(client, kind) == {"data": newest_first, "nextCursor": None}
    assert await listing(client, kind, limit=5) == {"data": newest_first, "nextCursor": None}
    exact = await listing(client, kind, limit=4)
    assert exact["data"] == newest_first[:4]
    assert await listing(client, kind, limit=4, cursor=exact["nextCursor"]) == {
        "data": newest_first[4:],
        "nextCursor": None,
    }


async def test_listing_filters_by_status_and_sequence(
    client: httpx.AsyncClient, tenant: Tenant, set_status: SetStatus
) -> None:
    second = json_of(
        await client.post(
            "/api/v1/sequences", json={"experienceId": tenant.experience_id, "name": "Second"}
        ),
        201,
    )
    draft = await create(client, tenant, "queue")
    scheduled = await create(client, tenant, "queue", openAt="2030-06-01T09:00:00Z")
    opened = await create(client, tenant, "queue", openAt="2030-06-01T09:00:00Z")
    await set_status(opened["id"], "OPEN")
    elsewhere = await create(client, tenant, "queue", sequenceId=second["id"])

    def ids(page: dict[str, Any]) -> list[str]:
        assert page["nextCursor"] is None
        return [item["id"] for item in page["data"]]

    assert ids(await listing(client, "queue", status="DRAFT")) == [elsewhere["id"], draft["id"]]
    assert ids(await listing(client, "queue", status="SCHEDULED")) == [scheduled["id"]]
    assert ids(await listing(client, "queue", status="OPEN")) == [opened["id"]]
    assert ids(await listing(client, "queue", status="CLOSED")) == []
    assert ids(await listing(client, "queue", sequenceId=second["id"])) == [elsewhere["id"]]
    assert ids(await listing(client, "queue", sequenceId=tenant.sequence_id)) == [
        opened["id"],
        scheduled["id"],
        draft["id"],
    ]
    assert ids(await listing(client, "queue", sequenceId=tenant.sequence_id, status="DRAFT")) == [
        draft["id"]
    ]
    assert ids(await listing(client, "queue", sequenceId="seq_01JDQ8Z6W3K9X2M4N5P6Q7R8SA")) == []
    filtered = await listing(client, "queue", status="DRAFT", limit=1)
    assert [item["id"] for item in filtered["data"]] == [elsewhere["id"]]
    rest = await listing(client, "queue", status="DRAFT", limit=1, cursor=filtered["nextCursor"])
    assert rest == {"data": [draft], "nextCursor": None}


@pytest.mark.parametrize(
    ("kind", "params", "field"),
    [
        ("queue", {"status": "DRAWN"}, "status"),
        ("queue", {"status": "SETTLED"}, "status"),
        ("draw", {"status": "SETTLED"}, "status"),
        ("auction", {"status": "DRAWN"}, "status"),
        ("auction", {"status": "COMPLETED"}, "status"),
        ("queue", {"status": "draft"}, "status"),
        ("queue", {"limit": 0}, "limit"),
        ("draw", {"limit": 101}, "limit"),
        ("auction", {"limit": -1}, "limit"),
        ("queue", {"limit": "many"}, "limit"),
        ("queue", {"cursor": "garbage!"}, "cursor"),
        ("draw", {"cursor": "cXVldWVfMQ"}, "cursor"),
    ],
)
async def test_listing_rejects_bad_parameters(
    client: httpx.AsyncClient, kind: str, params: dict[str, Any], field: str
) -> None:
    assert error_fields(await client.get(path(kind), params=params)) == [field]


@pytest.mark.parametrize(("kind", "status"), [("draw", "DRAWN"), ("auction", "SETTLED")])
async def test_listing_accepts_each_kinds_own_statuses(
    client: httpx.AsyncClient, tenant: Tenant, set_status: SetStatus, kind: str, status: str
) -> None:
    created = await create(client, tenant, kind)
    await set_status(created["id"], status)
    assert await listing(client, kind, status=status, limit=100) == {
        "data": [{**created, "status": status}],
        "nextCursor": None,
    }
