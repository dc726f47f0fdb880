"""Camera adapter: frames from a video file or a network stream (RTSP, HTTP) to the gateway as JPEG.

    adapter = CameraAdapter("rtsp://camera-3/stream1", source_id="red-channel-3", rate_hz=5)
    stats = await adapter.run("gateway:50051", stop_at=time.monotonic() + 60)

OpenCV (FFmpeg backend) decodes the source; each frame sent is re-encoded as JPEG and sent as a
MODALITY_CAMERA frame (shape [height, width, 3]) on one SDK ``IngestStream``, ``rate_hz`` frames a
second, with sequences that keep rising across reconnects.

Failures: a source that cannot be opened, or a live stream whose read fails, is released and opened
again after a backoff that doubles from ``backoff_initial_s`` to ``backoff_max_s`` (reset by the next
good frame). A file that ends after giving frames is finished (``loop=True`` starts it again). Live
sources faster than ``rate_hz`` are thinned by grabbing and dropping frames in between, so what is sent
stays current instead of falling behind the camera. Credentials in a URL never reach frame metadata.
"""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np
from google.protobuf.timestamp_pb2 import Timestamp

from smartcustoms.hardware.sdk.client import OK, IngestStream
from smartcustoms.v1 import frame_pb2, ingest_pb2

log = logging.getLogger(__name__)

LIVE_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp")


class CaptureError(RuntimeError):
    """A source that cannot be opened."""


class Capture(Protocol):
    """What the adapter needs of a video source; ``OpenCvCapture`` is the real one."""

    fps: float

    def read(self) -> np.ndarray | None:
        """The next frame, BGR uint8 (H, W, 3), or None when the source failed or ended."""

    def grab(self) -> bool:
        """Skip one frame; False when the source failed or ended."""

    def release(self) -> None: ...


class OpenCvCapture:
    """A ``cv2.VideoCapture`` on a file path or URL (FFmpeg backend)."""

    def __init__(self, source: str) -> None:
        self._capture = cv2.VideoCapture(source, cv2.CAP_FFMPEG)
        if not self._capture.isOpened():
            self._capture.release()
            raise CaptureError(f"cannot open {redacted(source)}")
        self.fps = float(self._capture.get(cv2.CAP_PROP_FPS) or 0.0)

    def read(self) -> np.ndarray | None:
        ok, image = self._capture.read()
        return image if ok and image is not None else None

    def grab(self) -> bool:
        return bool(self._capture.grab())

    def release(self) -> None:
        self._capture.release()


def redacted(source: str) -> str:
    """A source without the user and password of its URL."""
    parts = urllib.parse.urlsplit(source)
    if not parts.scheme or "@" not in parts.netloc:
        return source
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def is_live(source: str) -> bool:
    return urllib.parse.urlsplit(source).scheme.lower() in LIVE_SCHEMES


@dataclass
class CameraStats:
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    opens: int = 0  # successful opens of the source, the first one included
    open_failures: int = 0
    read_failures: int = 0

    @property
    def reconnects(self) -> int:
        return max(0, self.opens - 1)

    def count(self, future: asyncio.Future[ingest_pb2.IngestAck]) -> None:
        if future.cancelled() or future.exception() is not None:
            self.rejected += 1
            return
        ack = future.result()
        if ack.code == OK:
            self.accepted += 1
            self.duplicates += int(ack.duplicate)
        else:
            self.rejected += 1


class CameraAdapter:
    """Streams one video source to the gateway; see the module docstring for the failure rules."""

    def __init__(
        self,
        source: str,
        *,
        source_id: str,
        rate_hz: float = 5.0,
        jpeg_quality: int = 90,
        loop: bool = False,
        live: bool | None = None,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 10.0,
        open_capture: Callable[[str], Capture] = OpenCvCapture,
        first_sequence: int | None = None,
        control_point: str = "",
    ) -> None:
        if rate_hz <= 0 or not 1 <= jpeg_quality <= 100:
            raise ValueError("rate_hz must be positive and jpeg_quality within 1..100")
        if not 0 < backoff_initial_s <= backoff_max_s:
            raise ValueError("backoffs must satisfy 0 < backoff_initial_s <= backoff_max_s")
        self.source, self.source_id = source, source_id
        self.rate_hz, self.jpeg_quality, self.loop = rate_hz, jpeg_quality, loop
        self.live = is_live(source) if live is None else live
        self.backoff_initial_s, self.backoff_max_s = backoff_initial_s, backoff_max_s
        self.open_capture = open_capture
        self.next_sequence = time.time_ns() // 1000 if first_sequence is None else first_sequence
        self.control_point = control_point
        self.stats = CameraStats()
        self._backoff_s = backoff_initial_s
        self._frames_this_open = 0
        self._ended = False  # a file gave its last frame

    async def run(
        self, target: str, *, stop_at: float | None = None, max_frames: int | None = None
    ) -> CameraStats:
        """Stream until ``time.monotonic()`` passes ``stop_at``, ``max_frames`` were sent, or a file ends;
        return the stats once every sent frame has its ack."""
        if stop_at is None and max_frames is None and self.live:
            raise ValueError("a live source needs stop_at or max_frames")
        pending: list[asyncio.Future[ingest_pb2.IngestAck]] = []
        capture: Capture | None = None
        next_at = time.monotonic()
        try:
            async with IngestStream(target) as stream:
                while not self._done(stop_at, max_frames):
                    if capture is None:
                        capture = await self._open(stop_at)
                        if capture is None:
                            break
                    image = await asyncio.to_thread(self._next_image, capture)
                    if image is None:
                        capture.release()
                        capture = await self._after_failure(stop_at)
                        if capture is None and not self._keep_going(stop_at):
                            break
                        continue
                    future = await stream.send(self._frame(image, capture.fps))
                    future.add_done_callback(self.stats.count)
                    pending.append(future)
                    self.stats.sent += 1
                    next_at = max(next_at + 1 / self.rate_hz, time.monotonic())  # no burst after a stall
                    await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                await asyncio.gather(*pending, return_exceptions=True)
        finally:
            if capture is not None:
                capture.release()
        return self.stats

    def _done(self, stop_at: float | None, max_frames: int | None) -> bool:
        return (stop_at is not None and time.monotonic() >= stop_at) or (
            max_frames is not None and self.stats.sent >= max_frames
        )

    def _keep_going(self, stop_at: float | None) -> bool:
        """After a source ended or failed: go on unless a file ended for good or time is up."""
        return not self._ended and (stop_at is None or time.monotonic() < stop_at)

    async def _open(self, stop_at: float | None) -> Capture | None:
        """Open the source, retrying with backoff; None when time runs out first."""
        while stop_at is None or time.monotonic() < stop_at:
            try:
                capture = await asyncio.to_thread(self.open_capture, self.source)
            except CaptureError as error:
                self.stats.open_failures += 1
                log.warning("%s; retrying in %.1f s", error, self._backoff_s)
                await self._wait_backoff(stop_at)
                continue
            self.stats.opens += 1
            self._frames_this_open, self._ended = 0, False
            return capture
        return None

    async def _after_failure(self, stop_at: float | None) -> Capture | None:
        """A read failed: end of a file (finish, or start again when looping) or a broken stream."""
        self._ended = False
        if not self.live and self._frames_this_open > 0:
            if not self.loop:
                self._ended = True
                return None
            return await self._open(stop_at)
        self.stats.read_failures += 1
        log.warning("reading %s failed; reopening in %.1f s", redacted(self.source), self._backoff_s)
        await self._wait_backoff(stop_at)
        return None  # the run loop opens it again

    async def _wait_backoff(self, stop_at: float | None) -> None:
        delay = self._backoff_s
        if stop_at is not None:
            delay = min(delay, max(0.0, stop_at - time.monotonic()))
        self._backoff_s = min(self._backoff_s * 2, self.backoff_max_s)
        await asyncio.sleep(delay)

    def _next_image(self, capture: Capture) -> np.ndarray | None:
        """The next frame to send: live sources skip the frames between two sends."""
        if self.live and capture.fps > self.rate_hz:
            for _ in range(round(capture.fps / self.rate_hz) - 1):
                if not capture.grab():
                    return None
        image = capture.read()
        if image is not None:
            self._frames_this_open += 1
            self._backoff_s = self.backoff_initial_s
        return image

    def _frame(self, image: np.ndarray, fps: float) -> frame_pb2.Frame:
        frame = camera_frame(
            image,
            source_id=self.source_id,
            sequence=self.next_sequence,
            jpeg_quality=self.jpeg_quality,
            metadata={
                "camera_source": redacted(self.source),
                "source_fps": f"{fps:.2f}",
                "stream_frame": str(self._frames_this_open),
                "reconnects": str(self.stats.reconnects),
            },
        )
        frame.control_point = self.control_point
        self.next_sequence += 1
        return frame


def camera_frame(
    image: np.ndarray,
    *,
    source_id: str,
    sequence: int,
    jpeg_quality: int = 90,
    metadata: dict[str, str] | None = None,
) -> frame_pb2.Frame:
    """A MODALITY_CAMERA frame of a BGR uint8 image (as OpenCV decodes it), JPEG-encoded, captured now."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError("image must be BGR uint8 (H, W, 3)")
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    if not ok:
        raise RuntimeError("OpenCV could not encode a frame as JPEG")
    payload = data.tobytes()
    capture_time = Timestamp()
    capture_time.GetCurrentTime()
    height, width = image.shape[:2]
    return frame_pb2.Frame(
        source_id=source_id,
        modality=frame_pb2.MODALITY_CAMERA,
        capture_time=capture_time,
        sequence=sequence,
        shape=[height, width, 3],
        dtype=frame_pb2.DTYPE_UNSPECIFIED,
        encoding="jpeg",
        metadata=metadata or {},
        payload=payload,
        payload_bytes=len(payload),
    )
