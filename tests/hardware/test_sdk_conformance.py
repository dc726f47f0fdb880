"""The conformance kit can fail: against gateways that break the contract in different ways, the checks
of the requirements they break fail (and say why), the others pass. The real gateway passing every check
is tests/integration/test_vendor_conformance.py."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
from google.protobuf.message import DecodeError
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from smartcustoms.hardware.sdk import cli
from smartcustoms.hardware.sdk.conformance import CHECKS, SERVICE, CheckResult, format_results, run_checks
from smartcustoms.v1 import ingest_pb2

FRAME_CHECKS = {requirement for requirement, _ in CHECKS} - {
    "health: SERVING",
    "reflection lists IngestService",
}


class BrokenGateway:
    """``wrong-ids``: acks every frame OK under another id. ``silent``: reads everything, never answers.
    ``accept-all``: acks every frame OK, bad or not, and never flags a duplicate."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    async def StreamFrames(
        self, requests: AsyncIterator[ingest_pb2.FrameChunk | None], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[ingest_pb2.IngestAck]:
        headers = {}
        async for chunk in requests:
            if chunk is not None and chunk.index == 0:
                headers[chunk.frame_id] = chunk.header
            if chunk is None:
                if self.mode == "accept-all":
                    yield ingest_pb2.IngestAck()
                continue
            if not chunk.last:
                continue
            if self.mode == "wrong-ids":
                yield ingest_pb2.IngestAck(frame_id=f"not-{chunk.frame_id}")
            elif self.mode == "accept-all":
                header = headers.pop(chunk.frame_id, chunk.header)
                yield ingest_pb2.IngestAck(
                    frame_id=chunk.frame_id, source_id=header.source_id, sequence=header.sequence
                )
        if self.mode == "silent":
            await asyncio.Event().wait()  # never ends the stream either


def _parse(data: bytes) -> ingest_pb2.FrameChunk | None:
    try:
        return ingest_pb2.FrameChunk.FromString(data)
    except DecodeError:
        return None


async def _serve(gateway: BrokenGateway) -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "StreamFrames": grpc.stream_stream_rpc_method_handler(
                gateway.StreamFrames,
                request_deserializer=_parse,
                response_serializer=ingest_pb2.IngestAck.SerializeToString,
            )
        },
    )
    server.add_generic_rpc_handlers((handler,))
    if gateway.mode != "silent":  # the silent one has no health or reflection either
        health_servicer = health.aio.HealthServicer()
        await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        await health_servicer.set(SERVICE, health_pb2.HealthCheckResponse.SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        reflection.enable_server_reflection((SERVICE, reflection.SERVICE_NAME), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


@contextlib.contextmanager
def broken_gateway(mode: str) -> Iterator[str]:
    """The broken gateway on an event loop in a thread of its own (the kit runs its own loop)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever)
    thread.start()
    try:
        server, target = asyncio.run_coroutine_threadsafe(_serve(BrokenGateway(mode)), loop).result()
        try:
            yield target
        finally:
            asyncio.run_coroutine_threadsafe(server.stop(0), loop).result()
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def _by_requirement(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {result.requirement: result for result in results}


OPTIONS = {"timeout_s": 0.5, "large_frame_bytes": 256 * 1024, "max_frame_bytes": 1024 * 1024}


def test_acks_under_the_wrong_ids_fail_every_frame_check() -> None:
    with broken_gateway("wrong-ids") as target:
        results = _by_requirement(run_checks(target, **OPTIONS))
    assert results["health: SERVING"].passed and results["reflection lists IngestService"].passed
    for requirement in FRAME_CHECKS:
        assert not results[requirement].passed, requirement
    assert "unknown frame id 'not-" in results["one ack per frame, matching id"].detail


def test_a_gateway_that_never_answers_fails_everything_within_the_deadline() -> None:
    with broken_gateway("silent") as target:
        results = run_checks(target, **OPTIONS)
    assert [r.requirement for r in results] == [requirement for requirement, _ in CHECKS]
    assert not any(result.passed for result in results)
    assert "UNIMPLEMENTED" in results[0].detail
    assert "no complete answer within 0.5 s" in _by_requirement(results)["chunking: one chunk"].detail


def test_a_gateway_that_accepts_bad_input_fails_exactly_the_bad_input_checks() -> None:
    with broken_gateway("accept-all") as target:
        results = _by_requirement(run_checks(target, **OPTIONS))
    failing = {requirement for requirement, result in results.items() if not result.passed}
    assert failing == {
        "chunk out of order: OUT_OF_RANGE",
        "missing chunks: DATA_LOSS",
        "frame over the size limit: RESOURCE_EXHAUSTED",
        "malformed message: INVALID_ARGUMENT",
        "shape mismatch: INVALID_ARGUMENT",
        "duplicate (source, sequence): acked duplicate",
    }
    assert "expected OUT_OF_RANGE, got OK" in results["chunk out of order: OUT_OF_RANGE"].detail
    assert "duplicate=False, expected True" in results["duplicate (source, sequence): acked duplicate"].detail


def test_vendor_check_prints_the_table_and_exits_non_zero_on_a_failure(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with broken_gateway("accept-all") as target, pytest.raises(SystemExit) as exit_info:
        cli.main(["vendor-check", "--target", target, "--timeout-s", "0.5", "--large-frame-bytes", "1024"])
    assert exit_info.value.code == 1
    table = capsys.readouterr().out
    assert "requirement" in table.splitlines()[0] and "| result |" in table.splitlines()[0]
    assert "| PASS   | grpc.health.v1 reports SERVING" in table
    assert "missing chunks: DATA_LOSS" in table and "| FAIL   | frame " in table
    assert table.rstrip().endswith("9 of 15 requirements pass, 6 fail")


def test_format_results_lines_up_the_columns() -> None:
    table = format_results([CheckResult("a", True, "fine"), CheckResult("longer one", False, "broken")])
    lines = table.splitlines()
    assert lines[0] == "requirement | result | detail"
    assert lines[2] == "a           | PASS   | fine"
    assert lines[3] == "longer one  | FAIL   | broken"
    assert lines[-1] == "1 of 2 requirements pass, 1 fail"
