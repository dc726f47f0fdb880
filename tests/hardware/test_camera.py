"""Camera adapter: a video file and a flaky live source streamed through a real gateway."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import redis.asyncio as aioredis

from smartcustoms.core.config import Config
from smartcustoms.hardware import camera
from smartcustoms.hardware.sim import liquor
from smartcustoms.runtime.ledger import ledger_for
from smartcustoms.runtime.stack import Stack
from smartcustoms.v1 import frame_pb2

VIDEO_FRAMES = 24
SIZE = (320, 240)  # (width, height)


def bottle_images(count: int) -> list[np.ndarray]:
    """BGR frames of simulated liquor bottles, as a camera would deliver them."""
    simulator = liquor.LiquorSimulator(seed=1, height=SIZE[1], width=SIZE[0])
    return [
        cv2.cvtColor(np.ascontiguousarray(simulator.generate(i).image), cv2.COLOR_RGB2BGR)
        for i in range(count)
    ]


def write_video(path: Path, count: int = VIDEO_FRAMES) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, SIZE)
    assert writer.isOpened()
    for image in bottle_images(count):
        writer.write(image)
    writer.release()


async def accepted_in_ledger(config: Config) -> int:
    client = aioredis.Redis.from_url(config.redis.url)
    try:
        return (await ledger_for(config, client).counts()).accepted
    finally:
        await client.aclose()


class ScriptedCapture:
    """A capture that yields the given frames, then fails."""

    fps = 0.0

    def __init__(self, images: list[np.ndarray]) -> None:
        self.images = list(images)
        self.released = False

    def read(self) -> np.ndarray | None:
        return self.images.pop(0) if self.images else None

    def grab(self) -> bool:
        return bool(self.images and self.images.pop(0) is not None)

    def release(self) -> None:
        self.released = True


# --------------------------------------------------------------------------- unit


def test_credentials_never_leave_the_url() -> None:
    assert camera.redacted("rtsp://admin:secret@10.0.0.5:554/stream1") == "rtsp://10.0.0.5:554/stream1"
    assert camera.redacted("/videos/lane-3.avi") == "/videos/lane-3.avi"
    assert camera.is_live("rtsp://cam/stream") and camera.is_live("https://cam/mjpeg")
    assert not camera.is_live("/videos/lane-3.avi")


def test_opencv_capture_reads_a_video_file(tmp_path: Path) -> None:
    path = tmp_path / "bottles.avi"
    write_video(path)
    capture = camera.OpenCvCapture(str(path))
    images = []
    while (image := capture.read()) is not None:
        images.append(image)
    capture.release()
    assert len(images) == VIDEO_FRAMES
    assert images[0].shape == (SIZE[1], SIZE[0], 3) and images[0].dtype == np.uint8
    with pytest.raises(camera.CaptureError):
        camera.OpenCvCapture(str(tmp_path / "missing.avi"))


def test_camera_frame_is_a_decodable_jpeg() -> None:
    (image,) = bottle_images(1)
    frame = camera.camera_frame(image, source_id="cam-1", sequence=7, metadata={"camera_source": "x"})
    assert frame.modality == frame_pb2.MODALITY_CAMERA and frame.encoding == "jpeg"
    assert list(frame.shape) == [SIZE[1], SIZE[0], 3] and frame.payload_bytes == len(frame.payload)
    decoded = cv2.imdecode(np.frombuffer(frame.payload, np.uint8), cv2.IMREAD_COLOR)
    assert np.abs(decoded.astype(int) - image.astype(int)).mean() < 4
    with pytest.raises(ValueError):
        camera.camera_frame(image[..., 0], source_id="cam-1", sequence=1)


def test_adapter_checks_its_arguments() -> None:
    with pytest.raises(ValueError):
        camera.CameraAdapter("x.avi", source_id="cam", rate_hz=0)
    with pytest.raises(ValueError):
        camera.CameraAdapter("x.avi", source_id="cam", backoff_initial_s=5, backoff_max_s=1)
    live = camera.CameraAdapter("rtsp://cam/stream", source_id="cam")
    with pytest.raises(ValueError):
        asyncio.run(live.run("127.0.0.1:1"))  # a live source runs until told to stop


# --------------------------------------------------------------------------- through the gateway


@pytest.mark.integration
def test_video_file_streams_every_frame_to_the_gateway(
    runtime_config: Config, start_stack: Callable[..., Stack], tmp_path: Path
) -> None:
    path = tmp_path / "bottles.avi"
    write_video(path)
    stack = start_stack(runtime_config, worker=False)
    adapter = camera.CameraAdapter(str(path), source_id="red-channel-1", rate_hz=100.0)
    stats = asyncio.run(adapter.run(stack.gateway_target, stop_at=time.monotonic() + 60))
    assert (stats.sent, stats.accepted, stats.rejected) == (VIDEO_FRAMES, VIDEO_FRAMES, 0)
    assert (stats.opens, stats.open_failures, stats.read_failures) == (1, 0, 0)
    assert asyncio.run(accepted_in_ledger(runtime_config)) == VIDEO_FRAMES
    looping = camera.CameraAdapter(str(path), source_id="red-channel-2", rate_hz=200.0, loop=True)
    stats = asyncio.run(looping.run(stack.gateway_target, max_frames=VIDEO_FRAMES + 6))
    assert (stats.sent, stats.accepted, stats.opens) == (VIDEO_FRAMES + 6, VIDEO_FRAMES + 6, 2)


@pytest.mark.integration
def test_adapter_reconnects_when_the_source_fails(
    runtime_config: Config, start_stack: Callable[..., Stack], tmp_path: Path
) -> None:
    stack = start_stack(runtime_config, worker=False)

    # A file that is not there yet: opening fails with backoff until it appears.
    path, staging = tmp_path / "late.avi", tmp_path / "staging.avi"
    write_video(staging)
    appear = threading.Timer(0.8, os.replace, (staging, path))
    appear.start()
    adapter = camera.CameraAdapter(
        str(path), source_id="late-camera", rate_hz=100.0, backoff_initial_s=0.1, backoff_max_s=0.4
    )
    try:
        stats = asyncio.run(adapter.run(stack.gateway_target, stop_at=time.monotonic() + 60))
    finally:
        appear.cancel()
    assert stats.open_failures >= 2 and stats.opens == 1
    assert (stats.sent, stats.accepted) == (VIDEO_FRAMES, VIDEO_FRAMES)

    # A live camera that drops out after five frames, refuses once, then comes back.
    images = bottle_images(10)
    captures: list[ScriptedCapture] = []
    refusals: list[str] = []

    def open_capture(source: str) -> ScriptedCapture:
        if captures and not captures[-1].released:
            raise AssertionError("reopened before releasing the failed capture")
        if len(captures) == 1 and not refusals:
            refusals.append(source)
            raise camera.CaptureError("camera rebooting")
        captures.append(ScriptedCapture(images[:5] if not captures else images[5:]))
        return captures[-1]

    flaky = camera.CameraAdapter(
        "rtsp://user:pw@camera-7/stream",
        source_id="flaky-camera",
        rate_hz=100.0,
        backoff_initial_s=0.05,
        open_capture=open_capture,
        first_sequence=1000,
    )
    stats = asyncio.run(flaky.run(stack.gateway_target, stop_at=time.monotonic() + 30, max_frames=10))
    assert (stats.sent, stats.accepted, stats.rejected) == (10, 10, 0)
    assert (stats.opens, stats.reconnects, stats.open_failures, stats.read_failures) == (2, 1, 1, 1)
    assert flaky.next_sequence == 1010  # sequences ran on across the reconnect
    assert captures[-1].released and refusals == ["rtsp://user:pw@camera-7/stream"]
    assert asyncio.run(accepted_in_ledger(runtime_config)) == VIDEO_FRAMES + 10
