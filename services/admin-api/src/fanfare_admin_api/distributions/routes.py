"""Routes of queues, draws and auctions: one set of five handlers, made for each kind."""

# No ``from __future__ import annotations``: Litestar reads these handlers' annotations at
# runtime, and they name the request and response types of the kind being built.

from typing import Annotated, Any

from litestar import Request as HttpRequest
from litestar import Router, delete, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_204_NO_CONTENT

from fanfare_admin_api.dependencies import CallerDep, ClockDep, UowDep
from fanfare_admin_api.distributions.schemas import (
    Auction,
    CreateAuctionRequest,
    CreateDrawRequest,
    CreateQueueRequest,
    Draw,
    Queue,
    UpdateAuctionRequest,
    UpdateDrawRequest,
    UpdateQueueRequest,
)
from fanfare_admin_api.schemas import (
    ListOf,
    Request,
    View,
    given_fields,
    view_of,
)
from fanfare_core.domain.distributions import DistributionChanges, Kind, Status, parse_status
from fanfare_core.domain.errors import FieldError, ValidationFailed
from fanfare_core.http.auth import require_secret_key
from fanfare_core.http.strict_body import decode_body
from fanfare_core.service_layer import distributions as service
from fanfare_core.service_layer.pagination import DEFAULT_LIMIT, PageRequest

_SEQUENCE = frozenset({"sequence_id"})


def _changes(request: Request) -> DistributionChanges:
    return DistributionChanges(**given_fields(request, exclude=_SEQUENCE))


def _status_filter(kind: Kind, status: str | None) -> Status | None:
    if status is None:
        return None
    try:
        return parse_status(kind, status)
    except ValueError as error:
        raise ValidationFailed([FieldError("status", str(error))]) from error


def distribution_router(
    kind: Kind, create_type: type[Request], update_type: type[Request], view_type: type[View]
) -> Router:
    """``POST/GET /api/v1/<kind>s`` and ``GET/PUT/DELETE /api/v1/<kind>s/{id}``."""
    label = kind.label
    tag = f"{label}s"

    @post("/", operation_id=f"create{label}", summary=f"Create a {kind.value}")
    async def create(
        data: JSONBody[create_type],  # type: ignore[valid-type]
        request: HttpRequest[Any, Any, Any],
        principal: CallerDep,
        uow: UowDep,
        clock: ClockDep,
    ) -> view_type:  # type: ignore[valid-type]
        data = await decode_body(request, create_type)
        created = await service.create_distribution(
            uow,
            clock,
            principal,
            kind,
            sequence_id=data.sequence_id,  # type: ignore[attr-defined]
            changes=_changes(data),
        )
        return view_of(view_type, created)

    @get("/", operation_id=f"list{label}s", summary=f"List {kind.value}s, newest first")
    async def listing(
        principal: CallerDep,
        uow: UowDep,
        limit: FromQuery[int] = DEFAULT_LIMIT,
        cursor: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        sequence_id: Annotated[str | None, QueryParameter(name="sequenceId")] = None,
    ) -> ListOf:
        page = await service.list_distributions(
            uow,
            principal,
            kind,
            PageRequest(limit=limit, cursor=cursor),
            status=_status_filter(kind, status),
            sequence_id=sequence_id,
        )
        return ListOf(
            data=[view_of(view_type, d) for d in page.items], next_cursor=page.next_cursor
        )

    @get("/{distribution_id:str}", operation_id=f"get{label}", summary=f"Get a {kind.value}")
    async def read(
        distribution_id: FromPath[str],
        principal: CallerDep,
        uow: UowDep,
    ) -> view_type:  # type: ignore[valid-type]
        found = await service.get_distribution(uow, principal, kind, distribution_id)
        return view_of(view_type, found)

    @put("/{distribution_id:str}", operation_id=f"update{label}", summary=f"Update a {kind.value}")
    async def update(
        distribution_id: FromPath[str],
        data: JSONBody[update_type],  # type: ignore[valid-type]
        request: HttpRequest[Any, Any, Any],
        principal: CallerDep,
        uow: UowDep,
        clock: ClockDep,
    ) -> view_type:  # type: ignore[valid-type]
        data = await decode_body(request, update_type)
        updated = await service.update_distribution(
            uow, clock, principal, kind, distribution_id, _changes(data)
        )
        return view_of(view_type, updated)

    @delete(
        "/{distribution_id:str}",
        operation_id=f"delete{label}",
        summary=f"Delete a {kind.value}",
        status_code=HTTP_204_NO_CONTENT,
    )
    async def remove(
        distribution_id: FromPath[str],
        principal: CallerDep,
        uow: UowDep,
        clock: ClockDep,
    ) -> None:
        await service.delete_distribution(uow, clock, principal, kind, distribution_id)

    handlers: list[Any] = [create, listing, read, update, remove]
    return Router(
        path=f"/api/v1/{kind.value}s",
        route_handlers=handlers,
        tags=[tag],
        guards=[require_secret_key],
    )


ROUTERS = [
    distribution_router(Kind.QUEUE, CreateQueueRequest, UpdateQueueRequest, Queue),
    distribution_router(Kind.DRAW, CreateDrawRequest, UpdateDrawRequest, Draw),
    distribution_router(Kind.AUCTION, CreateAuctionRequest, UpdateAuctionRequest, Auction),
]
