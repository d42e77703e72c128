"""The process life cycle shared by every embedded server: spawn, wait until ready, stop."""

from __future__ import annotations

import atexit
import contextlib
import os
import shlex
import signal
import subprocess
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from fanfare_devstack.ports import free_port, port_is_open

LOCALHOST = "127.0.0.1"
DEFAULT_START_TIMEOUT = 30.0
_POLL_INTERVAL = 0.05
_LOG_TAIL_LINES = 40
_LOG_TAIL_BYTES = 16_384


class ServerStartError(RuntimeError):
    """A server did not become ready; the message carries the tail of its log."""


class _RetryStart(Exception):
    """Raised by a readiness check to ask for one more spawn before the deadline."""


class EmbeddedServer(ABC):
    """One server process on ``127.0.0.1`` with its data in ``data_dir``.

    The port is chosen once (at construction when not given) and kept across restarts,
    so :attr:`url` never changes. The server's stdout and stderr are appended to
    ``data_dir / "server.log"``. The process runs in its own session, so a Ctrl-C in the
    terminal reaches only the parent, which can then stop servers in order.
    """

    name: str = "server"
    #: Signal for a graceful shutdown; :meth:`stop` escalates to SIGKILL after a timeout.
    stop_signal: ClassVar[signal.Signals] = signal.SIGTERM

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *,
        start_timeout: float = DEFAULT_START_TIMEOUT,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.host = LOCALHOST
        self.port = port if port is not None else free_port(self.host)
        self.start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.RLock()

    # -- what each server defines -------------------------------------------------------

    @property
    @abstractmethod
    def url(self) -> str:
        """The connection URL clients should use."""

    @abstractmethod
    def _command(self) -> Sequence[str]:
        """The argv that runs the server in the foreground."""

    @abstractmethod
    def _is_ready(self) -> bool:
        """Return True once the server answers real requests (called in a bounded poll)."""

    def _prepare(self) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """Create whatever the data folder needs before the first spawn."""

    def _popen_options(self) -> dict[str, Any]:
        """Extra keyword arguments for :class:`subprocess.Popen` (user, cwd...)."""
        return {}

    def _after_ready(self) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """Run once the server answers (for example, create the application database)."""

    # -- public life cycle --------------------------------------------------------------

    @property
    def log_path(self) -> Path:
        """The file that receives the server's stdout and stderr."""
        return self.data_dir / "server.log"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs, else None."""
        process = self._process
        if process is None or process.poll() is not None:
            return None
        return process.pid

    @property
    def running(self) -> bool:
        """Whether the server process is alive (it may still be starting)."""
        return self.pid is not None

    def start(self) -> None:
        """Start the server and block until it answers; do nothing if it already runs.

        Raises :class:`ServerStartError` (with the tail of ``server.log``) when the port
        is taken, the process exits, or it does not answer within ``start_timeout``.
        """
        with self._lock:
            if self.running:
                return
            self._reap()
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._prepare()
            deadline = time.monotonic() + self.start_timeout
            # Check before spawning: if something else already listens on the port, the
            # readiness probe would talk to it while our own server dies on "address in use".
            if port_is_open(self.host, self.port):
                raise ServerStartError(
                    f"{self.name}: port {self.host}:{self.port} is already in use "
                    "by another process"
                )
            while True:
                self._spawn()
                try:
                    self._wait_until_ready(deadline)
                except _RetryStart:
                    self._reap()
                    continue
                except BaseException:
                    self._kill_process_group()
                    raise
                break
            try:
                self._after_ready()
            except Exception as error:
                self.stop()
                raise self._start_error(f"answered, but setting it up failed: {error}") from error
            except BaseException:
                self.stop()
                raise
            _remember(self)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server gracefully and wait; SIGKILL it after ``timeout`` seconds.

        Idempotent: stopping a stopped server does nothing.
        """
        with self._lock:
            process = self._process
            if process is None:
                return
            if process.poll() is None:
                process.send_signal(self.stop_signal)
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._kill_process_group()
            self._reap()
            _forget(self)

    def kill(self) -> None:
        """SIGKILL the server and its children now (a simulated crash), and wait for it."""
        with self._lock:
            self._kill_process_group()
            self._reap()
            _forget(self)

    def restart(self) -> None:
        """Stop then start again on the same port with the same data."""
        with self._lock:
            self.stop()
            self.start()

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """Return the last ``lines`` lines of ``server.log`` (empty if there is none)."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(0, os.SEEK_END)
                size = log.tell()
                log.seek(max(0, size - _LOG_TAIL_BYTES))
                text = log.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r}, pid={self.pid})"

    # -- internals ----------------------------------------------------------------------

    def _spawn(self) -> None:
        argv = list(self._command())
        with self.log_path.open("ab") as log:
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            log.write(f"--- fanfare-devstack: {stamp} starting {shlex.join(argv)}\n".encode())
            log.flush()
            options: dict[str, Any] = {"cwd": self.data_dir, **self._popen_options()}
            # The argv is built from our own binaries and paths, never from user input.
            self._process = subprocess.Popen(  # noqa: S603
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                **options,
            )

    def _wait_until_ready(self, deadline: float) -> None:
        process = self._process
        assert process is not None
        while True:
            if process.poll() is not None:
                self._on_early_exit(process.returncode, deadline)
            if self._is_ready():
                # The probe may have reached another server that grabbed the port first.
                if process.poll() is None:
                    return
                continue
            if time.monotonic() >= deadline:
                raise self._start_error(f"did not answer within {self.start_timeout:.0f} s")
            time.sleep(_POLL_INTERVAL)

    def _on_early_exit(self, returncode: int, deadline: float) -> None:
        """Called when the process died before answering; must raise."""
        raise self._start_error(f"exited with code {returncode} before it was ready")

    def _start_error(self, reason: str) -> ServerStartError:
        return ServerStartError(
            f"{self.name} on {self.host}:{self.port} {reason}.\n"
            f"Last lines of {self.log_path}:\n{self.log_tail()}"
        )

    def _kill_process_group(self) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            return
        # The leader is not reaped yet, so its pid (which is also the group id, thanks to
        # start_new_session) cannot have been reused: the signal reaches only our server
        # and the children it forked (PostgreSQL backends, Valkey's rewrite child).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait()

    def _reap(self) -> None:
        process = self._process
        if process is not None:
            if process.poll() is None:
                self._kill_process_group()
            self._process = None


def wait_for(
    condition: Callable[[], bool], timeout: float, interval: float = _POLL_INTERVAL
) -> bool:
    """Poll ``condition`` until it is true or ``timeout`` seconds pass; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


# Safety net: a server started and never stopped (a script that forgot, an exception in
# a caller without try/finally) is stopped when the interpreter exits, instead of living
# on as an orphan. Only processes started by this very process are touched, so a forked
# child exiting does not stop its parent's servers.
_live: dict[int, EmbeddedServer] = {}
_live_lock = threading.Lock()
_owner_pid = os.getpid()
_atexit_registered = False


def _remember(server: EmbeddedServer) -> None:
    global _atexit_registered, _owner_pid  # noqa: PLW0603 - one registration per process
    with _live_lock:
        if not _atexit_registered:
            _owner_pid = os.getpid()
            atexit.register(_stop_leftovers)
            _atexit_registered = True
        _live[id(server)] = server


def _forget(server: EmbeddedServer) -> None:
    with _live_lock:
        _live.pop(id(server), None)


def _stop_leftovers() -> None:
    if os.getpid() != _owner_pid:
        return
    with _live_lock:
        leftovers = list(_live.values())
    for server in reversed(leftovers):
        with contextlib.suppress(Exception):
            server.stop()
