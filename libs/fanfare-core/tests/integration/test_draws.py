"""Draws against real PostgreSQL: entering, running once, the recorded proof recomputes,
winners' tokens, backups replacing expired and denied wins, completion, and the lock that
keeps late entries out of a running draw."""

from __future__ import annotations

import asyncio
import hashlib
import random
from datetime import UTC, datetime, timedelta

import pytest

from fanfare_core.adapters.postgres import draw_entries
from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.auth.signing_keys import KeyRing, new_signing_key
from fanfare_core.auth.tokens import TokenService
from fanfare_core.clock import FrozenClock, SystemClock
from fanfare_core.domain.distributions import DistributionChanges, Kind
from fanfare_core.domain.draw_selection import (
    InvalidEntries,
    canonical_entries,
    encode_entries,
    first_mismatch,
    select,
)
from fanfare_core.domain.draws import DenyReason, DrawClosed, DrawFull, DrawNotOpenYet
from fanfare_core.domain.errors import Conflict, NotFound
from fanfare_core.domain.timing import format_instant
from fanfare_core.events.envelope import decode_envelope
from fanfare_core.ids import new_id
from fanfare_core.service_layer import draws as draws_module
from fanfare_core.service_layer.distributions import create_distribution
from fanfare_core.service_layer.draws import DrawDirectory, DrawService

TOKENS = TokenService(KeyRing((new_signing_key(datetime.now(UTC)),)), "fanfare")
OPENS = datetime(2031, 3, 1, 9, tzinfo=UTC)
CLOSES = OPENS + timedelta(days=1)
DRAWS = CLOSES + timedelta(hours=1)
CLAIM = timedelta(minutes=30)


def service(pool, clock: FrozenClock) -> DrawService:  # type: ignore[no-untyped-def]
    return DrawService(
        pool=pool,
        directory=DrawDirectory(pool, ttl_seconds=0),
        tokens=lambda: TOKENS,
        clock=clock,
        claim_window=CLAIM,
        count_seconds=0,
    )


async def make_draw(pool, tenant, **changes: object) -> str:  # type: ignore[no-untyped-def]
    settings: dict[str, object] = {
        "open_at": OPENS.isoformat(),
        "close_at": CLOSES.isoformat(),
        "draw_at": DRAWS.isoformat(),
        "winner_count": 3,
        **changes,
    }
    made = await create_distribution(
        UnitOfWork(pool), SystemClock(), tenant.principal, Kind.DRAW,
        sequence_id=tenant.sequence_id, changes=DistributionChanges(**settings),  # type: ignore[arg-type]
    )  # fmt: skip
    return made.id


async def rows(pool, sql: str, *params: object) -> list[tuple[object, ...]]:  # type: ignore[no-untyped-def]
    async with pool.connection() as conn:
        cur = await conn.execute(sql, params)
        return list(await cur.fetchall())


async def statuses(pool, draw: str) -> dict[str, tuple[object, ...]]:  # type: ignore[no-untyped-def]
    found = await rows(
        pool,
        "SELECT consumer_id, status, rank, in_draw FROM draw_entries WHERE draw_id = %s",
        draw,
    )
    return {str(r[0]): r[1:] for r in found}


async def event_types(pool, tenant, draw: str) -> list[str]:  # type: ignore[no-untyped-def]
    found = await rows(
        pool,
        "SELECT subject FROM outbox WHERE subject LIKE %s ORDER BY position",
        f"fanfare.events.{tenant.organization_id}.{draw}.%",
    )
    prefix = f"fanfare.events.{tenant.organization_id}.{draw}."
    return [str(r[0]).removeprefix(prefix) for r in found]


async def entry_file(draws: DrawService, org: str, draw: str) -> bytes:
    return b"".join([chunk async for chunk in await draws.entry_file(org, draw)])


async def test_a_draw_runs_once_records_everyone_and_its_proof_recomputes(pool, tenant) -> None:  # type: ignore[no-untyped-def]
    org = tenant.organization_id
    draw = await make_draw(pool, tenant)
    clock = FrozenClock(OPENS - timedelta(minutes=1))
    draws = service(pool, clock)
    people = sorted(new_id("cons") for _ in range(12))
    with pytest.raises(DrawNotOpenYet):
        await draws.enter(org, draw, people[0], None)
    before = await draws.describe(org, draw)
    assert (before.status, before.entry_count) == ("PENDING", 0)
    clock.advance(timedelta(minutes=1))
    entered = [await draws.enter(org, draw, person, f"fp-{person}") for person in people]
    assert {(s.status, s.won_at, s.admission_token) for s in entered} == {("ENTERED", None, None)}
    clock.advance(timedelta(seconds=5))
    assert await draws.enter(org, draw, people[0], None) == entered[0]  # idempotent
    assert (await draws.leave(org, draw, people[-1])).status == "LEFT"
    await draws.deny(org, draw, people[-2], DenyReason.FRAUD_DETECTED)
    view = await draws.describe(org, draw)
    assert (view.status, view.entry_count) == ("OPEN", 10)
    with pytest.raises(Conflict, match="Draw is not due yet"):
        await draws.run_draw(org, draw)

    clock.advance(DRAWS - clock.now())
    with pytest.raises(DrawClosed):
        await draws.enter(org, draw, new_id("cons"), None)
    with pytest.raises(NotFound, match="Draw not drawn yet"):
        await draws.proof(org, draw)
    result = await draws.run_draw(org, draw)
    assert (result.entry_count, len(result.winners), len(result.backups)) == (10, 3, 3)
    assert result.commitment == view.commitment == hashlib.sha256(result.seed).hexdigest()
    assert await draws.run_draw(org, draw) == result  # a second run returns the first

    # The draw recorded its winners and backups; the other losers are LOST from its
    # commit on, as everyone reads them, and stored as such by the loser pass.
    recorded = await statuses(pool, draw)
    for rank, person in enumerate(result.winners + result.backups, start=1):
        assert recorded[person] == ("WON" if rank <= 3 else "LOST", rank, True)
    losers = set(people[:10]) - set(result.winners)
    others = losers - set(result.backups)
    assert {recorded[p] for p in others} == {("ENTERED", None, False)}
    assert {(await draws.status(org, draw, p)).status for p in others} == {"LOST"}
    assert (await event_types(pool, tenant, draw)).count("draw.consumer.lost") == 3
    assert await draws.record_losers(org, draw) == 4
    assert await draws.record_losers(org, draw) == 0  # nothing is stored twice
    recorded = await statuses(pool, draw)
    assert {recorded[p] for p in others} == {("LOST", None, True)}
    assert recorded[people[-1]] == ("LEFT", None, False)
    assert recorded[people[-2]] == ("DENIED", None, False)
    assert (await rows(pool, "SELECT status FROM distributions WHERE id = %s", draw)) == [
        ("DRAWN",)
    ]
    assert (await draws.describe(org, draw)).status == "DRAWN"

    # Anyone recomputes the winners from the published proof and entry list.
    published = await entry_file(draws, org, draw)
    assert published == "".join(f"{p}\n" for p in people[:10]).encode()
    assert first_mismatch((await draws.proof(org, draw)).proof(), published) is None
    assert first_mismatch(result.proof(), published.replace(people[0].encode(), b"x")) is not None

    # Winners hold a token for this draw, bound to the device that entered.
    winner = await draws.status(org, draw, result.winners[0])
    assert winner.status == "WON"
    assert winner.admission_token is not None
    claims = TOKENS.verify(
        winner.admission_token, audience=draw, token_type="admission", now=clock.now()
    )
    assert claims.subject == result.winners[0]
    assert claims.fingerprint_hash is not None
    assert claims.expires_at == clock.now() + CLAIM
    loser = await draws.status(org, draw, next(iter(losers)))
    assert (loser.status, loser.admission_token) == ("LOST", None)

    # One event per change, each once, the draw's twice-run included.
    events = await event_types(pool, tenant, draw)
    assert events.count("draw.consumer.entered") == 12
    assert events.count("draw.consumer.won") == 3
    assert events.count("draw.consumer.lost") == 7
    assert events.count("draw.consumer.left") == events.count("draw.consumer.denied") == 1
    assert events.count("distribution.status_changed") == 1


async def test_expired_and_denied_wins_pass_to_the_backups_in_order(pool, tenant) -> None:  # type: ignore[no-untyped-def]
    org = tenant.organization_id
    draw = await make_draw(pool, tenant, winner_count=2)
    clock = FrozenClock(OPENS)
    draws = service(pool, clock)
    for _ in range(6):
        await draws.enter(org, draw, new_id("cons"), None)
    clock.advance(DRAWS - OPENS)
    result = await draws.run_draw(org, draw)
    first, second = result.winners
    b1, b2 = result.backups
    with pytest.raises(Conflict, match="Consumer has not won"):
        await draws.claim(org, draw, b1)
    await draws.record_losers(org, draw)
    claimed = await draws.claim(org, draw, first)
    assert (claimed.status, claimed.claimed_at is not None) == ("WON", True)
    assert await draws.claim(org, draw, first) == claimed  # idempotent

    # The second winner lets the window pass: it shows LOST at once, and promotion hands
    # the win to the first backup with a fresh window and token.
    clock.advance(CLAIM)
    assert (await draws.status(org, draw, second)).status == "LOST"
    with pytest.raises(Conflict, match="Claim window has expired"):
        await draws.claim(org, draw, second)
    promotion = await draws.promote_backups(org, draw)
    assert (promotion.expired, promotion.promoted, promotion.completed) == (1, 1, False)
    promoted = await draws.status(org, draw, b1)
    assert promoted.status == "WON"
    assert promoted.admission_token is not None
    assert (await statuses(pool, draw))[second][0] == "LOST"
    assert (await draws.promote_backups(org, draw)).promoted == 0  # nothing more to do

    # A denied winner forfeits too: the last backup wins.
    denied = await draws.deny(org, draw, b1, DenyReason.FRAUD_DETECTED)
    assert (denied.status, denied.admission_token) == ("DENIED", None)
    assert (await draws.status(org, draw, b2)).status == "WON"
    with pytest.raises(Conflict, match="Win was already claimed"):
        await draws.deny(org, draw, first, DenyReason.ADMIN_ACTION)

    # The last open win expires with no backup left: every win is claimed or expired.
    clock.advance(CLAIM)
    done = await draws.promote_backups(org, draw)
    assert (done.expired, done.promoted, done.completed) == (1, 0, True)
    assert (await draws.describe(org, draw)).status == "COMPLETED"
    events = await event_types(pool, tenant, draw)
    assert events.count("draw.consumer.won") == 4  # two at the draw, two promoted
    assert events.count("draw.completed") == 1
    assert events.count("distribution.status_changed") == 2  # DRAWN, then COMPLETED


async def test_max_entries_is_never_exceeded_and_leaving_frees_a_place(pool, tenant) -> None:  # type: ignore[no-untyped-def]
    org = tenant.organization_id
    draw = await make_draw(pool, tenant, max_entries=5)
    draws = service(pool, FrozenClock(OPENS))
    crowd = [new_id("cons") for _ in range(12)]
    outcomes = await asyncio.gather(
        *(draws.enter(org, draw, person, None) for person in crowd), return_exceptions=True
    )
    entered = [p for p, o in zip(crowd, outcomes, strict=True) if not isinstance(o, Exception)]
    assert len(entered) == 5
    assert all(isinstance(o, DrawFull) for o in outcomes if isinstance(o, Exception))
    assert (await draws.enter(org, draw, entered[0], None)).status == "ENTERED"  # idempotent
    await draws.leave(org, draw, entered[0])
    late = next(p for p in crowd if p not in entered)
    assert (await draws.enter(org, draw, late, None)).status == "ENTERED"
    with pytest.raises(DrawFull):
        await draws.enter(org, draw, entered[0], None)


async def test_entries_racing_the_draw_are_either_in_it_or_refused(pool, tenant) -> None:  # type: ignore[no-untyped-def]
    org = tenant.organization_id
    draw = await make_draw(pool, tenant, winner_count=5)
    entering = service(pool, FrozenClock(OPENS))  # a replica whose clock is late
    drawing = service(pool, FrozenClock(DRAWS))
    for _ in range(20):
        await entering.enter(org, draw, new_id("cons"), None)
    crowd = [new_id("cons") for _ in range(40)]
    outcomes = await asyncio.gather(
        drawing.run_draw(org, draw),
        *(entering.enter(org, draw, person, None) for person in crowd),
        return_exceptions=True,
    )
    result = outcomes[0]
    assert not isinstance(result, BaseException)
    refused = sum(isinstance(o, DrawClosed) for o in outcomes[1:])
    assert all(not isinstance(o, BaseException) or isinstance(o, DrawClosed) for o in outcomes)
    await drawing.record_losers(org, draw)
    recorded = await statuses(pool, draw)
    assert "ENTERED" not in {s for s, _, _ in recorded.values()}  # nobody left outside
    assert result.entry_count == len(recorded) == 60 - refused
    published = await entry_file(drawing, org, draw)
    assert first_mismatch(result.proof(), published) is None


async def test_a_draw_without_entries_completes_at_once(pool, tenant) -> None:  # type: ignore[no-untyped-def]
    org = tenant.organization_id
    draw = await make_draw(pool, tenant, close_at=None)
    draws = service(pool, FrozenClock(DRAWS))
    result = await draws.run_draw(org, draw)
    assert (result.entry_count, result.winners, result.backups) == (0, (), ())
    assert await entry_file(draws, org, draw) == b""
    assert first_mismatch(result.proof(), b"") is None
    assert (await draws.describe(org, draw)).status == "COMPLETED"


async def test_thousands_of_entries_are_drawn_in_bulk(pool, tenant) -> None:  # type: ignore[no-untyped-def]
    org = tenant.organization_id
    draw = await make_draw(pool, tenant, winner_count=200)
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO draw_entries (draw_id, consumer_id, organization_id, status,"
            " entered_at, version) SELECT %s, 'cons_' || md5(i::text), %s, 'ENTERED', %s,"
            " nextval('draw_entry_version') FROM generate_series(1, 20000) AS i",
            (draw, org, OPENS),
        )
    draws = service(pool, FrozenClock(DRAWS))
    result = await draws.settle(org, draw)
    assert (result.entry_count, len(result.winners), len(result.backups)) == (20_000, 200, 200)
    assert first_mismatch(result.proof(), await entry_file(draws, org, draw)) is None
    events = await event_types(pool, tenant, draw)
    assert (events.count("draw.consumer.won"), events.count("draw.consumer.lost")) == (200, 19_800)


async def test_reading_the_entered_ids_leaves_the_planner_settings_as_found(pool, tenant) -> None:  # type: ignore[no-untyped-def]
    draw = await make_draw(pool, tenant)
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO draw_entries (draw_id, consumer_id, organization_id, status,"
            " entered_at, version) SELECT %s, 'cons_' || md5(i::text), %s, 'ENTERED', %s,"
            " nextval('draw_entry_version') FROM generate_series(1, 3000) AS i",
            (draw, tenant.organization_id, OPENS),
        )
        await conn.commit()
    async with UnitOfWork(pool) as uow:
        ids = (await uow.draw_entries.entered_ids(draw)).in_canonical_order()
        cur = await uow.connection.execute("SELECT current_setting('enable_sort')")
        assert await cur.fetchone() == ("on",)
    assert ids == sorted(f"cons_{hashlib.md5(str(i).encode()).hexdigest()}" for i in range(1, 3001))


async def test_arrays_sent_as_lines_arrive_as_sent_and_unsendable_values_are_refused(pool) -> None:  # type: ignore[no-untyped-def]
    # The draw sends its winners' ids, ranks, token ids and tokens as strings of lines.
    values = ["cons_B", "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJjb25zIn0.c2ln-_", "7", "ü"]
    async with pool.connection() as conn:
        for sent in (values, values[:1], []):
            cur = await conn.execute(f"SELECT {draw_entries._LINES}", (draw_entries._lines(sent),))
            assert await cur.fetchone() == (sent,)
    for unsendable in (["a\nb"], ["a", ""], [""]):
        with pytest.raises(ValueError, match="line feed"):
            draw_entries._lines(unsendable)


async def test_other_organizations_cannot_see_or_run_a_draw(pool, tenant, tenant_factory) -> None:  # type: ignore[no-untyped-def]
    draw = await make_draw(pool, tenant)
    draws = service(pool, FrozenClock(DRAWS))
    stranger = (await tenant_factory()).organization_id
    for call in (
        draws.describe(stranger, draw),
        draws.run_draw(stranger, draw),
        draws.proof(stranger, draw),
        draws.status(stranger, draw, new_id("cons")),
    ):
        with pytest.raises(NotFound, match="Draw not found"):
            await call


# -- the bulk path of run_draw: what it records must be what the algorithm defines ---------

# Ids a storefront's consumer could not choose today (they are ``cons_`` ULIDs), but which
# the algorithm allows: escapes of COPY's text format and of JSON, spaces, tabs, non-ASCII.
ODD_IDS = ["a\\b", 'say "hi"', "tab\there", "ünï", "日本", "end\\", "x y", "\u00e9t\u00e9"]


async def insert_entries(pool, tenant, draw: str, entries: dict[str, str | None]) -> None:  # type: ignore[no-untyped-def]
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO draw_entries (draw_id, consumer_id, organization_id, status,"
            " entered_at, fingerprint_hash, version)"
            " SELECT %s, c, %s, 'ENTERED', %s, f, nextval('draw_entry_version')"
            " FROM unnest(%s::text[], %s::text[]) AS e(c, f)",
            (draw, tenant.organization_id, OPENS, list(entries), list(entries.values())),
        )


async def draw_events(pool, tenant, draw: str) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    found = await rows(
        pool,
        "SELECT id, subject, payload FROM outbox WHERE subject LIKE %s ORDER BY position",
        f"fanfare.events.{tenant.organization_id}.{draw}.draw.consumer.%",
    )
    events = []
    for event_id, subject, payload in found:
        envelope = decode_envelope(bytes(payload))  # type: ignore[arg-type]
        assert envelope.id == event_id
        assert str(subject).endswith(f".{envelope.type}")
        events.append({"type": envelope.type, **envelope.data})
    return events


@pytest.mark.parametrize("case", range(6))
async def test_what_a_draw_records_is_exactly_what_the_algorithm_selects(
    pool, tenant, case
) -> None:  # type: ignore[no-untyped-def]
    """Random entry lists and winner counts: the recorded winners and backups equal an
    independent run of ``select`` over the canonical list with the stored seed; every
    entrant ends WON or LOST with the right rank and reason, and has exactly one event;
    winners' tokens carry their own fingerprint; a second run changes nothing."""
    rng = random.Random(case)
    size = rng.choice([1, 2, 5, 40, 300, 2500])
    winner_count = rng.randint(1, max(1, size // 3))
    people = [new_id("cons") for _ in range(size)]
    if case % 2:
        people[: len(ODD_IDS)] = ODD_IDS[:size]
    fingerprints = {
        p: (hashlib.sha256(p.encode()).hexdigest() if rng.random() < 0.7 else None) for p in people
    }
    org = tenant.organization_id
    draw = await make_draw(pool, tenant, winner_count=winner_count)
    await insert_entries(pool, tenant, draw, fingerprints)
    bystander = new_id("cons")  # left before the draw: takes no part
    await insert_entries(pool, tenant, draw, {bystander: None})
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE draw_entries SET status = 'LEFT' WHERE draw_id = %s AND consumer_id = %s",
            (draw, bystander),
        )
    clock = FrozenClock(DRAWS)
    draws = service(pool, clock)

    result = await draws.run_draw(org, draw)
    # Losers in chunks of a few, so the pass's walk through the ids is exercised.
    chunk = rng.choice([1, 3, 50])
    assert await draws.record_losers(org, draw, chunk=chunk) == size - len(result.winners) - len(
        result.backups
    )

    seed = bytes((await rows(pool, "SELECT seed FROM draw_secrets WHERE draw_id = %s", draw))[0][0])  # type: ignore[arg-type]
    expected = select(seed, canonical_entries(people), winner_count, winner_count)
    assert (result.winners, result.backups) == (expected.winners, expected.backups)
    assert (result.entries_digest, result.entry_count) == (expected.entries_digest, size)
    published = await entry_file(draws, org, draw)
    assert published == encode_entries(canonical_entries(people))
    assert first_mismatch(result.proof(), published) is None

    recorded = {
        str(r[0]): r[1:]
        for r in await rows(
            pool,
            "SELECT consumer_id, status, rank, in_draw, lost_reason, admission_token IS NOT NULL"
            " FROM draw_entries WHERE draw_id = %s",
            draw,
        )
    }
    ranks = {p: rank for rank, p in enumerate(result.winners + result.backups, start=1)}
    for person in people:
        if person in result.winners:
            assert recorded[person] == ("WON", ranks[person], True, None, True), person
        else:
            assert recorded[person] == ("LOST", ranks.get(person), True, "NOT_SELECTED", False)
    assert recorded[bystander] == ("LEFT", None, False, None, False)

    events = await draw_events(pool, tenant, draw)
    assert sorted(str(e["consumerId"]) for e in events) == sorted(people)  # one each
    # The draw's own events (winners in rank order, backups in drawn order), then the
    # loser pass's in canonical order.
    selected = list(result.winners + result.backups)
    assert [e["consumerId"] for e in events[: len(selected)]] == selected
    passed = [str(e["consumerId"]) for e in events[len(selected) :]]
    assert passed == sorted(passed)
    for event in events:
        person = str(event["consumerId"])
        if person in result.winners:
            assert event == {
                "type": "draw.consumer.won", "drawId": draw, "consumerId": person,
                "status": "WON", "rank": ranks[person],
                "claimExpiresAt": format_instant(DRAWS + CLAIM),
            }  # fmt: skip
        else:
            assert event == {
                "type": "draw.consumer.lost", "drawId": draw, "consumerId": person,
                "status": "LOST", "reason": "NOT_SELECTED",
            }  # fmt: skip

    for person in result.winners:
        state = await draws.status(org, draw, person)
        assert state.admission_token is not None
        claims = TOKENS.verify(
            state.admission_token, audience=draw, token_type="admission", now=DRAWS
        )
        assert (claims.subject, claims.fingerprint_hash) == (person, fingerprints[person])

    outbox_rows = await rows(pool, "SELECT count(*) FROM outbox")
    assert await draws.run_draw(org, draw) == result
    assert await rows(pool, "SELECT count(*) FROM outbox") == outbox_rows


async def test_a_draw_that_fails_midway_records_nothing_and_runs_later(pool, tenant) -> None:  # type: ignore[no-untyped-def]
    """Signing fails after the entries were read and the secret stored: the transaction
    rolls back whole (entries still ENTERED, no result, no event), and the next run draws
    normally."""
    org = tenant.organization_id
    draw = await make_draw(pool, tenant, winner_count=5)
    people = [new_id("cons") for _ in range(500)]
    await insert_entries(pool, tenant, draw, dict.fromkeys(people))

    def broken() -> TokenService:
        raise RuntimeError("the signing key is unavailable")

    failing = DrawService(
        pool=pool, directory=DrawDirectory(pool, ttl_seconds=0), tokens=broken,
        clock=FrozenClock(DRAWS), claim_window=CLAIM,
    )  # fmt: skip
    with pytest.raises(RuntimeError, match="signing key"):
        await failing.run_draw(org, draw)
    assert {s for s, _, _ in (await statuses(pool, draw)).values()} == {"ENTERED"}
    assert await draw_events(pool, tenant, draw) == []
    assert await rows(pool, "SELECT 1 FROM draw_results WHERE draw_id = %s", draw) == []

    result = await service(pool, FrozenClock(DRAWS)).settle(org, draw)
    assert len(result.winners) == 5
    assert len(await draw_events(pool, tenant, draw)) == 500


async def test_an_id_with_a_line_feed_stops_the_draw_instead_of_miscounting(pool, tenant) -> None:  # type: ignore[no-untyped-def]
    org = tenant.organization_id
    draw = await make_draw(pool, tenant)
    await insert_entries(pool, tenant, draw, {"cons_a": None, "two\nlines": None})
    with pytest.raises(InvalidEntries, match="line feed"):
        await service(pool, FrozenClock(DRAWS)).run_draw(org, draw)
    assert {s for s, _, _ in (await statuses(pool, draw)).values()} == {"ENTERED"}


# -- the loser pass: after the draw's commit, the other losers are stored in chunks ---------


async def drawn_with_losers(pool, tenant, entrants: int, winner_count: int = 2):  # type: ignore[no-untyped-def]
    """A draw run (not its loser pass) over ``entrants`` entries: (draw, service, result,
    the losers the pass is to store)."""
    draw = await make_draw(pool, tenant, winner_count=winner_count)
    people = [new_id("cons") for _ in range(entrants)]
    await insert_entries(pool, tenant, draw, dict.fromkeys(people))
    draws = service(pool, FrozenClock(DRAWS))
    result = await draws.run_draw(tenant.organization_id, draw)
    rest = sorted(set(people) - set(result.winners) - set(result.backups))
    return draw, draws, result, rest


async def lost_events_of(pool, tenant, draw: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        str(e["consumerId"])
        for e in await draw_events(pool, tenant, draw)
        if e["type"] == "draw.consumer.lost"
    ]


async def test_a_loser_pass_cut_short_resumes_and_stores_each_loser_once(
    pool, tenant, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    org = tenant.organization_id
    draw, draws, result, rest = await drawn_with_losers(pool, tenant, 60)
    real_append = draws_module.outbox.append_encoded
    calls = 0

    async def failing_third(conn, rows):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 3:
            raise ConnectionError("PostgreSQL went away")
        return await real_append(conn, rows)

    monkeypatch.setattr(draws_module.outbox, "append_encoded", failing_third)
    with pytest.raises(ConnectionError):
        await draws.record_losers(org, draw, chunk=10)
    stored = sorted(
        p for p, (s, _, _) in (await statuses(pool, draw)).items() if p in rest and s == "LOST"
    )
    assert 0 < len(stored) < len(rest)  # two chunks committed, the third rolled back
    assert stored == rest[: len(stored)]  # the first ones in canonical order
    assert await rows(
        pool, "SELECT losers_recorded_at FROM draw_results WHERE draw_id = %s", draw
    ) == [(None,)]
    monkeypatch.setattr(draws_module.outbox, "append_encoded", real_append)

    assert await draws.record_losers(org, draw, chunk=10) == len(rest) - len(stored)
    assert sorted(await lost_events_of(pool, tenant, draw)) == sorted([*rest, *result.backups])
    assert {s for p, (s, _, _) in (await statuses(pool, draw)).items() if p in rest} == {"LOST"}
    assert (await rows(
        pool, "SELECT losers_recorded_at FROM draw_results WHERE draw_id = %s", draw
    ))[0][0] is not None  # fmt: skip


async def test_loser_passes_of_two_workers_store_each_loser_once(pool, tenant) -> None:  # type: ignore[no-untyped-def]
    org = tenant.organization_id
    draw, draws, result, rest = await drawn_with_losers(pool, tenant, 300)
    other = service(pool, FrozenClock(DRAWS))  # another worker process
    done = await asyncio.gather(
        draws.record_losers(org, draw, chunk=7), other.record_losers(org, draw, chunk=5)
    )
    assert sum(done) == len(rest)
    assert sorted(await lost_events_of(pool, tenant, draw)) == sorted([*rest, *result.backups])


async def test_a_loser_denied_before_the_pass_stays_denied_and_in_the_draw(pool, tenant) -> None:  # type: ignore[no-untyped-def]
    org = tenant.organization_id
    draw, draws, result, rest = await drawn_with_losers(pool, tenant, 12)
    denied = await draws.deny(org, draw, rest[0], DenyReason.FRAUD_DETECTED)
    assert denied.status == "DENIED"
    assert await draws.record_losers(org, draw) == len(rest) - 1
    assert (await draws.status(org, draw, rest[0])).status == "DENIED"
    assert rest[0] not in await lost_events_of(pool, tenant, draw)
    assert (await statuses(pool, draw))[rest[0]] == ("DENIED", None, True)
    assert first_mismatch(result.proof(), await entry_file(draws, org, draw)) is None


async def test_a_draw_completes_only_once_its_losers_are_stored(pool, tenant) -> None:  # type: ignore[no-untyped-def]
    org = tenant.organization_id
    draw, draws, result, rest = await drawn_with_losers(pool, tenant, 20)
    for winner in result.winners:
        await draws.claim(org, draw, winner)
    assert (await draws.describe(org, draw)).status == "DRAWN"  # losers still to store
    await draws.record_losers(org, draw)
    assert (await draws.describe(org, draw)).status == "COMPLETED"
    events = await event_types(pool, tenant, draw)
    assert events[-2:] == ["distribution.status_changed", "draw.completed"]
    assert events.count("draw.consumer.lost") == len(rest) + len(result.backups)
