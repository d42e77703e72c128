"""A half-rate run says what the data stores did in the background meanwhile: counted by
the suite's own Valkey and PostgreSQL, not made up."""

import asyncio
from pathlib import Path

import pytest

from fanfare_bench.background import Background, _info, watched
from fanfare_bench.stack import Stack, open_stack


def test_what_was_seen_is_said_in_one_clause() -> None:
    seen = Background(
        aof_rewrites=1, fork_ms=3.74, autovacuum={"VACUUM public.outbox", "ANALYZE public.b"},
        autovacuum_seen=True, checkpoints=0, steal_ms=12.0,
    )  # fmt: skip
    assert seen.describe() == (
        "meanwhile: 1 Valkey AOF rewrite (its fork 3.7 ms),"
        " autovacuum (ANALYZE public.b, VACUUM public.outbox), 0 checkpoints,"
        " 12 ms stolen by the hypervisor"
    )
    quiet = Background(aof_rewrites=0, fork_ms=0.5, autovacuum_seen=True, checkpoints=2)
    assert quiet.describe() == "meanwhile: 0 Valkey AOF rewrites, no autovacuum, 2 checkpoints"
    slow = Background(aof_rewrites=0, slow_commands=2, slowest_ms=4.43)
    assert slow.describe() == (
        "meanwhile: 0 Valkey AOF rewrites, 2 Valkey commands over 1 ms (the slowest 4.4 ms)"
    )
    assert Background(slow_commands=0, slowest_ms=0.0).describe() == (
        "meanwhile: 0 Valkey commands over 1 ms"
    )


def test_what_could_not_be_read_is_left_out() -> None:
    assert Background().describe() == ""
    assert Background(checkpoints=1).describe() == "meanwhile: 1 checkpoint"


async def rewrite_and_checkpoint(stack: Stack) -> str:
    """An append-only-file rewrite and a checkpoint, both waited for."""
    await stack.redis.call("BGREWRITEAOF")
    for _ in range(200):  # up to 10 s
        fields = _info(await stack.redis.call("INFO", "persistence"))
        if fields["aof_rewrite_in_progress"] == fields["aof_rewrite_scheduled"] == "0":
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the rewrite did not end")
    async with stack.pool.connection() as conn:
        await conn.set_autocommit(True)
        await conn.execute("CHECKPOINT")
    return "done"


@pytest.mark.usefixtures("session_servers")
async def test_a_rewrite_and_a_checkpoint_during_a_run_are_counted(tmp_path: Path) -> None:
    async with open_stack(tmp_path, pin_cores=False) as stack:
        result, seen = await watched(stack, rewrite_and_checkpoint(stack))
    assert result == "done"
    assert seen.aof_rewrites is not None
    assert seen.aof_rewrites >= 1
    assert seen.fork_ms is not None
    assert seen.checkpoints is not None
    assert seen.checkpoints >= 1
    assert seen.autovacuum_seen  # the workers were looked for
    assert seen.describe().startswith("meanwhile: ")


@pytest.mark.usefixtures("session_servers")
async def test_a_quiet_run_counts_no_rewrite(tmp_path: Path) -> None:
    async with open_stack(tmp_path, pin_cores=False) as stack:
        _, seen = await watched(stack, asyncio.sleep(0.3))
    assert seen.aof_rewrites == 0
    assert "0 Valkey AOF rewrites" in seen.describe()


# Valkey busy for ``ARGV[1]`` microseconds by its own clock: one slow command.
_BUSY = """
local start = redis.call('TIME')
repeat
  local now = redis.call('TIME')
until (now[1] - start[1]) * 1000000 + (now[2] - start[2]) >= tonumber(ARGV[1])
return 1
"""


async def settings(stack: Stack) -> list[object]:
    return [
        (await stack.redis.call("CONFIG", "GET", name))[1]
        for name in ("slowlog-log-slower-than", "slowlog-max-len")
    ]


@pytest.mark.usefixtures("session_servers")
async def test_valkeys_slow_commands_during_a_run_are_counted(tmp_path: Path) -> None:
    async with open_stack(tmp_path, pin_cores=False) as stack:
        before = await settings(stack)

        async def slow_command() -> None:
            await stack.redis.call("EVAL", _BUSY, 0, 3000)

        _, seen = await watched(stack, slow_command())
        after = await settings(stack)
    assert seen.slow_commands is not None
    assert seen.slow_commands >= 1
    assert seen.slowest_ms is not None
    assert seen.slowest_ms >= 3.0
    assert "Valkey command" in seen.describe()
    assert after == before  # the server's own slow log settings are put back
