"""What admin handlers receive: the caller, a unit of work, the clock."""

from __future__ import annotations

from litestar.datastructures import State
from litestar.di import NamedDependency, Provide

from fanfare_core.adapters.postgres.unit_of_work import UnitOfWork
from fanfare_core.clock import Clock
from fanfare_core.http.auth import provide_principal
from fanfare_core.runtime import Resources
from fanfare_core.service_layer.organizations import Principal


def provide_uow(resources: NamedDependency[Resources]) -> UnitOfWork:
    return UnitOfWork(resources.pool)


def provide_clock(state: State) -> Clock:
    clock: Clock = state.clock
    return clock


# What handlers declare to receive: the authenticated caller, a unit of work, the clock.
CallerDep = NamedDependency[Principal]
UowDep = NamedDependency[UnitOfWork]
ClockDep = NamedDependency[Clock]

DEPENDENCIES = {
    "principal": Provide(provide_principal),
    "uow": Provide(provide_uow, sync_to_thread=False),
    "clock": Provide(provide_clock, sync_to_thread=False),
}
