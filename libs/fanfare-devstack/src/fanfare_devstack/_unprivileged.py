"""Running PostgreSQL when the caller is root (PostgreSQL refuses to run as root).

When ``os.geteuid() == 0`` the cluster belongs to a system user, ``fanfare-postgres``,
created on first use. These helpers create that user and open just enough permissions
(traverse bits on ancestors, read/execute on the binaries) for it to reach its files.
"""

from __future__ import annotations

import functools
import os
import pwd
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

POSTGRES_SYSTEM_USER = "fanfare-postgres"


@dataclass(frozen=True)
class RunAs:
    """An unprivileged account to run a child process as."""

    name: str
    uid: int
    gid: int


def running_as_root() -> bool:
    """Whether this process has root privileges (so PostgreSQL needs another user)."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


@functools.cache
def postgres_run_as() -> RunAs | None:
    """The account PostgreSQL must run as, or None when the current user will do.

    As root, creates the ``fanfare-postgres`` system user if it does not exist.
    """
    if not running_as_root():
        return None
    try:
        entry = pwd.getpwnam(POSTGRES_SYSTEM_USER)
    except KeyError:
        useradd = shutil.which("useradd") or "useradd"
        # A fixed argv with a constant user name: nothing comes from outside.
        subprocess.run(  # noqa: S603
            [useradd, "--system", "--no-create-home", "--shell", _nologin(), POSTGRES_SYSTEM_USER],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(POSTGRES_SYSTEM_USER)
    return RunAs(name=entry.pw_name, uid=entry.pw_uid, gid=entry.pw_gid)


def _nologin() -> str:
    for candidate in ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false"):
        if Path(candidate).exists():
            return candidate
    return "/bin/false"


def make_traversable(path: Path) -> None:
    """Give "others" the execute (traverse) bit on every ancestor of ``path``.

    Only the x bit is added, and only where missing: the unprivileged user must be able
    to walk down to its data folder, not to list the folders on the way.
    """
    for ancestor in path.absolute().parents:
        mode = ancestor.stat().st_mode
        if not mode & stat.S_IXOTH:
            ancestor.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


@functools.cache
def make_tree_usable(root: Path) -> None:
    """Let any user read files and traverse folders under ``root`` (the PostgreSQL install).

    Executables stay executable for others too. Runs once per process and per folder.
    """
    make_traversable(root)
    read_dir = stat.S_IROTH | stat.S_IXOTH
    for folder, _dirs, files in os.walk(root):
        _add_mode(Path(folder), read_dir)
        for file in files:
            file_path = Path(folder) / file
            if file_path.is_symlink():
                continue
            mode = file_path.stat().st_mode
            wanted = stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0)
            _add_mode(file_path, wanted)


def _add_mode(path: Path, bits: int) -> None:
    mode = path.stat().st_mode
    if mode & bits != bits:
        path.chmod(stat.S_IMODE(mode) | bits)


def chown_tree(root: Path, owner: RunAs) -> None:
    """Give ``root`` and everything below it to ``owner`` (symlinks themselves, not targets)."""
    os.chown(root, owner.uid, owner.gid, follow_symlinks=False)
    for folder, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            os.chown(Path(folder) / name, owner.uid, owner.gid, follow_symlinks=False)
