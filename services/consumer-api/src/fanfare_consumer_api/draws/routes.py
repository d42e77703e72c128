"""Draw routes of the consumer API: what browsers call with a publishable key (and a
consumer token), and what storefront servers call with their secret key. Anyone with the
publishable key can fetch a drawn draw's proof and entry list and recompute the winners."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from litestar import Request, Router, get, post
from litestar.params import FromPath, JSONBody
from litestar.response import Stream

from fanfare_consumer_api.auth import ServerDep, require_secret_key, shopper_of, storefront_of
from fanfare_consumer_api.draws.schemas import (
    ConsumerRequest,
    DenyRequest,
    Draw,
    DrawConsumerState,
    DrawProof,
)
from fanfare_core.auth.tokens import fingerprint_hash
from fanfare_core.domain.draw_selection import VERSION
from fanfare_core.domain.draws import DenyReason
from fanfare_core.domain.timing import format_instant, format_optional_instant
from fanfare_core.http.strict_body import decode_body
from fanfare_core.service_layer import draws
from fanfare_core.service_layer.draws import DrawService

PREFIX = "/api/v1/draws"


def _state(state: draws.DrawConsumerState) -> DrawConsumerState:
    return DrawConsumerState(**asdict(state))


def _service(request: Request[Any, Any, Any]) -> DrawService:
    service: DrawService = request.app.state.draws
    return service


@get("/{draw_id:str}", operation_id="getDraw", summary="A draw as shoppers see it")
async def get_draw(request: Request[Any, Any, Any], draw_id: FromPath[str]) -> Draw:
    storefront = await storefront_of(request)
    view = await _service(request).describe(storefront.organization_id, draw_id)
    draw = view.draw
    return Draw(
        id=draw.id,
        name=draw.name,
        sequence_id=draw.sequence_id,
        open_at=format_optional_instant(draw.open_at),
        close_at=format_optional_instant(draw.close_at),
        draw_at=format_optional_instant(draw.draw_at),
        time_zone=draw.time_zone,
        winner_count=draw.winner_count or 1,
        max_entries=draw.max_entries,
        status=view.status,
        entry_count=view.entry_count,
        commitment=view.commitment,
    )


@post("/{draw_id:str}/enter", operation_id="enterDraw", summary="Enter the draw", status_code=200)
async def enter_draw(request: Request[Any, Any, Any], draw_id: FromPath[str]) -> DrawConsumerState:
    shopper = await shopper_of(request)
    await request.app.state.enter_limits.check(request, shopper.consumer_id)
    fingerprint = shopper.fingerprint
    state = await _service(request).enter(
        shopper.organization_id,
        draw_id,
        shopper.consumer_id,
        fingerprint_hash(fingerprint) if fingerprint else shopper.fingerprint_hash,
    )
    return _state(state)


@post(
    "/{draw_id:str}/leave",
    operation_id="leaveDraw",
    summary="Withdraw one's entry",
    status_code=200,
)
async def leave_draw(request: Request[Any, Any, Any], draw_id: FromPath[str]) -> DrawConsumerState:
    shopper = await shopper_of(request)
    state = await _service(request).leave(shopper.organization_id, draw_id, shopper.consumer_id)
    return _state(state)


@get("/{draw_id:str}/status", operation_id="getDrawStatus", summary="One's entry and result")
async def draw_status(request: Request[Any, Any, Any], draw_id: FromPath[str]) -> DrawConsumerState:
    shopper = await shopper_of(request)
    state = await _service(request).status(shopper.organization_id, draw_id, shopper.consumer_id)
    return _state(state)


@get(
    "/{draw_id:str}/proof",
    operation_id="getDrawProof",
    summary="Everything needed to recompute the winners (once drawn)",
)
async def draw_proof(request: Request[Any, Any, Any], draw_id: FromPath[str]) -> DrawProof:
    storefront = await storefront_of(request)
    result = await _service(request).proof(storefront.organization_id, draw_id)
    return DrawProof(
        draw_id=result.draw_id,
        algorithm=result.algorithm,
        version=VERSION,
        seed=result.seed.hex(),
        commitment=result.commitment,
        entries_digest=result.entries_digest,
        entry_count=result.entry_count,
        winner_count=result.winner_count,
        winners=list(result.winners),
        backups=list(result.backups),
        drawn_at=format_instant(result.drawn_at),
        entries_url=f"{PREFIX}/{result.draw_id}/proof/entries",
    )


@get(
    "/{draw_id:str}/proof/entries",
    operation_id="getDrawEntries",
    summary="The entry list the draw used: one consumer id per line, bytewise sorted",
    media_type="text/plain; charset=utf-8",
)
async def draw_entries(request: Request[Any, Any, Any], draw_id: FromPath[str]) -> Stream:
    storefront = await storefront_of(request)
    chunks = await _service(request).entry_file(storefront.organization_id, draw_id)
    return Stream(
        chunks,
        media_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": f'inline; filename="{draw_id}-entries.txt"'},
    )


@post(
    "/{draw_id:str}/claim",
    operation_id="claimWin",
    guards=[require_secret_key],
    summary="Mark a win used (the winner checked out)",
    status_code=200,
)
async def claim_win(
    request: Request[Any, Any, Any],
    draw_id: FromPath[str],
    server: ServerDep,
    data: JSONBody[ConsumerRequest],
) -> DrawConsumerState:
    body = await decode_body(request, ConsumerRequest)
    state = await _service(request).claim(server.organization_id, draw_id, body.consumer_id)
    return _state(state)


@post(
    "/{draw_id:str}/deny",
    operation_id="denyDrawEntry",
    guards=[require_secret_key],
    summary="Deny a consumer (a win not yet claimed passes to the next backup)",
    status_code=200,
)
async def deny_entry(
    request: Request[Any, Any, Any],
    draw_id: FromPath[str],
    server: ServerDep,
    data: JSONBody[DenyRequest],
) -> DrawConsumerState:
    body = await decode_body(request, DenyRequest)
    state = await _service(request).deny(
        server.organization_id, draw_id, body.consumer_id, DenyReason(body.reason)
    )
    return _state(state)


ROUTER = Router(
    path=PREFIX,
    route_handlers=[
        get_draw,
        enter_draw,
        leave_draw,
        draw_status,
        draw_proof,
        draw_entries,
        claim_win,
        deny_entry,
    ],
    tags=["Draws"],
)
