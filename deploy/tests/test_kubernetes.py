"""The Kubernetes manifests (deploy/k8s): they render, validate against the Kubernetes API
schemas, give every container every setting, and carry what production needs (probes,
resources, hardening, disruption budgets, autoscalers, the migration's order). The
production data stores' inputs (deploy/k8s/infra) are checked for replication too."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from fanfare_core.settings import Settings, load_settings

# The Kubernetes version whose API schemas the manifests must satisfy.
KUBERNETES_VERSION = "1.33.0"

Doc = dict[str, Any]
Render = Callable[[str], list[Doc]]

RENDERED = ("base", "overlays/dev", "overlays/production")
OVERLAYS = ("overlays/dev", "overlays/production")
NAMESPACES = {"overlays/dev": "fanfare-dev", "overlays/production": "fanfare"}
STREAM_REPLICAS = {"base": "1", "overlays/dev": "1", "overlays/production": "3"}
IMAGE_TAGS = {"base": "0.1.0", "overlays/dev": "dev", "overlays/production": "0.1.0"}
SECRET_URLS = ("FANFARE_DATABASE_URL", "FANFARE_REDIS_URL", "FANFARE_NATS_URL")


@dataclass(frozen=True)
class Workload:
    """One row of the services' table: ``short`` names the container, the
    ``FANFARE_SERVICE_NAME`` and the pods' ``app.kubernetes.io/name``."""

    kind: str
    short: str
    port: int | None
    api: bool = False
    image_override: str | None = None

    @property
    def name(self) -> str:
        return f"fanfare-{self.short}"

    @property
    def container(self) -> str:
        return self.short

    @property
    def service_name(self) -> str:
        return self.short

    @property
    def image(self) -> str:
        return self.image_override or f"fanfare/{self.short}"


DEPLOYMENTS = (
    Workload("Deployment", "admin-api", 8081, api=True),
    Workload("Deployment", "consumer-api", 8080, api=True),
    Workload("Deployment", "scheduler", 8082),
    Workload("Deployment", "settlement-worker", 8083),
)
MIGRATION = Workload("Job", "migrate", None, image_override="fanfare/cli")
WORKLOADS = (*DEPLOYMENTS, MIGRATION)
APIS = tuple(workload for workload in DEPLOYMENTS if workload.api)
WORKERS = tuple(workload for workload in DEPLOYMENTS if not workload.api)


# ---------------------------------------------------------------- rendering and lookup


def _kustomize_command() -> list[str] | None:
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    return None


@pytest.fixture(scope="session")
def k8s_dir(repo_root: Path) -> Path:
    return repo_root / "deploy" / "k8s"


@pytest.fixture(scope="session")
def render(k8s_dir: Path) -> Render:
    """Render a kustomization under deploy/k8s (cached), with kubectl or kustomize."""
    command = _kustomize_command()
    if command is None:
        reason = "neither kubectl nor kustomize is on PATH, so deploy/k8s cannot be rendered"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    rendered: dict[str, list[Doc]] = {}

    def _render(name: str) -> list[Doc]:
        if name not in rendered:
            result = subprocess.run(
                [*command, str(k8s_dir / name)],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert result.returncode == 0, f"{' '.join(command)} {name} failed:\n{result.stderr}"
            docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
            assert docs, f"{name} rendered nothing"
            rendered[name] = docs
        return rendered[name]

    return _render


def of_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] == kind]


def find(docs: list[Doc], kind: str, name: str) -> Doc | None:
    matches = [doc for doc in of_kind(docs, kind) if doc["metadata"]["name"] == name]
    assert len(matches) <= 1, f"{len(matches)} {kind}s named {name}"
    return matches[0] if matches else None


def get(docs: list[Doc], kind: str, name: str) -> Doc:
    doc = find(docs, kind, name)
    assert doc is not None, f"no {kind} {name} in the rendered manifests"
    return doc


def pod_spec(doc: Doc) -> Doc:
    spec: Doc = doc["spec"]["template"]["spec"]
    return spec


def pod_labels(doc: Doc) -> dict[str, str]:
    labels: dict[str, str] = doc["spec"]["template"]["metadata"]["labels"]
    return labels


def container(doc: Doc, name: str) -> Doc:
    matches = [item for item in pod_spec(doc)["containers"] if item["name"] == name]
    assert len(matches) == 1, f"{doc['kind']} {doc['metadata']['name']} has no container {name}"
    return matches[0]


def workload(docs: list[Doc], spec: Workload) -> tuple[Doc, Doc]:
    doc = get(docs, spec.kind, spec.name)
    return doc, container(doc, spec.container)


def pod_templates(docs: list[Doc]) -> Iterator[Doc]:
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"):
            yield doc


def all_containers(doc: Doc) -> list[Doc]:
    spec = pod_spec(doc)
    return [*spec.get("initContainers", []), *spec["containers"]]


def selects(selector: Doc, labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels only) selects pods with these labels."""
    assert not selector.get("matchExpressions"), "only matchLabels selectors are expected"
    match = selector.get("matchLabels") or {}
    return bool(match) and all(labels.get(key) == value for key, value in match.items())


def secret_data(secret: Doc) -> dict[str, str]:
    data = {
        key: base64.b64decode(value).decode() for key, value in (secret.get("data") or {}).items()
    }
    data.update(secret.get("stringData") or {})
    return data


def plain_env(item: Doc) -> dict[str, str]:
    return {env["name"]: env["value"] for env in item.get("env", []) if "value" in env}


def configmap_env(docs: list[Doc], item: Doc) -> dict[str, str]:
    values: dict[str, str] = {}
    for source in item.get("envFrom", []):
        if "configMapRef" in source:
            configmap = get(docs, "ConfigMap", source["configMapRef"]["name"])
            prefix = source.get("prefix", "")
            values.update({prefix + key: str(value) for key, value in configmap["data"].items()})
    return values


def env_names(docs: list[Doc], item: Doc) -> list[str]:
    """Every variable a container gets, in order, duplicates kept."""
    names = [env["name"] for env in item.get("env", [])]
    for source in item.get("envFrom", []):
        if "configMapRef" in source:
            ref, kind = source["configMapRef"], "ConfigMap"
        else:
            ref, kind = source["secretRef"], "Secret"
        found = find(docs, kind, ref["name"])
        assert found is not None, (
            f"envFrom {kind} {ref['name']} is not rendered: its keys are unknowable"
        )
        keys = found.get("data") or {}
        if kind == "Secret":
            keys = secret_data(found)
        names.extend(source.get("prefix", "") + key for key in keys)
    return names


def secret_refs(item: Doc) -> dict[str, tuple[str, str]]:
    """Variable -> (Secret, key) of the container's secretKeyRef entries."""
    refs = {}
    for env in item.get("env", []):
        ref = env.get("valueFrom", {}).get("secretKeyRef")
        if ref is not None:
            refs[env["name"]] = (ref["name"], ref["key"])
    return refs


def image_parts(image: str) -> tuple[str, str | None]:
    """(repository, tag) of an image reference; a digest counts as the tag."""
    if "@" in image:
        repository, digest = image.split("@", 1)
        return repository, digest
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        repository, tag = image.rsplit(":", 1)
        return repository, tag
    return image, None


def cpu_cores(quantity: object) -> float:
    text = str(quantity)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


_MEMORY_UNITS = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
}


def memory_bytes(quantity: object) -> float:
    text = str(quantity)
    for suffix, factor in _MEMORY_UNITS.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def validation_errors(doc: Doc) -> str | None:
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        path = "/".join(str(part) for part in error.path)
        return (
            f"{doc.get('kind')} {doc.get('metadata', {}).get('name')}: {error.message} at /{path}"
        )
    return None


# ------------------------------------------------------------------ schema validation


def test_validator_knows_the_version() -> None:
    assert KUBERNETES_VERSION in kubernetes_validate.utils.all_versions()


def test_validation_rejects_a_broken_object() -> None:
    broken = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "x"},
        "automount": False,
    }
    assert validation_errors(broken) is not None


@pytest.mark.parametrize("name", RENDERED)
def test_rendered_manifests_validate(render: Render, name: str) -> None:
    errors = [error for doc in render(name) if (error := validation_errors(doc))]
    assert not errors, "\n".join(errors)


def _kustomization_files(directory: Path) -> tuple[set[Path], set[Path]]:
    """(resource files, patch files) a kustomization.yaml names."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    resources = {
        (directory / entry).resolve()
        for entry in kustomization.get("resources", [])
        if (directory / entry).is_file()
    }
    patches = {
        (directory / entry["path"]).resolve()
        for key in ("patches", "patchesJson6902")
        for entry in kustomization.get(key, [])
        if "path" in entry
    }
    patches |= {
        (directory / entry).resolve() for entry in kustomization.get("patchesStrategicMerge", [])
    }
    return resources, patches


def test_every_manifest_file_is_a_valid_object_and_used(k8s_dir: Path) -> None:
    """Each YAML file under base/ and overlays/ is a kustomization, a patch it names, or a
    resource it names that validates on its own."""
    roots = [k8s_dir / "base", *(k8s_dir / "overlays").iterdir()]
    resources: set[Path] = set()
    patches: set[Path] = set()
    for root in roots:
        named_resources, named_patches = _kustomization_files(root)
        resources |= named_resources
        patches |= named_patches
    files = {
        path.resolve()
        for root in roots
        for path in root.rglob("*")
        if path.suffix in (".yaml", ".yml") and path.name != "kustomization.yaml"
    }
    assert files - patches - resources == set(), "YAML files no kustomization uses"
    errors = []
    for path in sorted(files - patches):
        docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
        assert docs, f"{path} is empty"
        for doc in docs:
            assert {"apiVersion", "kind", "metadata"} <= doc.keys(), f"{path} holds a non-object"
            if error := validation_errors(doc):
                errors.append(f"{path.relative_to(k8s_dir)}: {error}")
    assert len(files - patches) >= 10
    assert not errors, "\n".join(errors)


# ---------------------------------------------------------------------------- settings


@pytest.mark.parametrize("name", RENDERED)
@pytest.mark.parametrize("spec", WORKLOADS, ids=lambda spec: spec.name)
def test_every_container_gets_exactly_the_settings(
    render: Render, name: str, spec: Workload, setting_names: frozenset[str]
) -> None:
    docs = render(name)
    _, item = workload(docs, spec)
    names = env_names(docs, item)
    duplicated = sorted({variable for variable in names if names.count(variable) > 1})
    assert not duplicated, f"set twice (one silently wins): {duplicated}"
    given = {variable for variable in names if variable.startswith("FANFARE_")}
    assert not setting_names - given, f"missing: {sorted(setting_names - given)}"
    assert not given - setting_names, f"not settings: {sorted(given - setting_names)}"


@pytest.mark.parametrize("name", RENDERED)
@pytest.mark.parametrize("spec", WORKLOADS, ids=lambda spec: spec.name)
def test_setting_values(render: Render, name: str, spec: Workload) -> None:
    """Values parse, are the Settings defaults but for the container's own ones, and the
    three server URLs come from Secrets."""
    docs = render(name)
    _, item = workload(docs, spec)
    environ = configmap_env(docs, item) | plain_env(item)
    refs = secret_refs(item)
    assert set(refs) == set(SECRET_URLS), "the server URLs must come from Secrets"
    assert not set(SECRET_URLS) & set(environ), "a server URL is in plain text"
    settings = load_settings(environ)
    assert settings.service_name == spec.service_name
    if spec.port is not None:
        assert settings.http_port == spec.port
    assert settings.http_host == "0.0.0.0"  # containers listen on the pod IP
    assert settings.log_format == "json"
    assert environ["FANFARE_STREAM_REPLICAS"] == STREAM_REPLICAS[name]
    # The ingress controller's pods have cluster-internal addresses: its X-Forwarded-For
    # must count (the default trusts only loopback), nobody's else.
    proxies = settings.trusted_proxies.split(",")
    assert "*" not in proxies
    assert proxies != Settings().trusted_proxies.split(",")
    # Shoppers get the consumer API's CPU: the other services relay its events.
    assert settings.outbox_relay is (spec.short != "consumer-api")
    own = {"database_url", "redis_url", "nats_url", "service_name", "http_host", "http_port"}
    own |= {"log_format", "stream_replicas", "trusted_proxies", "outbox_relay"}
    defaults = Settings()
    differing = {
        field.name: getattr(settings, field.name)
        for field in fields(Settings)
        if field.name not in own and getattr(settings, field.name) != getattr(defaults, field.name)
    }
    assert not differing, f"not the defaults of Settings: {differing}"


@pytest.mark.parametrize("spec", WORKLOADS, ids=lambda spec: spec.name)
def test_production_reads_the_database_url_from_cloudnativepg(
    render: Render, spec: Workload
) -> None:
    docs = render("overlays/production")
    _, item = workload(docs, spec)
    assert secret_refs(item) == {
        "FANFARE_DATABASE_URL": ("fanfare-postgres-app", "uri"),
        "FANFARE_REDIS_URL": ("fanfare-secrets", "redis-url"),
        "FANFARE_NATS_URL": ("fanfare-secrets", "nats-url"),
    }


def test_production_does_not_ship_the_secret_it_references(render: Render) -> None:
    """The operator creates fanfare-secrets; the overlay must not overwrite it."""
    secrets = [doc["metadata"]["name"] for doc in of_kind(render("overlays/production"), "Secret")]
    assert not [name for name in secrets if name.startswith("fanfare-secrets")]


@pytest.mark.parametrize("spec", WORKLOADS, ids=lambda spec: spec.name)
def test_dev_secrets_point_at_the_dev_servers(render: Render, spec: Workload) -> None:
    docs = render("overlays/dev")
    _, item = workload(docs, spec)
    schemes = {
        "FANFARE_DATABASE_URL": "postgresql",
        "FANFARE_REDIS_URL": "redis",
        "FANFARE_NATS_URL": "nats",
    }
    for variable, (secret_name, key) in secret_refs(item).items():
        data = secret_data(get(docs, "Secret", secret_name))
        assert key in data, f"{variable}: Secret {secret_name} has no key {key}"
        url = urlsplit(data[key])
        assert url.scheme == schemes[variable]
        service = get(docs, "Service", str(url.hostname))
        assert url.port in {port["port"] for port in service["spec"]["ports"]}, data[key]


# ------------------------------------------------------------------- workloads' shape


@pytest.mark.parametrize("name", RENDERED)
def test_the_expected_workloads_and_no_others(render: Render, name: str) -> None:
    docs = render(name)
    deployments = {doc["metadata"]["name"] for doc in of_kind(docs, "Deployment")}
    assert deployments == {spec.name for spec in DEPLOYMENTS}
    assert {doc["metadata"]["name"] for doc in of_kind(docs, "Job")} == {MIGRATION.name}


@pytest.mark.parametrize("name", RENDERED)
@pytest.mark.parametrize("spec", WORKLOADS, ids=lambda spec: spec.name)
def test_images_and_commands(render: Render, name: str, spec: Workload) -> None:
    doc, item = workload(render(name), spec)
    repository, tag = image_parts(item["image"])
    assert repository == spec.image or repository.endswith("/" + spec.image), item["image"]
    assert tag == IMAGE_TAGS[name]
    assert "command" not in item, "the image's ENTRYPOINT is the command"
    if spec.kind == "Job":
        assert item["args"] == ["migrate"]
    else:
        assert "args" not in item
    labels = pod_labels(doc)
    assert labels["app.kubernetes.io/part-of"] == "fanfare"
    assert labels["app.kubernetes.io/name"] == spec.service_name
    assert labels.get("app.kubernetes.io/component")


@pytest.mark.parametrize("name", RENDERED)
@pytest.mark.parametrize("spec", DEPLOYMENTS, ids=lambda spec: spec.name)
def test_probes(render: Render, name: str, spec: Workload) -> None:
    _, item = workload(render(name), spec)
    ports = {port["name"]: port["containerPort"] for port in item["ports"]}
    assert ports.get("http") == spec.port
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        http_get = item[probe]["httpGet"]
        assert http_get["path"] == path, probe
        assert http_get["port"] in ("http", spec.port), probe
    if "startupProbe" in item:
        startup = item["startupProbe"]["httpGet"]
        assert startup["path"] == "/healthz"
        assert startup["port"] in ("http", spec.port)


@pytest.mark.parametrize("name", RENDERED)
def test_every_container_has_requests_and_limits(render: Render, name: str) -> None:
    containers = [
        (doc, item) for doc in pod_templates(render(name)) for item in all_containers(doc)
    ]
    assert containers
    for doc, item in containers:
        where = f"{doc['kind']} {doc['metadata']['name']}/{item['name']}"
        resources = item.get("resources", {})
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources.get(bound, {})), f"{where}: {bound}"
        assert cpu_cores(resources["requests"]["cpu"]) <= cpu_cores(resources["limits"]["cpu"]), (
            where
        )
        requested = memory_bytes(resources["requests"]["memory"])
        assert requested <= memory_bytes(resources["limits"]["memory"]), where


@pytest.mark.parametrize("name", ["base", "overlays/production"])
def test_the_consumer_api_gets_the_most(render: Render, name: str) -> None:
    docs = render(name)
    limits = {spec.name: workload(docs, spec)[1]["resources"]["limits"] for spec in WORKLOADS}
    consumer = limits.pop("fanfare-consumer-api")
    assert cpu_cores(consumer["cpu"]) == 1
    assert memory_bytes(consumer["memory"]) == 512 * 2**20
    for other, limit in limits.items():
        assert cpu_cores(limit["cpu"]) < cpu_cores(consumer["cpu"]), other
        assert memory_bytes(limit["memory"]) < memory_bytes(consumer["memory"]), other


@pytest.mark.parametrize("name", RENDERED)
@pytest.mark.parametrize("spec", WORKLOADS, ids=lambda spec: spec.name)
def test_security_context(render: Render, name: str, spec: Workload) -> None:
    docs = render(name)
    doc, item = workload(docs, spec)
    pod = pod_spec(doc)
    pod_context = pod.get("securityContext", {})
    context = item.get("securityContext", {})
    merged = pod_context | context
    assert merged.get("runAsNonRoot") is True
    assert merged.get("runAsUser") == 10001
    assert merged.get("runAsGroup") == 10001
    assert merged.get("seccompProfile", {}).get("type") == "RuntimeDefault"
    assert context.get("allowPrivilegeEscalation") is False
    assert context.get("readOnlyRootFilesystem") is True
    assert context.get("privileged") in (None, False)
    assert "ALL" in context.get("capabilities", {}).get("drop", [])
    assert not context.get("capabilities", {}).get("add")
    tmp = [mount for mount in item.get("volumeMounts", []) if mount["mountPath"] == "/tmp"]
    assert len(tmp) == 1, "a writable /tmp"
    volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
    assert "emptyDir" in volumes[tmp[0]["name"]]
    assert pod.get("automountServiceAccountToken") is False
    account = get(docs, "ServiceAccount", pod["serviceAccountName"])
    assert account.get("automountServiceAccountToken") is False


@pytest.mark.parametrize("name", RENDERED)
@pytest.mark.parametrize("spec", DEPLOYMENTS, ids=lambda spec: spec.name)
def test_graceful_shutdown(render: Render, name: str, spec: Workload) -> None:
    doc, item = workload(render(name), spec)
    grace = pod_spec(doc).get("terminationGracePeriodSeconds", 30)
    assert 20 <= grace <= 60
    if spec.api:
        # Endpoints are removed while the pod still serves; then SIGTERM drains.
        sleep = item["lifecycle"]["preStop"]["exec"]["command"]
        assert sleep[0] == "sleep"
        assert 1 <= int(sleep[1]) <= grace - 15


def _replicas(docs: list[Doc], deployment: Doc) -> int:
    """Pods a Deployment runs at least: its HPA's minimum, else spec.replicas (default 1)."""
    for hpa in of_kind(docs, "HorizontalPodAutoscaler"):
        if hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]:
            return int(hpa["spec"].get("minReplicas", 1))
    return int(deployment["spec"].get("replicas", 1))


@pytest.mark.parametrize("name", RENDERED)
@pytest.mark.parametrize("spec", DEPLOYMENTS, ids=lambda spec: spec.name)
def test_a_disruption_budget_covers_each_deployment(
    render: Render, name: str, spec: Workload
) -> None:
    docs = render(name)
    deployment = get(docs, "Deployment", spec.name)
    budgets = [
        pdb
        for pdb in of_kind(docs, "PodDisruptionBudget")
        if selects(pdb["spec"]["selector"], pod_labels(deployment))
    ]
    assert len(budgets) == 1, f"{len(budgets)} PodDisruptionBudgets select {spec.name}"
    budget = budgets[0]["spec"]
    replicas = _replicas(docs, deployment)
    # The budget must protect, yet let a node drain evict one pod at the smallest scale.
    if "maxUnavailable" in budget:
        assert budget["maxUnavailable"] == 1
    else:
        assert 1 <= int(budget["minAvailable"]) < replicas, budget


@pytest.mark.parametrize("name", RENDERED)
@pytest.mark.parametrize("spec", APIS, ids=lambda spec: spec.name)
def test_an_autoscaler_owns_each_api(render: Render, name: str, spec: Workload) -> None:
    docs = render(name)
    deployment = get(docs, "Deployment", spec.name)
    autoscalers = [
        hpa
        for hpa in of_kind(docs, "HorizontalPodAutoscaler")
        if hpa["spec"]["scaleTargetRef"]["name"] == spec.name
    ]
    assert len(autoscalers) == 1
    hpa = autoscalers[0]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": spec.name,
    }
    cpu = [
        metric["resource"]["target"]
        for metric in hpa["spec"]["metrics"]
        if metric["type"] == "Resource" and metric["resource"]["name"] == "cpu"
    ]
    assert len(cpu) == 1
    assert cpu[0]["type"] == "Utilization"
    assert 30 <= cpu[0]["averageUtilization"] <= 90
    minimum, maximum = hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]
    assert 1 <= minimum < maximum
    if name == "overlays/production":
        assert minimum >= 3
        assert maximum >= (20 if spec.name == "fanfare-consumer-api" else 10)
    if name == "overlays/dev":
        assert minimum == 1
    # The HPA owns the count: a spec.replicas would be reset on every apply.
    assert "replicas" not in deployment["spec"]


@pytest.mark.parametrize("name", RENDERED)
@pytest.mark.parametrize("spec", WORKERS, ids=lambda spec: spec.name)
def test_worker_replicas(render: Render, name: str, spec: Workload) -> None:
    deployment = get(render(name), "Deployment", spec.name)
    expected = 1 if name == "overlays/dev" else 2
    assert deployment["spec"]["replicas"] == expected


@pytest.mark.parametrize("name", RENDERED)
@pytest.mark.parametrize("spec", APIS, ids=lambda spec: spec.name)
def test_apis_spread_over_nodes(render: Render, name: str, spec: Workload) -> None:
    doc = get(render(name), "Deployment", spec.name)
    pod = pod_spec(doc)
    spread = [
        constraint
        for constraint in pod.get("topologySpreadConstraints", [])
        if constraint["topologyKey"] == "kubernetes.io/hostname"
        and selects(constraint["labelSelector"], pod_labels(doc))
    ]
    anti = [
        term
        for term in pod.get("affinity", {})
        .get("podAntiAffinity", {})
        .get("requiredDuringSchedulingIgnoredDuringExecution", [])
        if term["topologyKey"] == "kubernetes.io/hostname"
        and selects(term["labelSelector"], pod_labels(doc))
    ]
    assert spread or anti


@pytest.mark.parametrize("name", RENDERED)
@pytest.mark.parametrize("spec", APIS, ids=lambda spec: spec.name)
def test_api_services(render: Render, name: str, spec: Workload) -> None:
    docs = render(name)
    deployment = get(docs, "Deployment", spec.name)
    service = get(docs, "Service", spec.name)
    assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
    assert selects({"matchLabels": service["spec"]["selector"]}, pod_labels(deployment))
    ports = {port["name"]: port for port in service["spec"]["ports"]}
    assert ports["http"]["port"] == spec.port
    assert ports["http"].get("targetPort") in ("http", spec.port)


@pytest.mark.parametrize("name", OVERLAYS)
def test_everything_lands_in_the_overlays_namespace(render: Render, name: str) -> None:
    for doc in render(name):
        if doc["kind"] == "Namespace":
            assert doc["metadata"]["name"] == NAMESPACES[name]
        else:
            assert doc["metadata"].get("namespace") == NAMESPACES[name], doc["metadata"]["name"]


# -------------------------------------------------------------- migration before rollout


def _wave(doc: Doc) -> int:
    return int(doc["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave", "0"))


@pytest.mark.parametrize("name", RENDERED)
def test_migration_job(render: Render, name: str) -> None:
    docs = render(name)
    job, item = workload(docs, MIGRATION)
    assert 1 <= job["spec"]["backoffLimit"] <= 10
    assert job["spec"]["ttlSecondsAfterFinished"] > 0
    assert pod_spec(job)["restartPolicy"] in ("OnFailure", "Never")
    annotations = job["metadata"]["annotations"]
    # Argo CD: a hook recreated on each sync, before the Deployments (wave 0) and after
    # what its pod reads.
    assert annotations["argocd.argoproj.io/hook"] in ("Sync", "PreSync")
    assert annotations["argocd.argoproj.io/hook-delete-policy"] == "BeforeHookCreation"
    for deployment in of_kind(docs, "Deployment"):
        assert _wave(deployment) > _wave(job)
    configmaps = [
        source["configMapRef"]["name"] for source in item["envFrom"] if "configMapRef" in source
    ]
    needed = [get(docs, "ConfigMap", configmap) for configmap in configmaps]
    needed.append(get(docs, "ServiceAccount", pod_spec(job)["serviceAccountName"]))
    needed += [
        secret
        for secret in of_kind(docs, "Secret")
        if secret["metadata"]["name"].startswith("fanfare-secrets")
    ]
    for doc in needed:
        assert _wave(doc) < _wave(job), doc["metadata"]["name"]
        # `kubectl apply -l 'app.kubernetes.io/component in (config,migration)'` applies them.
        assert doc["metadata"]["labels"]["app.kubernetes.io/component"] == "config"
    assert job["metadata"]["labels"]["app.kubernetes.io/component"] == "migration"


# ------------------------------------------------------------- dev overlay's data stores


DEV_STORES = {
    "postgres": ("postgres:17", 5432),
    "valkey": ("valkey/valkey:8", 6379),
    "nats": ("nats:2.15-alpine", 4222),
}


@pytest.mark.parametrize("store", DEV_STORES)
def test_dev_data_stores(render: Render, store: str) -> None:
    docs = render("overlays/dev")
    image, port = DEV_STORES[store]
    statefulset = get(docs, "StatefulSet", store)
    assert statefulset["spec"]["replicas"] == 1
    item = pod_spec(statefulset)["containers"][0]
    assert item["image"] == image
    assert "readinessProbe" in item
    claims = {claim["metadata"]["name"] for claim in statefulset["spec"]["volumeClaimTemplates"]}
    mounts = {mount["name"]: mount["mountPath"] for mount in item["volumeMounts"]}
    assert claims
    assert claims <= set(mounts), "data on the PersistentVolumeClaim"
    service = get(docs, "Service", store)
    assert selects({"matchLabels": service["spec"]["selector"]}, pod_labels(statefulset))
    assert port in {entry["port"] for entry in service["spec"]["ports"]}
    args = item.get("args", [])
    if store == "valkey":
        assert args[args.index("--appendonly") + 1] == "yes"
    if store == "nats":
        assert "-js" in args
        assert args[args.index("-sd") + 1] in mounts.values()
        assert args[args.index("-m") + 1] == "8222"


# ------------------------------------------------------------ production data stores


@pytest.fixture(scope="session")
def infra(k8s_dir: Path) -> Path:
    return k8s_dir / "infra"


def test_infra_is_not_part_of_any_kustomization(k8s_dir: Path, infra: Path) -> None:
    kustomizations = list(k8s_dir.rglob("kustomization.yaml"))
    assert len(kustomizations) == 3
    for kustomization in kustomizations:
        assert kustomization.parent != infra
        for entry in yaml.safe_load(kustomization.read_text()).get("resources", []):
            resolved = (kustomization.parent / entry).resolve()
            assert not resolved.is_relative_to(infra.resolve()), f"{kustomization}: {entry}"


def test_nats_values(infra: Path) -> None:
    values = yaml.safe_load((infra / "nats-values.yaml").read_text())
    cluster = values["config"]["cluster"]
    assert cluster["enabled"] is True
    assert cluster["replicas"] == 3
    jetstream = values["config"]["jetstream"]
    assert jetstream["enabled"] is True
    assert jetstream["fileStore"]["enabled"] is True
    assert jetstream["fileStore"]["pvc"]["enabled"] is True
    assert jetstream["fileStore"]["pvc"]["size"]
    assert jetstream["merge"]["sync_interval"] == "always"
    assert not jetstream.get("memoryStore", {}).get("enabled")
    spread = values["podTemplate"]["topologySpreadConstraints"]["kubernetes.io/hostname"]
    assert spread["whenUnsatisfiable"] == "DoNotSchedule"
    # The production overlay's FANFARE_NATS_URL host.
    assert values["fullnameOverride"] == "nats"


def test_postgres_cluster(infra: Path) -> None:
    docs = [doc for doc in yaml.safe_load_all((infra / "postgres-cluster.yaml").read_text()) if doc]
    assert len(docs) == 1
    cluster = docs[0]
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    assert cluster["kind"] == "Cluster"
    assert cluster["metadata"]["name"] == "fanfare-postgres"  # makes Secret fanfare-postgres-app
    spec = cluster["spec"]
    assert spec["instances"] == 3
    synchronous = spec.get("postgresql", {}).get("synchronous")
    if synchronous is not None:
        assert synchronous["method"] in ("any", "first")
        assert synchronous["number"] >= 1
        assert synchronous.get("dataDurability", "required") == "required"
    else:
        assert spec["minSyncReplicas"] >= 1
        assert spec["maxSyncReplicas"] >= spec["minSyncReplicas"]
    assert spec["bootstrap"]["initdb"]["database"] == "fanfare"
    assert spec["bootstrap"]["initdb"]["owner"] == "fanfare"
    assert spec["storage"]["size"]
    assert {"requests", "limits"} <= set(spec["resources"])
    assert spec["affinity"]["enablePodAntiAffinity"] is True


def test_valkey_values(infra: Path) -> None:
    values = yaml.safe_load((infra / "valkey-values.yaml").read_text())
    assert values["fullnameOverride"] == "valkey"
    assert values["dataStorage"]["enabled"] is True
    config = values["valkeyConfig"].splitlines()
    assert "appendonly yes" in [line.strip() for line in config]


def test_infra_readme_pins_every_chart(infra: Path) -> None:
    readme = (infra / "README.md").read_text()
    repositories = {
        "cnpg": "https://cloudnative-pg.github.io/charts",
        "nats": "https://nats-io.github.io/k8s/helm/charts/",
        "valkey": "https://valkey.io/valkey-helm/",
    }
    for name, url in repositories.items():
        assert f"helm repo add {name} {url}" in readme
    installs = re.findall(r"helm upgrade --install (\S+) (\S+)(.*?)(?:\n(?!\s)|\Z)", readme, re.S)
    charts = {chart: rest for _, chart, rest in installs}
    assert set(charts) == {"cnpg/cloudnative-pg", "nats/nats", "valkey/valkey"}
    for chart, rest in charts.items():
        assert re.search(r"--version \d+\.\d+\.\d+", rest), f"{chart} is not pinned"
    assert "kubectl apply -n fanfare -f deploy/k8s/infra/postgres-cluster.yaml" in readme
