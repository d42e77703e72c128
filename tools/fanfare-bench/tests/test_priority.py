"""The API under test runs ahead of the machine's other work where permitted."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fanfare_bench.stack import AHEAD, may_put_ahead, put_ahead

# A process with a second thread, in a session (and so an autogroup) of its own.
TWO_THREADS = "import threading, time; threading.Thread(target=time.sleep, args=(60,)).start(); time.sleep(60)"  # noqa: E501


def nice_values(pid: int) -> dict[int, int]:
    tasks = Path(f"/proc/{pid}/task").iterdir()
    return {int(task.name): os.getpriority(os.PRIO_PROCESS, int(task.name)) for task in tasks}


def autogroup(pid: int) -> str | None:
    group = Path(f"/proc/{pid}/autogroup")
    return group.read_text().strip() if group.exists() else None


@pytest.fixture
def child() -> Iterator[int]:
    process = subprocess.Popen([sys.executable, "-c", TWO_THREADS], start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while len(list(Path(f"/proc/{process.pid}/task").iterdir())) < 2:
            assert time.monotonic() < deadline, "the child never started its thread"
            time.sleep(0.01)
        yield process.pid
    finally:
        process.kill()
        process.wait()


def test_a_process_put_ahead_has_every_thread_and_its_autogroup_ahead(child: int) -> None:
    before = nice_values(child)
    ahead = put_ahead(child)
    assert ahead == may_put_ahead()
    if os.geteuid() == 0:
        assert ahead
    after = nice_values(child)
    assert after.keys() == before.keys()
    if ahead:
        assert set(after.values()) == {AHEAD}
        if autogroup(child) is not None:
            assert autogroup(child).endswith(f"nice {AHEAD}")  # type: ignore[union-attr]
    else:
        assert after == before
