"""ManagedProcess against small Python children: readiness, graceful stop, SIGKILL fallback, cleanup."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from smartcustoms.runtime.process import (
    ManagedProcess,
    ProcessExitedError,
    ProcessStack,
    free_port,
    wait_for,
)

Spawn = Callable[[str], ManagedProcess]


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (an unreaped corpse is dead for our purposes)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Start a Python child running ``code``; every child is stopped when the test ends."""
    started: list[ManagedProcess] = []

    def _spawn(code: str) -> ManagedProcess:
        name = f"child{len(started)}"
        argv = [sys.executable, "-c", textwrap.dedent(code)]
        process = ManagedProcess(name, argv, log_path=tmp_path / f"{name}.log", cwd=str(tmp_path))
        started.append(process)
        process.start()
        return process

    yield _spawn
    for process in reversed(started):
        process.stop(timeout_s=1.0)


def ready_file_exists(tmp_path: Path) -> Callable[[], bool]:
    return lambda: (tmp_path / "ready").exists()


# A child that marks itself ready and then idles; SIGTERM ends it with exit code 0.
GRACEFUL_CHILD = """
    import pathlib, signal, sys, time
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    pathlib.Path("ready").touch()
    while True:
        time.sleep(0.1)
"""


def test_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_free_ports_lie_outside_the_range_of_outgoing_connections_and_are_not_handed_out_twice() -> None:
    # a port in the ephemeral range can be taken by any outgoing connection before the child binds it
    low, high = (int(n) for n in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[:2])
    if low < 21_000:
        pytest.skip(f"no room below this machine's ephemeral range ({low}-{high})")
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    assert all(20_000 <= port < low for port in ports)


def test_a_port_that_is_taken_is_not_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    import smartcustoms.runtime.process as process

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        draws = iter([busy, busy, *range(busy - 1, busy - 150, -1)])
        monkeypatch.setattr(process, "_ephemeral_ports", lambda: (busy + 1, 60_999))
        monkeypatch.setattr(process.random.SystemRandom, "randrange", lambda self, a, b: next(draws))
        port = free_port()
        assert port != busy
        assert busy - 150 < port < busy


def test_wait_for_returns_once_condition_holds() -> None:
    calls = iter([False, False, True])
    wait_for(lambda: next(calls), timeout_s=1.0, interval_s=0.001)


def test_wait_for_timeout_names_what_it_waited_for() -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="the moon"):
        wait_for(lambda: False, timeout_s=0.2, what="the moon")
    assert time.monotonic() - started < 1.0


def test_ready_then_graceful_stop(spawn: Spawn, tmp_path: Path) -> None:
    process = spawn(GRACEFUL_CHILD)
    process.wait_ready(ready_file_exists(tmp_path), timeout_s=10)
    assert process.running
    pid = process.pid
    assert pid is not None

    started = time.monotonic()
    assert process.stop(timeout_s=5) == 0
    assert time.monotonic() - started < 2
    assert not process.running
    assert not alive(pid)
    assert process.stop() == 0  # idempotent


def test_child_ignoring_sigterm_is_killed_at_the_deadline(spawn: Spawn, tmp_path: Path) -> None:
    process = spawn(
        """
        import pathlib, signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        pathlib.Path("ready").touch()
        while True:
            time.sleep(0.1)
        """
    )
    process.wait_ready(ready_file_exists(tmp_path), timeout_s=10)

    started = time.monotonic()
    assert process.stop(timeout_s=0.5) == -signal.SIGKILL
    assert 0.5 <= time.monotonic() - started < 2


def test_grandchild_is_gone_after_stop(spawn: Spawn, tmp_path: Path) -> None:
    process = spawn(
        """
        import pathlib, subprocess, sys, time
        grandchild = subprocess.Popen([sys.executable, "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"])
        pathlib.Path("grandchild.pid").write_text(str(grandchild.pid))
        pathlib.Path("ready").touch()
        while True:
            time.sleep(0.1)
        """
    )
    process.wait_ready(ready_file_exists(tmp_path), timeout_s=10)
    grandchild_pid = int((tmp_path / "grandchild.pid").read_text())
    assert alive(grandchild_pid)

    assert process.stop(timeout_s=5) == -signal.SIGTERM  # the child itself went on SIGTERM
    wait_for(lambda: not alive(grandchild_pid), timeout_s=2, what="the grandchild to die")


def test_early_exit_fails_fast_with_log_tail(spawn: Spawn) -> None:
    process = spawn('import sys; print("boom: no config file", file=sys.stderr); sys.exit(3)')
    started = time.monotonic()
    with pytest.raises(ProcessExitedError, match=r"(?s)code 3.*boom: no config file"):
        process.wait_ready(lambda: False, timeout_s=30)
    assert time.monotonic() - started < 10
    assert process.stop() == 3


def test_ready_timeout_includes_log_tail(spawn: Spawn) -> None:
    process = spawn('print("still warming up", flush=True)\nimport time\ntime.sleep(60)')
    with pytest.raises(TimeoutError, match=r"(?s)child0 to be ready.*still warming up"):
        process.wait_ready(lambda: False, timeout_s=1.0)


def test_log_tail_returns_last_lines(spawn: Spawn) -> None:
    process = spawn("for i in range(100): print(f'line {i}')")
    wait_for(lambda: not process.running, timeout_s=10, what="the child to finish")
    assert process.log_tail(lines=2) == "line 98\nline 99"


def test_stop_before_start_and_without_log() -> None:
    process = ManagedProcess("idle", [sys.executable, "-c", "pass"])
    assert process.stop() is None
    assert process.log_tail() == ""
    assert process.pid is None


def test_context_manager_stops_the_child(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", textwrap.dedent(GRACEFUL_CHILD)]
    with ManagedProcess("ctx", argv, cwd=str(tmp_path)) as process:
        process.wait_ready(ready_file_exists(tmp_path), timeout_s=10)
        pid = process.pid
        assert pid is not None
    assert not alive(pid)
    assert process.returncode == 0


class FakeService:
    def __init__(self, name: str, events: list[str], fail_stop: bool = False) -> None:
        self.name = name
        self.events = events
        self.fail_stop = fail_stop

    def start(self) -> None:
        self.events.append(f"start {self.name}")

    def stop(self, timeout_s: float | None = None) -> int | None:
        self.events.append(f"stop {self.name}")
        if self.fail_stop:
            raise RuntimeError(f"{self.name} would not stop")
        return 0


def test_process_stack_stops_in_reverse_order() -> None:
    events: list[str] = []
    with ProcessStack() as stack:
        for name in ("broker", "redis", "worker"):
            stack.start(FakeService(name, events))
    assert events == [
        "start broker", "start redis", "start worker", "stop worker", "stop redis", "stop broker",
    ]  # fmt: skip


def test_process_stack_stops_everything_even_if_one_stop_fails() -> None:
    events: list[str] = []
    stack = ProcessStack()
    stack.start(FakeService("a", events))
    stack.start(FakeService("b", events, fail_stop=True))
    with pytest.raises(ExceptionGroup) as failures:
        stack.stop()
    assert events[-2:] == ["stop b", "stop a"]
    assert "b would not stop" in str(failures.value.exceptions[0])
    stack.stop()  # nothing left to stop


def test_a_frozen_start_up_heap_is_out_of_the_full_collection_s_reach() -> None:
    """What a process holds when it has started no longer weighs on a full collection (in a child
    process: freezing is for good)."""
    code = textwrap.dedent(
        """
        import gc
        from smartcustoms.runtime.process import freeze_start_up_heap
        held = [[i] for i in range(300_000)]  # start-up state: tracked containers
        before = len(gc.get_objects(generation=2)) + len(gc.get_objects(generation=1))
        freeze_start_up_heap()
        after = len(gc.get_objects(generation=2))
        print(before, after, gc.get_freeze_count())
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    before, after, frozen = map(int, out.split())
    assert before > 300_000 and after < 1_000 and frozen > 300_000, out
