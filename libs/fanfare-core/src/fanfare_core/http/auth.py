"""Secret-key authentication shared by the admin API and the consumer API's server routes.

A storefront's server sends ``Authorization: Bearer sk_…``. Routes take the guard
:func:`require_secret_key`, so a caller without an active secret key gets
``401 Authentication required`` before its body is even read, and handlers receive the
:class:`~fanfare_core.service_layer.organizations.Principal` from :func:`provide_principal`.
Secret keys are looked up on every request, so revoking one takes effect at once.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency

from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.domain.organizations import KeyKind
from fanfare_core.runtime import Resources
from fanfare_core.service_layer.organizations import Principal, authenticate


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if any."""
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


async def require_secret_key(connection: ASGIConnection[Any, Any, Any, Any], _: object) -> None:
    """Guard of secret-key routes: authenticate before the request is even read, so a
    caller without an active secret key gets ``401 Authentication required`` and nothing
    else (not a validation error about a body it should not be sending)."""
    resources: Resources = connection.app.state.resources
    connection.state.principal = await authenticate(
        UnitOfWork(resources.pool), bearer_token(connection), KeyKind.SECRET
    )


async def provide_principal(
    request: Request[object, object, State], resources: NamedDependency[Resources]
) -> Principal:
    """The caller the guard authenticated, or 401 ``Authentication required``."""
    principal = request.state.get("principal")
    if isinstance(principal, Principal):
        return principal
    return await authenticate(UnitOfWork(resources.pool), bearer_token(request), KeyKind.SECRET)
