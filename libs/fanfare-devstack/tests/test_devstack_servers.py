"""Each embedded server, for real: start, answer, restart on the same port, stop."""

from __future__ import annotations

import os
import socket
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest

from fanfare_devstack import _pgcluster
from fanfare_devstack._unprivileged import postgres_run_as
from fanfare_devstack.ports import free_port, port_is_open
from fanfare_devstack.servers import (
    EmbeddedNats,
    EmbeddedPostgres,
    EmbeddedValkey,
    ServerStartError,
)

from .helpers import nats_info, process_exists, resp_command


def assert_stopped(port: int, pid: int) -> None:
    assert not port_is_open("127.0.0.1", port)
    assert not process_exists(pid)


def test_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_postgres_answers_keeps_data_across_restart_and_stops(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "pg")
    assert server.url == f"postgresql://postgres@127.0.0.1:{server.port}/fanfare"
    server.start()
    first_pid = server.pid
    assert first_pid is not None
    server.start()  # idempotent
    assert server.pid == first_pid

    with psycopg.connect(server.url, autocommit=True) as connection:
        assert connection.execute("select 1").fetchone() == (1,)
        connection.execute("create table drops (id int primary key, name text)")
        connection.execute("insert into drops values (1, 'sneaker')")

    url = server.url
    server.restart()
    assert server.url == url
    assert server.pid not in (None, first_pid)
    with psycopg.connect(server.url) as connection:
        assert connection.execute("select name from drops").fetchall() == [("sneaker",)]

    last_pid = server.pid
    assert last_pid is not None
    server.stop()
    server.stop()  # idempotent
    assert server.pid is None
    assert_stopped(server.port, last_pid)
    assert "starting" in (tmp_path / "pg" / "server.log").read_text()


def test_postgres_recovers_committed_data_after_kill(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "pg", database="crash")
    server.start()
    try:
        with psycopg.connect(server.url, autocommit=True) as connection:
            connection.execute("create table t (v int)")
            connection.execute("insert into t values (42)")
        pid = server.pid
        assert pid is not None
        server.kill()
        assert_stopped(server.port, pid)
        server.start()
        with psycopg.connect(server.url) as connection:
            assert connection.execute("select v from t").fetchall() == [(42,)]
    finally:
        server.stop()


def test_postgres_start_failure_reports_the_log_tail(tmp_path: Path) -> None:
    server = EmbeddedPostgres(
        tmp_path / "pg", settings={"max_connections": "not-a-number"}, start_timeout=10
    )
    with pytest.raises(ServerStartError, match="max_connections"):
        server.start()
    assert server.pid is None


def test_postgres_clusters_are_copied_from_a_cached_template(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FANFARE_DEVSTACK_CACHE_DIR", str(tmp_path / "cache"))
    owner = postgres_run_as()
    template = _pgcluster.template_path()
    assert template.parent == tmp_path / "cache"

    _pgcluster.create_cluster(tmp_path / "first", owner)
    assert _pgcluster.is_cluster(tmp_path / "first")
    assert _pgcluster.is_cluster(template)

    (template / "came-from-template").write_text("yes")
    _pgcluster.create_cluster(tmp_path / "second", owner)
    assert (tmp_path / "second" / "came-from-template").exists()
    assert not list(tmp_path.glob(".*"))  # no staging folder left behind


def test_valkey_answers_keeps_data_across_restart_and_stops(tmp_path: Path) -> None:
    server = EmbeddedValkey(tmp_path / "valkey")
    assert server.url == f"redis://127.0.0.1:{server.port}/0"
    server.start()
    try:
        assert resp_command(server.port, "PING") == b"+PONG\r\n"
        assert resp_command(server.port, "SET", "drop:1", "open") == b"+OK\r\n"
        first_pid = server.pid
        server.restart()
        assert server.pid not in (None, first_pid)
        assert resp_command(server.port, "GET", "drop:1") == b"$4\r\nopen\r\n"
    finally:
        last_pid = server.pid
        server.stop()
    assert last_pid is not None
    assert_stopped(server.port, last_pid)


def test_valkey_forks_its_rewrite_onto_the_cores_given(tmp_path: Path) -> None:
    fork_cpu = max(os.sched_getaffinity(0))
    server = EmbeddedValkey(tmp_path / "valkey")
    server.fork_cpus = {fork_cpu}
    server.start()
    try:
        assert server.pid is not None
        # Each key then takes the rewrite 0.2 s, long enough to find its process.
        assert resp_command(server.port, "CONFIG", "SET", "rdb-key-save-delay", "200000") == (
            b"+OK\r\n"
        )
        for index in range(10):
            resp_command(server.port, "SET", f"drop:{index}", "open")
        assert resp_command(server.port, "BGREWRITEAOF").startswith(b"+")
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children")
        deadline = time.monotonic() + 5
        while not children.read_text().split() and time.monotonic() < deadline:
            time.sleep(0.01)
        (child,) = children.read_text().split()
        # The child moves itself onto its cores just after the fork: wait for that (the
        # rewrite lasts two seconds), as a child that never moves fails here.
        while os.sched_getaffinity(int(child)) != {fork_cpu} and time.monotonic() < deadline:
            time.sleep(0.01)
        assert os.sched_getaffinity(int(child)) == {fork_cpu}
        assert len(os.sched_getaffinity(server.pid)) == len(os.sched_getaffinity(0))
    finally:
        server.stop()


def test_valkey_refuses_a_port_that_is_taken(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        server = EmbeddedValkey(tmp_path / "valkey", port=squatter.getsockname()[1])
        with pytest.raises(ServerStartError, match="already in use"):
            server.start()
    assert server.pid is None


def test_nats_runs_jetstream_restarts_on_the_same_port_and_stops(tmp_path: Path) -> None:
    server = EmbeddedNats(tmp_path / "nats")
    assert server.url == f"nats://127.0.0.1:{server.port}"
    server.start()
    try:
        assert nats_info(server.port)["jetstream"] is True
        with urllib.request.urlopen(f"{server.monitor_url}/healthz", timeout=5) as response:
            assert response.status == 200
        first_pid = server.pid
        server.restart()
        assert server.pid not in (None, first_pid)
        assert nats_info(server.port)["port"] == server.port
    finally:
        last_pid = server.pid
        server.stop()
    assert last_pid is not None
    assert_stopped(server.port, last_pid)


def test_private_fixtures_give_running_servers(
    private_nats: EmbeddedNats, private_valkey: EmbeddedValkey
) -> None:
    assert nats_info(private_nats.port)["jetstream"] is True
    assert resp_command(private_valkey.port, "PING") == b"+PONG\r\n"
