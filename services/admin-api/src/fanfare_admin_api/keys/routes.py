"""API keys: issue (shown once), list, revoke."""

from __future__ import annotations

from typing import Any, Literal

from litestar import Request as HttpRequest
from litestar import Router, delete, get, post
from litestar.params import FromPath, JSONBody
from msgspec import UNSET, UnsetType

from fanfare_admin_api.dependencies import CallerDep, ClockDep, UowDep
from fanfare_admin_api.schemas import Request, View, view_of
from fanfare_core.domain.organizations import ApiKey as ApiKeyRecord
from fanfare_core.domain.organizations import KeyKind, KeyMode
from fanfare_core.http.auth import require_secret_key
from fanfare_core.http.strict_body import decode_body
from fanfare_core.service_layer import organizations as service


class CreateApiKeyRequest(Request):
    kind: Literal["secret", "publishable"]
    mode: Literal["live", "test"] | UnsetType = UNSET
    name: str | None = None


class ApiKey(View):
    id: str
    kind: str
    mode: str
    name: str | None
    display_prefix: str
    active: bool
    created_at: str
    revoked_at: str | None


class NewApiKey(ApiKey):
    """The key itself appears here once and can never be read again."""

    key: str


def _view(record: ApiKeyRecord) -> ApiKey:
    return view_of(ApiKey, record)


@post("/", operation_id="createApiKey", summary="Issue a key (shown once)")
async def create_api_key(
    data: JSONBody[CreateApiKeyRequest],
    request: HttpRequest[Any, Any, Any],
    principal: CallerDep,
    uow: UowDep,
    clock: ClockDep,
) -> NewApiKey:
    data = await decode_body(request, CreateApiKeyRequest)
    issued = await service.issue_api_key(
        uow,
        clock,
        principal,
        kind=KeyKind(data.kind),
        mode=None if isinstance(data.mode, UnsetType) else KeyMode(data.mode),
        name=data.name,
    )
    return view_of(NewApiKey, issued.record, key=issued.plain)


@get("/", operation_id="listApiKeys", summary="List keys (never the keys themselves)")
async def list_api_keys(principal: CallerDep, uow: UowDep) -> list[ApiKey]:
    return [_view(k) for k in await service.list_api_keys(uow, principal)]


@delete(
    "/{key_id:str}", operation_id="revokeApiKey", summary="Revoke a key at once", status_code=200
)
async def revoke_api_key(
    key_id: FromPath[str],
    principal: CallerDep,
    uow: UowDep,
    clock: ClockDep,
) -> ApiKey:
    return _view(await service.revoke_api_key(uow, clock, principal, key_id))


ROUTER = Router(
    path="/api/v1/api-keys",
    route_handlers=[create_api_key, list_api_keys, revoke_api_key],
    tags=["API keys"],
    guards=[require_secret_key],
)
