"""The enquiry service without the stack: the desk with a fake record sink, the gRPC servicer on a real
server, the chat page's API, and the CLI."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Iterator

import grpc
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from smartcustoms.hardware.sim.enquirers import question, run_enquirers
from smartcustoms.plugins.enquiry.assistant import EnquiryAssistant
from smartcustoms.plugins.enquiry.text import QuestionError
from smartcustoms.runtime.cli import main
from smartcustoms.runtime.enquiry import EnquiryDesk, EnquiryServicer
from smartcustoms.runtime.enquiry_page import add_routes
from smartcustoms.runtime.record_sink import MemoryRecordSink, RecordSink
from smartcustoms.v1 import enquiry_pb2, enquiry_pb2_grpc, frame_pb2


@pytest.fixture(scope="module")
def assistant() -> EnquiryAssistant:
    return EnquiryAssistant()


class FailingSink(RecordSink):
    async def publish(self, frame: frame_pb2.Frame) -> None:
        raise RuntimeError("ledger down")


def test_the_desk_answers_and_records_each_question(assistant: EnquiryAssistant) -> None:
    sink = MemoryRecordSink()
    desk = EnquiryDesk(lambda: assistant, sink, "lok-ma-chau")

    async def scenario() -> None:
        answer, record_id = await desk.ask("how many cigarettes duty free", channel="robot", session_id="s 1")
        assert answer.entry_id == "allowance-tobacco" and record_id
        with pytest.raises(QuestionError):
            await desk.ask("")

    asyncio.run(scenario())
    (frame,) = sink.frames  # the bad question recorded nothing
    (record,) = frame_pb2.RecordBatch.FromString(frame.payload).records
    assert frame.control_point == "lok-ma-chau" and record.kind == "enquiry"
    assert record.fields["channel"] == "robot" and record.fields["session_id"] == "s1"
    assert record.fields["entry_id"] == "allowance-tobacco" and record.fields["handed_over"] == "0"


def test_a_lost_record_does_not_lose_the_answer(assistant: EnquiryAssistant) -> None:
    answer, record_id = asyncio.run(EnquiryDesk(assistant, FailingSink()).ask("cash declaration"))
    assert answer.text and record_id == ""


def test_the_grpc_service_answers_and_refuses_bad_input(assistant: EnquiryAssistant) -> None:
    sink = MemoryRecordSink()

    async def scenario() -> None:
        server = grpc.aio.server()
        enquiry_pb2_grpc.add_EnquiryServiceServicer_to_server(  # type: ignore[no-untyped-call]  # generated, untyped
            EnquiryServicer(EnquiryDesk(assistant, sink)), server
        )
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = enquiry_pb2_grpc.EnquiryServiceStub(channel)  # type: ignore[no-untyped-call]  # generated, untyped
                reply = await stub.Ask(enquiry_pb2.AskRequest(question="可以帶幾多錢入境唔使申報"))
                assert reply.entry_id.startswith("currency-") and reply.answer_language == "zh-Hant"
                assert reply.record_id and not reply.handed_over
                for bad in ("", "x" * 600, "Combien?", "\x01\x02"):
                    with pytest.raises(grpc.aio.AioRpcError) as refused:
                        await stub.Ask(enquiry_pb2.AskRequest(question=bad))
                    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                with pytest.raises(grpc.aio.AioRpcError, match="not 'fr'"):
                    await stub.Ask(enquiry_pb2.AskRequest(question="cash", language="fr"))
            robot = await run_enquirers(f"127.0.0.1:{port}", time.monotonic() + 60, 50.0, 3, max_frames=4)
            assert (robot.sent, robot.accepted, robot.rejected) == (4, 4, 0)
        finally:
            await server.stop(0)

    asyncio.run(scenario())
    assert len(sink.frames) == 1 + 4  # one good question, the robot's four; no refused one


def test_the_simulated_enquirers_ask_in_every_language_and_off_topic() -> None:
    rng = random.Random(5)
    asked = [question(rng) for _ in range(300)]
    assert asked == [question(r) for r in [random.Random(5)] for _ in range(300)]
    assert any(q.isascii() for q in asked) and any(not q.isascii() for q in asked)
    assert "where is the taxi stand" in asked  # a question no entry answers


def test_the_page_api(assistant: EnquiryAssistant) -> None:
    sink = MemoryRecordSink()

    async def scenario() -> None:
        app = web.Application()
        add_routes(app, EnquiryDesk(assistant, sink))
        async with TestClient(TestServer(app)) as client:
            page = await client.get("/enquiry")
            assert page.status == 200 and "海關查詢" in await page.text()
            reply = await client.post("/api/enquiry/ask", json={"question": "Can I bring e-cigarettes?"})
            body = await reply.json()
            assert body["entry_id"] == "prohibited-e-cigarettes" and body["record_id"]
            for payload, error in (
                ({"question": ""}, "empty"),
                ({"question": 3}, "must be text"),
                ({"question": "y" * 20_000}, "too long"),
                ({"question": "Сколько?"}, "language"),
            ):
                refused = await client.post("/api/enquiry/ask", json=payload)
                assert refused.status == 400 and error in await refused.text()
            binary = await client.post("/api/enquiry/ask", data=b"\xff\xfe\x00")
            assert binary.status == 400

    asyncio.run(scenario())
    assert len(sink.frames) == 1


@pytest.fixture
def no_config(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("SMARTCUSTOMS_CONFIG", raising=False)
    yield


def test_the_cli_answers_in_json_and_refuses_bad_input(
    no_config: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["ask", "how much liquor duty free", "--lang", "zh-Hant", "--json"])
    assert done.value.code == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown.keys() >= {"answer", "source", "confidence", "handed_over"}
    assert shown["entry_id"] == "allowance-liquor" and "公升" in shown["answer"]
    with pytest.raises(SystemExit) as done:
        main(["ask", "   "])
    assert done.value.code == 2 and "the question is empty" in capsys.readouterr().err


def test_the_gateway_builds_the_assistant_before_the_first_question(
    assistant: EnquiryAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    """``gateway.enquiry_warm_up``: built once at start-up, so no question (and no frame being acked
    beside it) waits on the build; a build that fails at start-up is logged and tried again on a question."""
    from smartcustoms.core.config import GatewayConfig
    from smartcustoms.runtime.gateway_process import _warm_up

    assert GatewayConfig().enquiry_warm_up
    builds: list[str] = []

    def build() -> EnquiryAssistant:
        builds.append("built")
        if len(builds) == 1 and failing:
            raise OSError("knowledge base unreadable")
        return assistant

    failing = False
    records = MemoryRecordSink()
    desk = EnquiryDesk(build, records)
    asyncio.run(_warm_up(desk))
    assert builds == ["built"] and records.frames == []  # its warm-up question is not on the record
    asyncio.run(desk.ask("cash declaration"))
    assert builds == ["built"]  # the question found it built

    failing, builds[:] = True, []
    desk = EnquiryDesk(build, MemoryRecordSink())
    asyncio.run(_warm_up(desk))  # does not raise
    assert "could not be built at start-up" in caplog.text
    answer, _ = asyncio.run(desk.ask("cash declaration"))
    assert answer.text and builds == ["built", "built"]
