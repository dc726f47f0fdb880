"""Child processes with a bounded lifecycle: start, wait until ready, stop with a deadline.

Every child leads its own process group, so a stop can always end with ``os.killpg(SIGKILL)``
and take any helpers the child forked along with it. Used by the CLI (``smartcustoms up``)
and by the test suite to run embedded services.
"""

from __future__ import annotations

import contextlib
import gc
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Protocol, Self, TypeVar

_LOG_TAIL_MAX_BYTES = 64 * 1024
_REAP_AFTER_KILL_S = 5.0


_LOWEST_HANDED_OUT_PORT = 20_000  # Ray workers take 10002-19999 by default
_handed_out: set[int] = set()


def freeze_start_up_heap() -> None:
    """Put every object alive now (modules, plugins, indexes and reference data loaded at start-up) out of
    the garbage collector's reach, for a long-running process that has finished starting: a full
    collection then scans only what was allocated since. In the gateway, a full collection over its
    start-up heap stalled the event loop 104-116 ms, and every frame on every stream with it."""
    gc.collect()
    gc.freeze()


def _ephemeral_ports() -> tuple[int, int]:
    """The kernel's range for the local ports of outgoing connections (Linux's default if unreadable)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[:2]
        return int(low), int(high)
    except (OSError, ValueError):
        return 32_768, 60_999


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free a moment ago (the caller's child binds it later).

    The port is drawn between 20000 and the kernel's ephemeral range when there is room there: a port
    the kernel picked (``bind(0)``) can be taken, before the child binds it, as the local end of any
    outgoing connection on the machine (a broker client, a Redis pool), which a port outside that
    range cannot; below 20000 Ray's workers bind their own. A port is not handed out twice by one
    process.
    """
    low, _ = _ephemeral_ports()
    if low - _LOWEST_HANDED_OUT_PORT >= 1_000:
        chooser = random.SystemRandom()
        for _ in range(200):
            port = chooser.randrange(_LOWEST_HANDED_OUT_PORT, low)
            if port not in _handed_out and _bindable(host, port):
                _handed_out.add(port)
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        chosen: int = sock.getsockname()[1]
    _handed_out.add(chosen)
    return chosen


def wait_for(
    condition: Callable[[], bool], timeout_s: float, interval_s: float = 0.05, what: str = ""
) -> None:
    """Poll ``condition`` until it returns True; raise TimeoutError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        remaining_s = deadline - time.monotonic()
        if remaining_s <= 0:
            raise TimeoutError(f"timed out after {timeout_s:g} s waiting for {what or 'a condition'}")
        time.sleep(min(interval_s, remaining_s))


class ProcessExitedError(RuntimeError):
    """The child exited while we were waiting for it to become ready."""


class ManagedProcess:
    """One child process in its own process group, stopped by signal, deadline, then SIGKILL.

    ``env`` holds variables added to (or overriding) ``os.environ``. Output goes to ``log_path``
    (appended) or is discarded.
    """

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        log_path: Path | None = None,
        stop_timeout_s: float = 10.0,
        stop_signal: signal.Signals = signal.SIGTERM,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env or {})
        self.cwd = cwd
        self.log_path = log_path
        self.stop_timeout_s = stop_timeout_s
        self.stop_signal = stop_signal
        self._popen: subprocess.Popen[bytes] | None = None
        self._stopped = False

    def start(self) -> None:
        if self._popen is not None:
            raise RuntimeError(f"{self.name} was already started")
        if self.log_path is None:
            self._popen = self._spawn(subprocess.DEVNULL)
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
            self._popen = self._spawn(log)

    def _spawn(self, output: int | IO[bytes]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self.argv,
            env={**os.environ, **self.env},
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # leader of a new process group: killpg reaches its children
        )

    @property
    def pid(self) -> int | None:
        return None if self._popen is None else self._popen.pid

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self._popen is None else self._popen.poll()

    def wait_ready(self, check: Callable[[], bool], timeout_s: float) -> None:
        """Poll ``check`` until it passes; fail fast with the log tail if the child exits."""

        def ready() -> bool:
            if not self.running:
                raise ProcessExitedError(
                    f"{self.name} exited with code {self.returncode} before it was ready"
                    f"{self._tail_for_error()}"
                )
            return check()

        try:
            wait_for(ready, timeout_s, what=f"{self.name} to be ready")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}{self._tail_for_error()}") from None

    def stop(self, timeout_s: float | None = None) -> int | None:
        """Send ``stop_signal``, wait up to the deadline, then SIGKILL the whole process group.

        The group is killed after a graceful exit too, so no forked helper outlives the child.
        Returns the exit code (negative signal number if killed), None if never started.
        """
        popen = self._popen
        if popen is None or self._stopped:
            return self.returncode
        if popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                popen.send_signal(self.stop_signal)
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(self.stop_timeout_s if timeout_s is None else timeout_s)
        with contextlib.suppress(ProcessLookupError):  # nobody left in the group
            os.killpg(popen.pid, signal.SIGKILL)
        self._stopped = True
        return popen.wait(_REAP_AFTER_KILL_S)

    def log_tail(self, lines: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - _LOG_TAIL_MAX_BYTES))
            text = log.read().decode(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def _tail_for_error(self) -> str:
        tail = self.log_tail()
        return f"; last lines of {self.log_path}:\n{tail}" if tail else " (no log output)"

    def __enter__(self) -> Self:
        if self._popen is None:
            self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"ManagedProcess({self.name!r}, pid={self.pid}, running={self.running})"


class Stoppable(Protocol):
    """Anything with the start/stop lifecycle: a ManagedProcess or an embedded service."""

    def start(self) -> None: ...

    def stop(self, timeout_s: float | None = None) -> int | None: ...


S = TypeVar("S", bound=Stoppable)


class ProcessStack:
    """Starts processes or services in order and stops them in reverse order.

    Each stop runs even if an earlier one failed; the failures are raised together afterwards.
    """

    def __init__(self) -> None:
        self._started: list[Stoppable] = []

    def start(self, item: S) -> S:
        item.start()
        self._started.append(item)
        return item

    def replace(self, old: Stoppable, new: S) -> S:
        """Start ``new`` in the place of ``old`` (a restarted child), so it stops where ``old`` would have."""
        index = self._started.index(old)
        new.start()
        self._started[index] = new
        return new

    def stop(self) -> None:
        errors: list[Exception] = []
        while self._started:
            try:
                self._started.pop().stop()
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise ExceptionGroup("some processes failed to stop", errors)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
