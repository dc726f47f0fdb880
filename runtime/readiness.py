"""Readiness of the pipeline, from the stream workers to the gateway's health service.

Each worker publishes, every ``BEAT_S``, whether every enabled plugin pool is warm and its consumer
has joined the group (its assignment came: its share of the partitions, or none when the group has
more workers than the partitions can be shared among, a standby), in a Redis hash field of its own
with the time it wrote it. The gateway reports
the overall health (service ``""``) SERVING only while at least one worker's report is fresh and
every fresh report is ready: until then a vendor that sends frames waits for a cold start, and a
load balancer knows it. The ingest service itself (``smartcustoms.v1.IngestService``) is SERVING as
soon as the gateway accepts frames.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import redis

from smartcustoms.core.keys import readiness_key

log = logging.getLogger(__name__)

BEAT_S = 1.0
STALE_AFTER_S = 10.0  # a report older than this is a worker that stopped or died


class PipelineError(RuntimeError):
    """A plugin pool could not get ready: its data is missing or it failed to build."""


class ReadinessBeacon:
    """The worker's side: publish ``report(joined_group)`` now and every ``BEAT_S``."""

    def __init__(self, redis_url: str, namespace: str, report: Callable[[bool], Mapping[str, Any]]) -> None:
        self._client = redis.Redis.from_url(redis_url, socket_timeout=2.0)
        self._key = readiness_key(namespace)
        self._field = report_field(os.getpid())
        self._report = report
        self._joined = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="readiness-beacon", daemon=True)

    def start(self) -> None:
        self.publish()
        self._thread.start()

    def joined_group(self) -> None:
        """The consumer group gave this worker its assignment (possibly empty): it takes part."""
        self._joined = True
        self.publish()

    def publish(self) -> None:
        report = {**self._report(self._joined), "at": time.time()}
        try:
            self._client.hset(self._key, self._field, json.dumps(report))
        except redis.RedisError as error:
            log.warning("cannot publish readiness: %s", error)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2 * BEAT_S)
        with contextlib.suppress(redis.RedisError):
            self._client.hdel(self._key, self._field)
        self._client.close()

    def _run(self) -> None:
        while not self._stop.wait(BEAT_S):
            self.publish()


def report_field(pid: int | None) -> str:
    """The field of the readiness hash that the worker process ``pid`` on this host writes."""
    return f"{socket.gethostname()}:{pid}"


def pipeline_ready(reports: Mapping[bytes | str, bytes | str], now_s: float) -> tuple[bool, str]:
    """Whether the workers' reports say the pipeline can decide frames, and why not if it cannot."""
    fresh = []
    for raw in reports.values():
        try:
            report = json.loads(raw)
        except ValueError:
            continue
        if now_s - float(report.get("at", 0)) <= STALE_AFTER_S:
            fresh.append(report)
    if not fresh:
        return False, "no stream worker is running"
    for report in fresh:
        if not report.get("ready"):
            return False, _why_not(report)
    return True, ""


def worker_ready(
    reports: Mapping[bytes | str, bytes | str], pid: int | None, now_s: float
) -> tuple[bool, str]:
    """Whether the worker ``pid`` of this host says it can decide frames, from its own report only: a
    failed report another worker (or an earlier run) left in the hash is not this worker's."""
    field = report_field(pid)
    raw = reports.get(field, reports.get(field.encode()))
    if raw is None:
        return False, "this stream worker has not reported yet"
    return pipeline_ready({field: raw}, now_s)


def _why_not(report: Mapping[str, Any]) -> str:
    pools = report.get("pools", {})
    failed = [f"{name}: {pool['failure']}" for name, pool in pools.items() if pool.get("failure")]
    if failed:
        return "plugin pools failed: " + "; ".join(failed)
    warming = [name for name, pool in pools.items() if not pool.get("ready")]
    if warming:
        return "plugins warming up: " + ", ".join(sorted(warming))
    return "stream worker joining its consumer group"
