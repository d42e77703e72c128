"""``fanfare dev up``: the whole system on this machine, for ``make run``.

Starts PostgreSQL, Valkey and NATS from PyPI wheels (unless ``FANFARE_*_URL`` point
elsewhere), applies migrations, ensures the demo tenant, starts the four services, writes
``<run dir>/stack.env`` once everything is ready, and on Ctrl-C or SIGTERM stops every
process it started, services first.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from fanfare_cli.demo import ensure_demo_tenant
from fanfare_core.adapters.postgres.migrate import migrate
from fanfare_core.settings import load_settings
from fanfare_devstack.infrastructure import Infrastructure
from fanfare_devstack.ports import free_port
from fanfare_devstack.processes import (
    ADMIN_API,
    CONSUMER_API,
    DEFAULT_PORTS,
    MODULES,
    ServiceProcess,
    ServiceSpec,
    ServiceStartError,
)

INFRA_DEFAULT_PORTS = {"postgres": 15432, "redis": 16379, "nats": 14222}


def register(commands: Any) -> None:
    dev = commands.add_parser("dev", help="the local development stack").add_subparsers(
        dest="action", required=True
    )
    up = dev.add_parser("up", help="start everything; Ctrl-C stops it")
    up.add_argument("--run-dir", type=Path, default=Path(".run"), help="state and logs")
    for name, port in {**DEFAULT_PORTS, **INFRA_DEFAULT_PORTS}.items():
        up.add_argument(f"--{name}-port", type=int, default=port, help="0 picks a free port")
    up.set_defaults(run=_up)


def _port(args: argparse.Namespace, name: str) -> int:
    port: int = getattr(args, f"{name.replace('-', '_')}_port")
    return port or free_port()


def _write_env(path: Path, values: dict[str, str]) -> None:
    lines = [f"{key}={shlex.quote(value)}" for key, value in values.items()]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.chmod(0o600)
    tmp.replace(path)


def _up(args: argparse.Namespace) -> int:
    run_dir: Path = args.run_dir.resolve()
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    stack_env = run_dir / "stack.env"
    stack_env.unlink(missing_ok=True)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    infrastructure = Infrastructure(
        run_dir / "infra", ports={name: _port(args, name) for name in INFRA_DEFAULT_PORTS}
    )
    services: list[ServiceProcess] = []
    try:
        print("starting PostgreSQL, Valkey and NATS ...", flush=True)
        urls = infrastructure.start()
        env = {**os.environ, **urls.as_env()}
        settings = load_settings(env, service_name="fanfare-dev")
        applied = asyncio.run(migrate(settings.database_url))
        print(f"migrations: {len(applied)} applied", flush=True)
        demo = asyncio.run(ensure_demo_tenant(settings, run_dir / "demo.json"))
        for name, module in MODULES.items():
            spec = ServiceSpec(name, module, _port(args, name))
            service = ServiceProcess(spec, env, run_dir / "logs" / f"{name}.log")
            service.start()
            services.append(service)
        for service in services:
            service.wait_ready()
        by_name = {s.spec.name: s.spec for s in services}
        values = {
            "ADMIN_URL": by_name[ADMIN_API].url,
            "CONSUMER_URL": by_name[CONSUMER_API].url,
            **{f"{n.upper().replace('-', '_')}_URL": s.url for n, s in by_name.items()},
            "FANFARE_SECRET_KEY": demo.secret_key,
            "FANFARE_PUBLISHABLE_KEY": demo.publishable_key,
            "FANFARE_ORGANIZATION_ID": demo.organization_id,
            "FANFARE_EXPERIENCE_ID": demo.experience_id,
            "FANFARE_SEQUENCE_ID": demo.sequence_id,
            **urls.as_env(),
        }
        _write_env(stack_env, values)
        _print_summary(values, run_dir)
        while not stop.wait(0.5):
            for service in services:
                status = service.exited()
                if status is not None:
                    print(f"{service.spec.name} exited with status {status}; stopping", flush=True)
                    return 1
        return 0
    except ServiceStartError as error:
        print(f"error: {error} (see {run_dir / 'logs'})", flush=True)
        return 1
    finally:
        stack_env.unlink(missing_ok=True)
        print("stopping services ...", flush=True)
        for service in reversed(services):
            service.stop()
        print("stopping PostgreSQL, Valkey and NATS ...", flush=True)
        infrastructure.stop()
        print("stopped", flush=True)


def _print_summary(values: dict[str, str], run_dir: Path) -> None:
    width = max(len(k) for k in values)
    print("\nFanfare is running. Ctrl-C stops everything.\n", flush=True)
    for key, value in values.items():
        print(f"  {key.ljust(width)}  {value}")
    print(
        f"\n  API docs: {values['ADMIN_URL']}/docs and {values['CONSUMER_URL']}/docs"
        f"\n  logs:     {run_dir / 'logs'}"
        f"\n  these values are in {run_dir / 'stack.env'}\n",
        flush=True,
    )
