"""The enquiry assistant through the running gateway: questions over gRPC and on the chat page in a real
browser, each one an ``enquiry`` record in the ledger, counted by the enquiry plugin, in the weekly
report and in the gateway's metrics."""

from __future__ import annotations

import asyncio
import json
import shutil
import urllib.request

import grpc
import pytest
import redis.asyncio as aioredis

from smartcustoms.core.frames import inline_view
from smartcustoms.core.keys import plugin_state_prefix
from smartcustoms.core.plugin import PluginContext
from smartcustoms.core.state import open_state
from smartcustoms.plugins.enquiry import EnquiryAnalyticsPlugin
from smartcustoms.runtime.cli import main
from smartcustoms.runtime.ledger import ledger_for
from smartcustoms.runtime.stack import Stack
from smartcustoms.v1 import enquiry_pb2, enquiry_pb2_grpc, frame_pb2

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium")


@pytest.fixture
def gateway(gateway_alone: Stack) -> Stack:
    """The gateway alone (the enquiry service lives there; no worker, so no Ray)."""
    return gateway_alone


def _in_ledger(stack: Stack, record_ids: list[str]) -> list[frame_pb2.Frame]:
    async def read() -> list[frame_pb2.Frame]:
        client = aioredis.Redis.from_url(stack.config.redis.url)
        try:
            ledger = ledger_for(stack.config, client)
            frames = [await ledger.in_flight_record(record_id) for record_id in record_ids]
        finally:
            await client.aclose()
        assert all(frames), "every answered question is a record in the ledger"
        return [f for f in frames if f is not None]

    return asyncio.run(read())


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (scripts/setup installs it)")
def test_questions_on_grpc_and_the_chat_page_become_records_in_the_report_and_the_metrics(
    gateway: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    """One gateway for both (a start costs seconds): gRPC and the report first, then the browser."""
    with grpc.insecure_channel(gateway.gateway_target) as channel:
        stub = enquiry_pb2_grpc.EnquiryServiceStub(channel)  # type: ignore[no-untyped-call]  # generated, untyped
        asked = [
            stub.Ask(enquiry_pb2.AskRequest(question=q, channel="robot"), timeout=60)
            for q in (
                "How many cigarettes can I bring duty free?",
                "带多少现金入境需要申报",
                "附近有没有银行",
            )
        ]
        with pytest.raises(grpc.RpcError) as refused:
            stub.Ask(enquiry_pb2.AskRequest(question=" "), timeout=30)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [a.handed_over for a in asked] == [False, False, True]
    assert asked[1].answer_language == "zh-Hant" and "港幣120,000元" in asked[1].answer
    frames = _in_ledger(gateway, [a.record_id for a in asked])

    # what the worker's enquiry plugin does with each record frame from the stream
    state = open_state(gateway.config.redis.url, plugin_state_prefix(gateway.config.namespace, "enquiry"))
    try:
        plugin = EnquiryAnalyticsPlugin({}, PluginContext(name="enquiry", state=state))
        plugin.smartcustoms_process_batch([inline_view(f) for f in frames])
    finally:
        state.close()
    with pytest.raises(SystemExit) as done:
        main(["--config", str(gateway.run_dir / "config.json"), "report", "enquiries", "--json"])
    assert done.value.code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["days"][-1] == {"day": report["days"][-1]["day"], "questions": 3, "handed_over": 1}
    assert report["languages"] == {"en": 1, "zh-Hans": 2}
    assert report["unanswered"][0]["question"] == "附近有没有银行"

    metrics = urllib.request.urlopen(gateway.metrics_urls[0], timeout=10).read().decode()
    assert 'smartcustoms_enquiries_total{language="zh-Hans",outcome="handed_over"} 1.0' in metrics
    assert 'smartcustoms_enquiry_topic_questions_total{topic="allowance"} 1.0' in metrics
    with pytest.raises(SystemExit) as done:  # the CLI through the gateway: recorded like the others
        main(["ask", "currency declaration form", "--json", "--gateway", gateway.gateway_target])
    assert done.value.code == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["entry_id"] == "currency-how-declare" and shown["record_id"]
    _in_ledger(gateway, [shown["record_id"]])
    _chat_on_the_page(gateway)


def _chat_on_the_page(gateway: Stack) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=30_000)  # the first question builds the index on a loaded machine
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
        )
        try:
            page = browser.new_page(viewport={"width": 420, "height": 860})
            page.goto(gateway.review_url + "enquiry")
            page.fill("#question", "Can I bring e-cigarettes into Hong Kong?")
            page.click("#send")
            first = page.locator(".answer").nth(0)
            expect(first).to_contain_text("alternative smoking products")
            expect(first.locator(".source")).to_contain_text("Prohibited and controlled items")
            page.fill("#question", "带多少现金入境需要申报")
            page.click("#send")
            expect(page.locator(".answer").nth(1)).to_contain_text("港幣120,000元")
            page.click("#send")  # an empty question
            expect(page.locator(".answer.error")).to_have_text("the question is empty")
            page.fill("#question", "what is the weather tomorrow")
            page.click("#send")
            handed = page.locator(".answer").nth(3)
            expect(handed).to_have_class("bubble answer handover")
            expect(handed).to_contain_text("an officer will help you")
        finally:
            browser.close()
