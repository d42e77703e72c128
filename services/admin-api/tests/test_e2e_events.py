"""Every accepted change of a distribution publishes ``distribution.updated`` on NATS
(stream ``FANFARE_EVENTS``); a rejected request publishes nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from nats.aio.client import Client as NatsClient
from nats.js.api import RawStreamMsg
from nats.js.errors import NotFoundError

from fanfare_testing import Tenant

from .conftest import Delivered, EventWatch, SetStatus
from .helpers import KINDS, MINIMAL, is_id, is_instant, json_of, path

SCHEDULES: dict[str, dict[str, Any]] = {
    "queue": {"openAt": "2030-06-01T05:00:00-04:00", "closeAt": "2030-06-01T18:00:00Z"},
    "draw": {
        "openAt": "2030-06-01T05:00:00-04:00",
        "closeAt": "2030-06-01T18:00:00Z",
        "drawAt": "2030-06-01T19:00:00Z",
        "winnerCount": 2,
    },
    "auction": {
        "openAt": "2030-06-01T05:00:00-04:00",
        "closeAt": "2030-06-01T18:00:00Z",
        "settleAt": "2030-06-01T19:00:00Z",
        "startingBid": 10,
    },
}
EXPECTED_TIMES: dict[str, dict[str, str | None]] = {
    "queue": {"drawAt": None, "settleAt": None},
    "draw": {"drawAt": "2030-06-01T19:00:00Z", "settleAt": None},
    "auction": {"drawAt": None, "settleAt": "2030-06-01T19:00:00Z"},
}


async def stored_last(nats_connection: NatsClient, subject: str) -> RawStreamMsg:
    """The stream's last message of ``subject``. A plain subscription can be handed a
    message a moment before JetStream has stored it (the relay's publish is acknowledged
    only after), so it is looked for again for up to a second."""
    deadline = asyncio.get_running_loop().time() + 1.0
    while True:
        try:
            return await nats_connection.jetstream().get_last_msg("FANFARE_EVENTS", subject)
        except NotFoundError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.01)


async def check_envelope(
    delivered: Delivered,
    nats_connection: NatsClient,
    tenant: Tenant,
    distribution: dict[str, Any],
    kind: str,
) -> dict[str, Any]:
    """Check the envelope and subject of an event about ``distribution``, and that JetStream
    stored the same message under the event id; return its ``data``."""
    subject = f"fanfare.events.{tenant.organization_id}.{distribution['id']}.distribution.updated"
    assert delivered.subject == subject
    envelope = delivered.envelope
    assert set(envelope) == {"id", "type", "timestamp", "organizationId", "data"}
    assert is_id(envelope["id"], "evt")
    assert envelope["type"] == "distribution.updated"
    assert is_instant(envelope["timestamp"])
    assert envelope["organizationId"] == tenant.organization_id
    stored = await stored_last(nats_connection, subject)
    assert stored.headers is not None
    assert stored.headers.get("Nats-Msg-Id") == envelope["id"]
    data: dict[str, Any] = envelope["data"]
    assert set(data) == {
        "distributionId",
        "kind",
        "status",
        "change",
        "changedFields",
        "openAt",
        "closeAt",
        "drawAt",
        "settleAt",
    }
    assert (data["distributionId"], data["kind"]) == (distribution["id"], kind)
    return data


@pytest.mark.parametrize("kind", KINDS)
async def test_create_update_and_delete_each_publish_an_event(
    client: httpx.AsyncClient,
    tenant: Tenant,
    events: EventWatch,
    nats_connection: NatsClient,
    kind: str,
) -> None:
    body = {"sequenceId": tenant.sequence_id, "name": "Launch", **SCHEDULES[kind]}
    created = json_of(await client.post(path(kind), json=body), 201)
    delivered = await events.next()
    data = await check_envelope(delivered, nats_connection, tenant, created, kind)
    assert delivered.envelope["timestamp"] == created["createdAt"]
    assert {key: value for key, value in data.items() if key != "changedFields"} == {
        "distributionId": created["id"],
        "kind": kind,
        "status": "SCHEDULED",
        "change": "created",
        "openAt": "2030-06-01T09:00:00Z",
        "closeAt": "2030-06-01T18:00:00Z",
        **EXPECTED_TIMES[kind],
    }
    assert sorted(data["changedFields"]) == sorted(key for key in body if key != "sequenceId")

    # Only what really changed is listed: the name is given but unchanged.
    url = path(kind, created["id"])
    updated = json_of(
        await client.put(url, json={"name": "Launch", "closeAt": "2030-06-01T18:30:00Z"}), 200
    )
    delivered = await events.next()
    data = await check_envelope(delivered, nats_connection, tenant, created, kind)
    assert delivered.envelope["timestamp"] == updated["updatedAt"]
    assert data == {
        "distributionId": created["id"],
        "kind": kind,
        "status": "SCHEDULED",
        "change": "updated",
        "changedFields": ["closeAt"],
        "openAt": "2030-06-01T09:00:00Z",
        "closeAt": "2030-06-01T18:30:00Z",
        **EXPECTED_TIMES[kind],
    }

    assert (await client.delete(url)).status_code == 204
    delivered = await events.next()
    data = await check_envelope(delivered, nats_connection, tenant, created, kind)
    assert data == {
        "distributionId": created["id"],
        "kind": kind,
        "status": "SCHEDULED",
        "change": "deleted",
        "changedFields": [],
        "openAt": "2030-06-01T09:00:00Z",
        "closeAt": "2030-06-01T18:30:00Z",
        **EXPECTED_TIMES[kind],
    }
    assert await events.nothing_pending()


async def test_scheduling_a_draft_publishes_its_new_status_and_times(
    client: httpx.AsyncClient, tenant: Tenant, events: EventWatch, nats_connection: NatsClient
) -> None:
    created = json_of(
        await client.post(path("draw"), json={"sequenceId": tenant.sequence_id, **MINIMAL["draw"]}),
        201,
    )
    data = await check_envelope(await events.next(), nats_connection, tenant, created, "draw")
    assert (data["status"], data["openAt"], data["closeAt"], data["drawAt"]) == (
        "DRAFT",
        None,
        None,
        "2030-06-01T12:00:00Z",
    )
    assert sorted(data["changedFields"]) == ["drawAt", "winnerCount"]

    await client.put(
        path("draw", created["id"]),
        json={"openAt": "2030-05-01T09:00:00", "closeAt": "2030-05-02T09:00:00"},
    )
    data = await check_envelope(await events.next(), nats_connection, tenant, created, "draw")
    assert data == {
        "distributionId": created["id"],
        "kind": "draw",
        "status": "SCHEDULED",
        "change": "updated",
        "changedFields": ["openAt", "closeAt"],
        "openAt": "2030-05-01T13:00:00Z",
        "closeAt": "2030-05-02T13:00:00Z",
        "drawAt": "2030-06-01T12:00:00Z",
        "settleAt": None,
    }


async def test_rejected_requests_publish_nothing(
    client: httpx.AsyncClient,
    other_client: httpx.AsyncClient,
    tenant: Tenant,
    other_tenant: Tenant,
    events: EventWatch,
    nats_connection: NatsClient,
    set_status: SetStatus,
) -> None:
    created = json_of(
        await client.post(path("queue"), json={"sequenceId": tenant.sequence_id, "name": "A"}),
        201,
    )
    assert (await events.next()).envelope["data"]["change"] == "created"
    frozen = json_of(
        await client.post(
            path("auction"), json={"sequenceId": tenant.sequence_id, **MINIMAL["auction"]}
        ),
        201,
    )
    assert (await events.next()).envelope["data"]["distributionId"] == frozen["id"]
    await set_status(frozen["id"], "SETTLED")
    url = path("queue", created["id"])

    rejected = [
        await client.post(path("queue"), json={"sequenceId": tenant.sequence_id, "maxCapacity": 0}),
        await client.post(path("queue"), json={"sequenceId": other_tenant.sequence_id}),
        await client.post(path("draw"), json={"sequenceId": tenant.sequence_id}),
        await client.put(url, json={"closeAt": None}),
        await client.put(
            url, json={"openAt": "2030-06-02T00:00:00Z", "closeAt": "2030-06-01T00:00:00Z"}
        ),
        await client.put(url, json={"closeAt": "2030-06-01"}),
        await client.put(path("auction", frozen["id"]), json={"name": "Late"}),
        await other_client.put(url, json={"name": "Theirs"}),
        await other_client.delete(url),
        await client.delete(path("draw", created["id"])),
    ]
    assert [response.status_code for response in rejected] == [
        400,
        400,
        400,
        400,
        400,
        400,
        409,
        404,
        404,
        404,
    ]

    # Events leave in commit order: the next one is the next accepted change.
    updated = json_of(await client.put(url, json={"name": "B"}), 200)
    data = await check_envelope(await events.next(), nats_connection, tenant, created, "queue")
    assert (data["change"], data["changedFields"]) == ("updated", ["name"])
    assert updated["name"] == "B"
    assert await events.nothing_pending()


async def test_another_organizations_changes_are_on_its_own_subjects(
    client: httpx.AsyncClient,
    other_client: httpx.AsyncClient,
    tenant: Tenant,
    other_tenant: Tenant,
    events: EventWatch,
    nats_connection: NatsClient,
) -> None:
    theirs = json_of(
        await other_client.post(path("queue"), json={"sequenceId": other_tenant.sequence_id}), 201
    )
    mine = json_of(await client.post(path("queue"), json={"sequenceId": tenant.sequence_id}), 201)
    delivered = await events.next()
    await check_envelope(delivered, nats_connection, tenant, mine, "queue")
    stored = await nats_connection.jetstream().get_last_msg(
        "FANFARE_EVENTS",
        f"fanfare.events.{other_tenant.organization_id}.{theirs['id']}.distribution.updated",
    )
    assert b'"organizationId":"' + other_tenant.organization_id.encode() in stored.data
    assert await events.nothing_pending()
