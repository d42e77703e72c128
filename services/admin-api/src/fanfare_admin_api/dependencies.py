"""What admin handlers receive: the caller, a unit of work, the clock."""

from __future__ import annotations

from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide

from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.clock import Clock
from fanfare_core.domain.organizations import KeyKind
from fanfare_core.runtime import Resources
from fanfare_core.service_layer.organizations import Principal, authenticate


def bearer_token(request: Request[object, object, State]) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if any."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


async def provide_principal(
    request: Request[object, object, State], resources: Resources
) -> Principal:
    """The organization behind the secret key, or 401 ``Authentication required``."""
    return await authenticate(UnitOfWork(resources.pool), bearer_token(request), KeyKind.SECRET)


def provide_uow(resources: Resources) -> UnitOfWork:
    return UnitOfWork(resources.pool)


def provide_clock(state: State) -> Clock:
    clock: Clock = state.clock
    return clock


DEPENDENCIES = {
    "principal": Provide(provide_principal),
    "uow": Provide(provide_uow, sync_to_thread=False),
    "clock": Provide(provide_clock, sync_to_thread=False),
}
