"""Backpressure instead of loss: a full blob store slows the vendor, then refuses explicitly."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import grpc
import numpy as np
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from smartcustoms.core.config import Config
from smartcustoms.core.frames import array_frame
from smartcustoms.core.types import Modality
from smartcustoms.hardware.sdk.client import OK, send_all
from smartcustoms.runtime.process import wait_for
from smartcustoms.runtime.report import scrape, total
from smartcustoms.runtime.stack import Stack
from smartcustoms.runtime.testing import only_plugins
from smartcustoms.v1 import frame_pb2

pytestmark = pytest.mark.integration

FRAME_BYTES = 768 * 1024


def _frames(count: int) -> list[frame_pb2.Frame]:
    image = np.full((2, 384, 512), 60_000, np.uint16)  # 768 KiB: travels by claim check
    return [
        array_frame(image, modality=Modality.XRAY, source_id="lane-5", sequence=i, frame_id=f"f{i}")
        for i in range(1, count + 1)
    ]


def test_a_store_with_room_for_two_frames_carries_twelve_without_refusing_any(
    runtime_config: Config, start_stack: Callable[..., Stack]
) -> None:
    runtime_config.blobstore.capacity_bytes = 2 * FRAME_BYTES
    runtime_config.gateway.capacity_wait_s = 60
    stack = start_stack(only_plugins(runtime_config, "dense_region"))
    acks = asyncio.run(send_all(stack.gateway_target, _frames(12)))
    assert [a.code for a in acks] == [OK] * 12
    wait_for(
        lambda: total(scrape(stack.metrics_urls[1]), "smartcustoms_sink_verdicts_total") == 12,
        60,
        what="twelve verdicts",
    )
    assert total(scrape(stack.metrics_urls[0]), "smartcustoms_ingest_frames_rejected_total") == 0


def test_without_a_worker_a_full_store_refuses_with_resource_exhausted(
    runtime_config: Config, start_stack: Callable[..., Stack]
) -> None:
    runtime_config.blobstore.capacity_bytes = FRAME_BYTES
    runtime_config.gateway.capacity_wait_s = 1.0
    stack = start_stack(runtime_config, worker=False)
    acks = asyncio.run(send_all(stack.gateway_target, _frames(2)))
    assert acks[0].code == OK
    assert acks[1].code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    assert "blob store full" in acks[1].message
    rejected = scrape(stack.metrics_urls[0])
    assert total(rejected, "smartcustoms_ingest_frames_rejected_total", reason="store_full") == 1


def test_the_gateway_serves_reflection(runtime_config: Config, start_stack: Callable[..., Stack]) -> None:
    stack = start_stack(runtime_config, worker=False)
    with grpc.insecure_channel(stack.gateway_target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        (reply,) = list(stub.ServerReflectionInfo(iter([request]), timeout=5))
    names = {service.name for service in reply.list_services_response.service}
    assert {"smartcustoms.v1.IngestService", "grpc.health.v1.Health"} <= names
