"""Experiences (product launches) and their sequences."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request as HttpRequest
from litestar import Router, delete, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_204_NO_CONTENT
from msgspec import UNSET, UnsetType

from fanfare_admin_api.dependencies import CallerDep, ClockDep, UowDep
from fanfare_admin_api.schemas import (
    ListOf,
    Request,
    View,
    given_fields,
    view_of,
)
from fanfare_core.http.auth import require_secret_key
from fanfare_core.http.strict_body import decode_body
from fanfare_core.service_layer import catalog as service
from fanfare_core.service_layer.pagination import DEFAULT_LIMIT, PageRequest


class CreateExperienceRequest(Request):
    name: str
    metadata: dict[str, Any] | None = None


class UpdateExperienceRequest(Request):
    name: str | UnsetType = UNSET
    metadata: dict[str, Any] | UnsetType | None = UNSET


class Experience(View):
    id: str
    organization_id: str
    name: str
    metadata: dict[str, Any] | None
    created_at: str
    updated_at: str


class CreateSequenceRequest(Request):
    experience_id: str
    name: str
    order_limit: int | None = None


class UpdateSequenceRequest(Request):
    name: str | UnsetType = UNSET
    order_limit: int | UnsetType | None = UNSET


class Sequence(View):
    id: str
    organization_id: str
    experience_id: str
    name: str
    order_limit: int | None
    created_at: str
    updated_at: str


@post("/experiences", operation_id="createExperience", summary="Create an experience")
async def create_experience(
    data: JSONBody[CreateExperienceRequest],
    request: HttpRequest[Any, Any, Any],
    principal: CallerDep,
    uow: UowDep,
    clock: ClockDep,
) -> Experience:
    data = await decode_body(request, CreateExperienceRequest)
    made = await service.create_experience(
        uow, clock, principal, name=data.name, metadata=data.metadata
    )
    return view_of(Experience, made)


@get("/experiences", operation_id="listExperiences", summary="List experiences, newest first")
async def list_experiences(
    principal: CallerDep,
    uow: UowDep,
    limit: FromQuery[int] = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> ListOf:
    page = await service.list_experiences(uow, principal, PageRequest(limit, cursor))
    return ListOf([view_of(Experience, e) for e in page.items], page.next_cursor)


@get("/experiences/{experience_id:str}", operation_id="getExperience", summary="Get an experience")
async def get_experience(
    experience_id: FromPath[str],
    principal: CallerDep,
    uow: UowDep,
) -> Experience:
    return view_of(Experience, await service.get_experience(uow, principal, experience_id))


@put(
    "/experiences/{experience_id:str}",
    operation_id="updateExperience",
    summary="Update an experience",
)
async def update_experience(
    experience_id: FromPath[str],
    data: JSONBody[UpdateExperienceRequest],
    request: HttpRequest[Any, Any, Any],
    principal: CallerDep,
    uow: UowDep,
    clock: ClockDep,
) -> Experience:
    data = await decode_body(request, UpdateExperienceRequest)
    changed = await service.update_experience(
        uow, clock, principal, experience_id, **given_fields(data)
    )
    return view_of(Experience, changed)


@delete(
    "/experiences/{experience_id:str}",
    operation_id="deleteExperience",
    summary="Delete an experience that has no sequences",
    status_code=HTTP_204_NO_CONTENT,
)
async def delete_experience(
    experience_id: FromPath[str],
    principal: CallerDep,
    uow: UowDep,
) -> None:
    await service.delete_experience(uow, principal, experience_id)


@post("/sequences", operation_id="createSequence", summary="Create a sequence in an experience")
async def create_sequence(
    data: JSONBody[CreateSequenceRequest],
    request: HttpRequest[Any, Any, Any],
    principal: CallerDep,
    uow: UowDep,
    clock: ClockDep,
) -> Sequence:
    data = await decode_body(request, CreateSequenceRequest)
    made = await service.create_sequence(
        uow,
        clock,
        principal,
        experience_id=data.experience_id,
        name=data.name,
        order_limit=data.order_limit,
    )
    return view_of(Sequence, made)


@get("/sequences", operation_id="listSequences", summary="List sequences, newest first")
async def list_sequences(
    principal: CallerDep,
    uow: UowDep,
    limit: FromQuery[int] = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
    experience_id: Annotated[str | None, QueryParameter(name="experienceId")] = None,
) -> ListOf:
    page = await service.list_sequences(
        uow, principal, PageRequest(limit, cursor), experience_id=experience_id
    )
    return ListOf([view_of(Sequence, s) for s in page.items], page.next_cursor)


@get("/sequences/{sequence_id:str}", operation_id="getSequence", summary="Get a sequence")
async def get_sequence(
    sequence_id: FromPath[str],
    principal: CallerDep,
    uow: UowDep,
) -> Sequence:
    return view_of(Sequence, await service.get_sequence(uow, principal, sequence_id))


@put("/sequences/{sequence_id:str}", operation_id="updateSequence", summary="Update a sequence")
async def update_sequence(
    sequence_id: FromPath[str],
    data: JSONBody[UpdateSequenceRequest],
    request: HttpRequest[Any, Any, Any],
    principal: CallerDep,
    uow: UowDep,
    clock: ClockDep,
) -> Sequence:
    data = await decode_body(request, UpdateSequenceRequest)
    changed = await service.update_sequence(
        uow, clock, principal, sequence_id, **given_fields(data)
    )
    return view_of(Sequence, changed)


@delete(
    "/sequences/{sequence_id:str}",
    operation_id="deleteSequence",
    summary="Delete a sequence that has no distributions",
    status_code=HTTP_204_NO_CONTENT,
)
async def delete_sequence(
    sequence_id: FromPath[str],
    principal: CallerDep,
    uow: UowDep,
) -> None:
    await service.delete_sequence(uow, principal, sequence_id)


ROUTER = Router(
    path="/api/v1",
    route_handlers=[
        create_experience,
        list_experiences,
        get_experience,
        update_experience,
        delete_experience,
        create_sequence,
        list_sequences,
        get_sequence,
        update_sequence,
        delete_sequence,
    ],
    tags=["Experiences and sequences"],
    guards=[require_secret_key],
)
