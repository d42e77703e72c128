"""Transactions whose ``BEGIN`` travels with their first statements.

psycopg opens a transaction by sending ``BEGIN`` and waiting for its answer: a round trip
of its own before the first statement, even in a pipeline. :func:`beginning` sends an
explicit ``BEGIN`` instead, in the same pipeline as the statements that follow it (the
connection is in autocommit mode meanwhile, so psycopg adds none), as a unit of work's
first round trip does
(:meth:`~fanfare_core.adapters.postgres.unit_of_work.UnitOfWork.round_trip`), and
:func:`back_to_implicit` hands the connection back to psycopg's own transactions once
that one has ended.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from psycopg import AsyncConnection
from psycopg.pq import TransactionStatus


@contextlib.asynccontextmanager
async def beginning(conn: AsyncConnection) -> AsyncIterator[None]:
    """A pipeline that opens a transaction on the idle ``conn``: the ``BEGIN`` and the
    statements sent inside go in one round trip when the block ends, which reads their
    results. The transaction stays open after the block; end it with ``COMMIT`` or
    ``ROLLBACK``; :func:`back_to_implicit` then hands the connection back (the services'
    pool does that for every connection it hands out)."""
    await conn.set_autocommit(True)
    async with conn.pipeline():
        await conn.execute("BEGIN")
        yield


async def back_to_implicit(conn: AsyncConnection) -> None:
    """After the transaction :func:`beginning` opened has ended: psycopg's transactions
    again (no-op while it is still open, or when the connection is broken)."""
    if conn.autocommit and conn.info.transaction_status == TransactionStatus.IDLE:
        await conn.set_autocommit(False)
