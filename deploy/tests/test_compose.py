"""The compose files: valid against the compose specification, complete, and wired right."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

COMPOSE = Path("deploy/compose")
APIS = {"admin-api": "8081", "consumer-api": "8080"}
SERVICES = {**APIS, "scheduler": "8082", "settlement-worker": "8083"}
INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+):-((?:[^{}]|\$\{[^{}]*\})*)\}")


def load(repo_root: Path, name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((repo_root / COMPOSE / name).read_text())
    return loaded


def with_defaults(value: str) -> str:
    """``value`` as compose reads it when none of its variables is set."""
    while (resolved := INTERPOLATION.sub(lambda m: m.group(2), value)) != value:
        value = resolved
    return value


@pytest.fixture(scope="module")
def compose_schema() -> dict[str, Any]:
    vendor = resources.files("check_jsonschema") / "builtin_schemas" / "vendor"
    schema: dict[str, Any] = json.loads((vendor / "compose-spec.json").read_text())
    return schema


@pytest.fixture(scope="module")
def infra(repo_root: Path) -> dict[str, Any]:
    return load(repo_root, "infra.yaml")


@pytest.fixture(scope="module")
def services(repo_root: Path) -> dict[str, Any]:
    return load(repo_root, "services.yaml")


@pytest.mark.parametrize("name", ["infra.yaml", "services.yaml"])
def test_files_follow_the_compose_specification(
    repo_root: Path, compose_schema: dict[str, Any], name: str
) -> None:
    validator = jsonschema.validators.validator_for(compose_schema)(compose_schema)
    errors = [error.message for error in validator.iter_errors(load(repo_root, name))]
    assert errors == []


def test_the_schema_check_catches_a_misspelt_key(
    infra: dict[str, Any], compose_schema: dict[str, Any]
) -> None:
    broken = json.loads(json.dumps(infra))
    broken["services"]["postgres"]["healthchek"] = broken["services"]["postgres"].pop("healthcheck")
    validator = jsonschema.validators.validator_for(compose_schema)(compose_schema)
    assert list(validator.iter_errors(broken))


def test_every_server_keeps_its_data_and_reports_health(infra: dict[str, Any]) -> None:
    volumes = set(infra["volumes"])
    for name in ("postgres", "valkey", "nats"):
        service = infra["services"][name]
        assert service["healthcheck"]["test"], name
        mounted = {entry.split(":")[0] for entry in service["volumes"]}
        assert mounted & volumes, f"{name} keeps its data in no named volume"


def test_nats_runs_jetstream_on_its_volume_and_syncs_every_write(
    repo_root: Path, infra: dict[str, Any]
) -> None:
    nats = infra["services"]["nats"]
    config_mount = next(v for v in nats["volumes"] if v.endswith("/etc/nats/nats.conf:ro"))
    config = (repo_root / COMPOSE / config_mount.split(":")[0]).read_text()
    store = re.search(r"store_dir:\s*(\S+)", config)
    assert store is not None
    assert f"nats-data:{store.group(1)}" in nats["volumes"]
    assert re.search(r"sync_interval:\s*always", config)
    assert "/etc/nats/nats.conf" in nats["command"]


def test_every_container_gets_every_setting_and_nothing_else(
    services: dict[str, Any], setting_names: frozenset[str]
) -> None:
    for name, service in services["services"].items():
        if name == "gateway":
            continue
        given = {key for key in service["environment"] if key.startswith("FANFARE_")}
        assert given == setting_names, name


def test_each_service_hears_its_own_name_and_port(services: dict[str, Any]) -> None:
    for name, port in SERVICES.items():
        environment = services["services"][name]["environment"]
        assert environment["FANFARE_SERVICE_NAME"] == name
        assert environment["FANFARE_HTTP_PORT"] == port
        # Shoppers get the consumer API's CPU: the other services relay its events.
        relaying = "false" if name == "consumer-api" else "true"
        assert environment["FANFARE_OUTBOX_RELAY"] == relaying


def test_server_addresses_name_the_infrastructure_services(
    services: dict[str, Any], infra: dict[str, Any]
) -> None:
    environment = services["services"]["admin-api"]["environment"]
    hosts = {
        re.match(r"\w+://(?:[^@/]*@)?([^:/]+):(\d+)", with_defaults(environment[key])).group(1)  # type: ignore[union-attr]
        for key in ("FANFARE_DATABASE_URL", "FANFARE_REDIS_URL", "FANFARE_NATS_URL")
    }
    assert hosts == set(infra["services"])
    assert str(services["include"][0]) == "infra.yaml"


def test_two_replicas_of_each_api_behind_the_gateway(
    repo_root: Path, services: dict[str, Any]
) -> None:
    caddyfile = (repo_root / COMPOSE / "Caddyfile").read_text()
    for name, port in APIS.items():
        service = services["services"][name]
        assert service["deploy"]["replicas"] == 2
        assert "ports" not in service  # reachable only through the gateway
        assert re.search(rf"name {name}\s+port {port}", caddyfile), name
    assert services["services"]["gateway"]["depends_on"].keys() == APIS.keys()


def test_migrations_run_once_before_every_service(services: dict[str, Any]) -> None:
    migrate = services["services"]["migrate"]
    assert migrate["command"] == ["migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in SERVICES:
        depends_on = services["services"][name]["depends_on"]
        assert depends_on["migrate"]["condition"] == "service_completed_successfully"
        for server in ("postgres", "valkey", "nats"):
            assert depends_on[server]["condition"] == "service_healthy"


def test_services_drain_on_sigterm_without_privileges(services: dict[str, Any]) -> None:
    for name in SERVICES:
        service = services["services"][name]
        assert service["stop_grace_period"] == "30s"
        assert service["read_only"] is True
        assert service["cap_drop"] == ["ALL"]


def test_each_service_is_built_from_its_own_image_target(
    repo_root: Path, services: dict[str, Any]
) -> None:
    dockerfile = (repo_root / "deploy/docker/Dockerfile").read_text()
    targets = set(re.findall(r"^FROM \S+ AS (\S+)$", dockerfile, re.MULTILINE))
    for name, service in services["services"].items():
        if "build" not in service:
            continue
        target = service["build"]["target"]
        assert target in targets, name
        assert (repo_root / COMPOSE / service["build"]["context"]).resolve() == repo_root
        assert with_defaults(service["image"]).startswith(f"fanfare/{target}:")
