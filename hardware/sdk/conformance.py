"""The conformance kit: stream good and bad frames at an IngestService and report, per requirement of the
contract (proto/smartcustoms/v1/ingest.proto and the README's bad-input table), whether it holds.

    results = run_checks("127.0.0.1:50051", max_frame_bytes=2 * 1024**3)
    print(format_results(results))

It runs against the gateway, or against anything a vendor puts in front of it (a relay, a site proxy),
as ``smartcustoms vendor-check --target HOST:PORT``. The frames it sends are real frames under a source
id of their own (``vendor-check-<run>``), so point it at a test namespace, not a production lane.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from smartcustoms.hardware.sdk.stream import DEFAULT_CHUNK_BYTES, channel_options, chunks_of
from smartcustoms.v1 import frame_pb2, ingest_pb2

SERVICE = "smartcustoms.v1.IngestService"
METHOD = f"/{SERVICE}/StreamFrames"
DEFAULT_MAX_FRAME_BYTES = 2 * 1024**3  # the gateway's default gateway.max_frame_bytes
DEFAULT_LARGE_FRAME_BYTES = 64 * 1024 * 1024
DEFAULT_TIMEOUT_S = 60.0
MALFORMED = b"\xff\xff\xff\xff not a FrameChunk"

Message = ingest_pb2.FrameChunk | bytes
CODE_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}


@dataclass(frozen=True)
class CheckResult:
    requirement: str
    passed: bool
    detail: str


class CheckFailed(Exception):
    """A requirement does not hold; the message says what was seen instead."""


class Probe:
    """What every check shares: the target, the limits, and frames with fresh (source, sequence) keys."""

    def __init__(
        self,
        target: str,
        *,
        max_frame_bytes: int,
        large_frame_bytes: int,
        chunk_bytes: int,
        timeout_s: float,
    ) -> None:
        self.target = target
        self.max_frame_bytes = max_frame_bytes
        self.large_frame_bytes = large_frame_bytes
        self.chunk_bytes = chunk_bytes
        self.timeout_s = timeout_s
        self.run_id = uuid.uuid4().hex[:8]
        self.source_id = f"vendor-check-{self.run_id}"
        self._sequence = time.time_ns() // 1000
        self._count = 0

    def channel(self) -> grpc.aio.Channel:
        return grpc.aio.insecure_channel(self.target, options=channel_options(self.chunk_bytes))

    def frame(self, name: str, payload_bytes: int = 128) -> tuple[frame_pb2.Frame, bytes]:
        """A valid X-ray frame: raw uint16 [1, 1, n] (any even size; 0 gives an RFID frame)."""
        self._sequence += 1
        self._count += 1
        frame = frame_pb2.Frame(
            frame_id=f"{self.source_id}-{self._count}-{name}",
            source_id=self.source_id,
            sequence=self._sequence,
            metadata={"vendor_check": name},
        )
        frame.capture_time.GetCurrentTime()
        if payload_bytes == 0:
            frame.modality = frame_pb2.MODALITY_RFID
            frame.encoding = "protobuf"
            return frame, b""
        frame.modality = frame_pb2.MODALITY_XRAY
        frame.dtype = frame_pb2.DTYPE_UINT16
        frame.encoding = "raw"
        frame.shape[:] = [1, 1, payload_bytes // 2]
        return frame, np.resize(np.arange(4099, dtype="<u2") * 7, payload_bytes // 2).tobytes()

    def chunks(
        self, frame: frame_pb2.Frame, payload: bytes, chunk_bytes: int | None = None
    ) -> list[ingest_pb2.FrameChunk]:
        return list(chunks_of(frame, payload, chunk_bytes or self.chunk_bytes))

    async def exchange(self, messages: Iterable[Message]) -> list[ingest_pb2.IngestAck]:
        """One stream: write the messages (bytes go on the wire as they are), half-close, read every ack."""
        async with self.channel() as channel:
            call = channel.stream_stream(
                METHOD,
                request_serializer=_serialize,
                response_deserializer=ingest_pb2.IngestAck.FromString,
            )(iter(list(messages)))
            return [ack async for ack in call]


def _serialize(message: Message) -> bytes:
    return message if isinstance(message, bytes) else message.SerializeToString()


def expect_acks(
    acks: Sequence[ingest_pb2.IngestAck],
    expected: Mapping[str, grpc.StatusCode],
    *,
    duplicate: Mapping[str, bool] | None = None,
) -> str:
    """Exactly one ack per expected frame id, each with its code; raise CheckFailed otherwise."""
    seen: dict[str, ingest_pb2.IngestAck] = {}
    for ack in acks:
        if ack.frame_id in seen:
            raise CheckFailed(f"two acks for frame {ack.frame_id!r}")
        if ack.frame_id not in expected:
            raise CheckFailed(f"ack for unknown frame id {ack.frame_id!r} ({CODE_NAMES.get(ack.code)})")
        seen[ack.frame_id] = ack
    missing = [frame_id for frame_id in expected if frame_id not in seen]
    if missing:
        raise CheckFailed(f"no ack for {', '.join(map(repr, missing))} ({len(acks)} acks received)")
    for frame_id, code in expected.items():
        ack = seen[frame_id]
        if ack.code != code.value[0]:
            got = CODE_NAMES.get(ack.code, str(ack.code))
            raise CheckFailed(f"frame {frame_id!r}: expected {code.name}, got {got} {ack.message!r}".strip())
        wanted = (duplicate or {}).get(frame_id)
        if wanted is not None and ack.duplicate != wanted:
            raise CheckFailed(f"frame {frame_id!r}: duplicate={ack.duplicate}, expected {wanted}")
    codes = sorted({code.name for code in expected.values()})
    count = len(expected)
    return f"{count} ack{'s' if count != 1 else ''}, ids match ({', '.join(codes)})"


OK = grpc.StatusCode.OK


# ---------------------------------------------------------------------- checks


async def check_health(probe: Probe) -> str:
    """The ingest service must be SERVING; the overall service ``""`` says whether the pipeline behind
    it is ready (every plugin warm): reported, not required (frames are accepted and wait)."""
    async with probe.channel() as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        statuses = {}
        for service in (SERVICE, ""):
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=probe.timeout_s)
            statuses[service] = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    if statuses[SERVICE] != "SERVING":
        raise CheckFailed(f"service {SERVICE!r} is {statuses[SERVICE]}")
    return f"grpc.health.v1 reports SERVING for {SERVICE}; the pipeline ('') is {statuses['']}"


async def check_reflection(probe: Probe) -> str:
    async with probe.channel() as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        replies = [reply async for reply in stub.ServerReflectionInfo(iter([request]))]
    names = {service.name for reply in replies for service in reply.list_services_response.service}
    if SERVICE not in names:
        raise CheckFailed(f"reflection lists {sorted(names)}, not {SERVICE}")
    return f"reflection lists {SERVICE}"


async def check_ack_per_frame(probe: Probe) -> str:
    frames = [probe.frame(f"ack-{i}") for i in range(3)]
    acks = await probe.exchange(chunk for frame, payload in frames for chunk in probe.chunks(frame, payload))
    detail = expect_acks(acks, {frame.frame_id: OK for frame, _ in frames})
    for ack in acks:
        frame = next(frame for frame, _ in frames if frame.frame_id == ack.frame_id)
        if (ack.source_id, ack.sequence) != (frame.source_id, frame.sequence):
            raise CheckFailed(f"ack for {ack.frame_id!r} names {ack.source_id}/{ack.sequence}")
    return f"{detail}; source and sequence echoed"


async def check_interleaved(probe: Probe) -> str:
    (one, one_payload), (two, two_payload) = (
        probe.frame("interleaved-a", 300),
        probe.frame("interleaved-b", 300),
    )
    first, second = probe.chunks(one, one_payload, 100), probe.chunks(two, two_payload, 100)
    woven = [chunk for pair in zip(first, second, strict=True) for chunk in pair]
    return expect_acks(await probe.exchange(woven), {one.frame_id: OK, two.frame_id: OK})


async def check_single_chunk(probe: Probe) -> str:
    frame, payload = probe.frame("one-chunk", 1024)
    chunks = probe.chunks(frame, payload, 4096)
    return f"{expect_acks(await probe.exchange(chunks), {frame.frame_id: OK})}; 1 chunk"


async def check_many_chunks(probe: Probe) -> str:
    frame, payload = probe.frame("many-chunks", 64 * 256)
    chunks = probe.chunks(frame, payload, 256)
    return f"{expect_acks(await probe.exchange(chunks), {frame.frame_id: OK})}; {len(chunks)} chunks"


async def check_empty_payload(probe: Probe) -> str:
    frame, payload = probe.frame("empty", 0)
    return f"{expect_acks(await probe.exchange(probe.chunks(frame, payload)), {frame.frame_id: OK})}; 0 bytes"


async def check_ordering(probe: Probe) -> str:
    swapped, payload = probe.frame("out-of-order", 300)
    first, second, third = probe.chunks(swapped, payload, 100)
    orphan = ingest_pb2.FrameChunk(frame_id=f"{probe.source_id}-orphan", index=3, data=b"abc", last=True)
    good, good_payload = probe.frame("after-out-of-order")
    messages = [first, third, second, orphan, *probe.chunks(good, good_payload)]
    expected = {swapped.frame_id: grpc.StatusCode.OUT_OF_RANGE, orphan.frame_id: grpc.StatusCode.OUT_OF_RANGE}
    return expect_acks(await probe.exchange(messages), {**expected, good.frame_id: OK})


async def check_missing_chunks(probe: Probe) -> str:
    frame, payload = probe.frame("missing-chunks", 200)
    first, last = probe.chunks(frame, payload, 100)
    first.total_bytes = 300  # declares more than it sends
    first.header.shape[:] = [1, 1, 150]
    good, good_payload = probe.frame("after-missing-chunks")
    acks = await probe.exchange([first, last, *probe.chunks(good, good_payload)])
    return expect_acks(acks, {frame.frame_id: grpc.StatusCode.DATA_LOSS, good.frame_id: OK})


async def check_size_limit(probe: Probe) -> str:
    frame, _ = probe.frame("too-large", 0)
    frame.modality = frame_pb2.MODALITY_CAMERA
    frame.encoding = "jpeg"
    header = frame_pb2.Frame()
    header.CopyFrom(frame)
    header.payload_bytes = probe.max_frame_bytes + 1
    first = ingest_pb2.FrameChunk(
        frame_id=frame.frame_id, index=0, header=header, total_bytes=probe.max_frame_bytes + 1, data=b"x"
    )
    good, good_payload = probe.frame("after-too-large")
    acks = await probe.exchange([first, *probe.chunks(good, good_payload)])
    detail = expect_acks(acks, {frame.frame_id: grpc.StatusCode.RESOURCE_EXHAUSTED, good.frame_id: OK})
    return f"{detail}; declared {probe.max_frame_bytes + 1} bytes"


async def check_malformed(probe: Probe) -> str:
    good, payload = probe.frame("after-malformed")
    acks = await probe.exchange([MALFORMED, *probe.chunks(good, payload)])
    return expect_acks(acks, {"": grpc.StatusCode.INVALID_ARGUMENT, good.frame_id: OK})


async def check_shape_mismatch(probe: Probe) -> str:
    frame, payload = probe.frame("shape-mismatch", 128)
    frame.shape[:] = [1, 9, 9]
    good, good_payload = probe.frame("after-shape-mismatch")
    acks = await probe.exchange([*probe.chunks(frame, payload), *probe.chunks(good, good_payload)])
    return expect_acks(acks, {frame.frame_id: grpc.StatusCode.INVALID_ARGUMENT, good.frame_id: OK})


async def check_duplicate(probe: Probe) -> str:
    frame, payload = probe.frame("duplicate")
    first = await probe.exchange(probe.chunks(frame, payload))
    expect_acks(first, {frame.frame_id: OK}, duplicate={frame.frame_id: False})
    again = await probe.exchange(probe.chunks(frame, payload))
    expect_acks(again, {frame.frame_id: OK}, duplicate={frame.frame_id: True})
    renamed = frame_pb2.Frame()
    renamed.CopyFrom(frame)
    renamed.frame_id = f"{frame.frame_id}-renamed"
    other = await probe.exchange(probe.chunks(renamed, payload))
    expect_acks(other, {renamed.frame_id: OK}, duplicate={renamed.frame_id: True})
    return "a resend and a new frame id with the same (source, sequence) are acked OK, duplicate"


async def check_reconnect(probe: Probe) -> str:
    """A stream cancelled mid-frame leaves nothing accepted: the same frame on a new stream is new."""
    partial, payload = probe.frame("cancelled-mid-frame", 400)
    marker, marker_payload = probe.frame("before-cancel")
    async with probe.channel() as channel:
        call = channel.stream_stream(
            METHOD, request_serializer=_serialize, response_deserializer=ingest_pb2.IngestAck.FromString
        )()
        await call.write(probe.chunks(partial, payload, 100)[0])
        for chunk in probe.chunks(marker, marker_payload):
            await call.write(chunk)
        ack = await call.read()  # the marker came after the partial frame's chunk 0: both were read
        if ack is grpc.aio.EOF or (ack.frame_id, ack.code) != (marker.frame_id, OK.value[0]):
            raise CheckFailed(f"expected an OK ack for {marker.frame_id!r} first, got {ack}")
        call.cancel()
    next_frame, next_payload = probe.frame("after-reconnect")
    acks = await probe.exchange(
        [*probe.chunks(partial, payload, 100), *probe.chunks(next_frame, next_payload)]
    )
    expect_acks(acks, {partial.frame_id: OK, next_frame.frame_id: OK}, duplicate={partial.frame_id: False})
    return "the cancelled frame was not accepted; resent whole on a new stream, it and the next are accepted"


async def check_large_frame(probe: Probe) -> str:
    size = min(probe.large_frame_bytes, probe.max_frame_bytes) // 2 * 2
    frame, payload = probe.frame("large", size)
    chunks = chunks_of(frame, payload, probe.chunk_bytes, sha256=True)
    count = -(-size // probe.chunk_bytes)
    detail = expect_acks(await probe.exchange(chunks), {frame.frame_id: OK})
    plural = "s" if count != 1 else ""
    return f"{detail}; {size} bytes in {count} chunk{plural} of {probe.chunk_bytes}, SHA-256 checked"


Check = Callable[[Probe], Awaitable[str]]

CHECKS: tuple[tuple[str, Check], ...] = (
    ("health: SERVING", check_health),
    ("reflection lists IngestService", check_reflection),
    ("one ack per frame, matching id", check_ack_per_frame),
    ("acks for interleaved frames", check_interleaved),
    ("chunking: one chunk", check_single_chunk),
    ("chunking: many chunks", check_many_chunks),
    ("chunking: zero-length payload", check_empty_payload),
    ("chunk out of order: OUT_OF_RANGE", check_ordering),
    ("missing chunks: DATA_LOSS", check_missing_chunks),
    ("frame over the size limit: RESOURCE_EXHAUSTED", check_size_limit),
    ("malformed message: INVALID_ARGUMENT", check_malformed),
    ("shape mismatch: INVALID_ARGUMENT", check_shape_mismatch),
    ("duplicate (source, sequence): acked duplicate", check_duplicate),
    ("reconnect after a cancelled stream", check_reconnect),
    ("large frame in chunks", check_large_frame),
)


async def run_check(requirement: str, check: Check, probe: Probe) -> CheckResult:
    """One requirement, bounded by the probe's timeout; any failure becomes a FAIL with its reason."""
    try:
        async with asyncio.timeout(probe.timeout_s):
            return CheckResult(requirement, True, await check(probe))
    except CheckFailed as failure:
        detail = str(failure)
    except TimeoutError:
        detail = f"no complete answer within {probe.timeout_s:g} s"
    except grpc.aio.AioRpcError as error:
        detail = f"stream failed: {error.code().name} {error.details() or ''}".strip()
    except Exception as error:
        detail = f"{type(error).__name__}: {error}"
    return CheckResult(requirement, False, detail)


async def run_checks_async(
    target: str,
    *,
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
    large_frame_bytes: int = DEFAULT_LARGE_FRAME_BYTES,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    only: Iterable[str] | None = None,
) -> list[CheckResult]:
    """Run every check (or those whose requirement is in ``only``), in order, each on fresh streams."""
    probe = Probe(
        target,
        max_frame_bytes=max_frame_bytes,
        large_frame_bytes=large_frame_bytes,
        chunk_bytes=chunk_bytes,
        timeout_s=timeout_s,
    )
    wanted = None if only is None else set(only)
    return [
        await run_check(requirement, check, probe)
        for requirement, check in CHECKS
        if wanted is None or requirement in wanted
    ]


def run_checks(
    target: str,
    *,
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
    large_frame_bytes: int = DEFAULT_LARGE_FRAME_BYTES,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    only: Iterable[str] | None = None,
) -> list[CheckResult]:
    """``run_checks_async`` for callers without an event loop (the CLI, a vendor's test suite)."""
    return asyncio.run(
        run_checks_async(
            target,
            max_frame_bytes=max_frame_bytes,
            large_frame_bytes=large_frame_bytes,
            chunk_bytes=chunk_bytes,
            timeout_s=timeout_s,
            only=only,
        )
    )


def format_results(results: Sequence[CheckResult]) -> str:
    """A table: requirement | PASS/FAIL | detail, and a summary line."""
    width = max([len("requirement"), *(len(r.requirement) for r in results)])
    lines = [f"{'requirement':<{width}} | result | detail", f"{'-' * width}-+--------+-{'-' * 40}"]
    lines += [f"{r.requirement:<{width}} | {'PASS' if r.passed else 'FAIL':<6} | {r.detail}" for r in results]
    failed = sum(not r.passed for r in results)
    lines.append(
        f"{len(results) - failed} of {len(results)} requirements pass"
        + (f", {failed} fail" if failed else "")
    )
    return "\n".join(lines)
