"""The ``fanfare`` command: organizations, sequences, the generated event docs."""

import json
from pathlib import Path

from fanfare_cli.docs import render_event_docs
from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.domain.organizations import KeyKind
from fanfare_core.service_layer.organizations import authenticate
from fanfare_testing import run_fanfare

REPO = Path(__file__).resolve().parents[3]


async def test_orgs_create_prints_working_keys(settings, pool) -> None:  # type: ignore[no-untyped-def]
    done = run_fanfare(
        settings, "orgs", "create", "--name", "Acme", "--time-zone", "Europe/Paris", "--json"
    )
    assert done.returncode == 0, done.stderr
    made = json.loads(done.stdout)
    assert set(made) == {"organizationId", "secretKey", "publishableKey"}
    assert made["secretKey"].startswith("sk_test_")
    assert made["publishableKey"].startswith("pk_test_")
    principal = await authenticate(UnitOfWork(pool), made["secretKey"], KeyKind.SECRET)
    assert principal.organization_id == made["organizationId"]

    done = run_fanfare(
        settings, "sequences", "create", "--organization-id", made["organizationId"], "--json"
    )
    assert done.returncode == 0, done.stderr
    sequence = json.loads(done.stdout)
    assert sequence["sequenceId"].startswith("seq_")
    async with UnitOfWork(pool) as uow:
        stored = await uow.catalog.sequence(made["organizationId"], sequence["sequenceId"])
    assert stored is not None
    assert stored.experience_id == sequence["experienceId"]


def test_bad_input_gets_a_clear_error_and_no_organization(settings) -> None:  # type: ignore[no-untyped-def]
    done = run_fanfare(
        settings, "orgs", "create", "--name", "Acme", "--time-zone", "Mars/Base", "--json"
    )
    assert done.returncode == 2
    assert "timeZone: unknown IANA time zone 'Mars/Base'" in done.stderr
    done = run_fanfare(settings, "sequences", "create", "--organization-id", "org_missing")
    assert done.returncode == 2
    assert "no organization org_missing" in done.stderr


def test_docs_events_md_is_generated_from_the_code() -> None:
    assert (REPO / "docs" / "events.md").read_text() == render_event_docs(), (
        "docs/events.md is stale: run `make docs`"
    )
