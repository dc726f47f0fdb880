"""The air cargo queue through the running gateway: a driver takes a ticket on the phone page (a
phone's viewport, in a real browser) and follows it live while an officer calls tickets on the counters
page; the gRPC QueueService answers bad input with clear status codes; a killed gateway loses no ticket;
queue events reach the ledger as record frames and the metrics show the queue."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
import redis

from smartcustoms.runtime.stack import Stack
from smartcustoms.runtime.testing import restart_gateway
from smartcustoms.v1 import frame_pb2, queue_pb2, queue_pb2_grpc

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium")
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def gateway(gateway_alone: Stack) -> Stack:
    """The gateway alone (the queue lives there), in a namespace of its own."""
    return gateway_alone


def _code(call: Callable[[], object]) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as refused:
        call()
    return refused.value.code()  # type: ignore[no-any-return]  # grpc is untyped


def _wait_for(condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def test_queue_service_answers_bad_input_clearly_and_survives_a_killed_gateway(gateway: Stack) -> None:
    with grpc.insecure_channel(gateway.gateway_target) as channel:
        stub = queue_pb2_grpc.QueueServiceStub(channel)
        board = stub.OpenCounter(queue_pb2.CounterRequest(counter_id="c1", officer="PO Lee"), timeout=5)
        assert [(c.counter_id, c.open) for c in board.counters] == [("c1", True)]
        kept = stub.TakeTicket(queue_pb2.TakeTicketRequest(cargo_type="general", travel_s=900), timeout=5)
        gone = stub.TakeTicket(queue_pb2.TakeTicketRequest(cargo_type="express", travel_s=60), timeout=5)
        assert (kept.status, kept.place, gone.place) == ("waiting", 1, 1)  # express goes ahead
        assert (
            stub.CancelTicket(queue_pb2.TicketRequest(ticket_id=gone.ticket_id), timeout=5).status
            == "cancelled"
        )
        take = stub.TakeTicket
        assert _code(lambda: take(queue_pb2.TakeTicketRequest(cargo_type="frozen"), timeout=5)) == (
            grpc.StatusCode.INVALID_ARGUMENT
        )
        assert _code(lambda: stub.GetTicket(queue_pb2.TicketRequest(ticket_id="nope"), timeout=5)) == (
            grpc.StatusCode.NOT_FOUND
        )
        call_cancelled = queue_pb2.CounterRequest(counter_id="c1", officer="PO Lee", ticket_id=gone.ticket_id)
        assert _code(lambda: stub.CallNext(call_cancelled, timeout=5)) == grpc.StatusCode.FAILED_PRECONDITION
        stub.SetTerminal(queue_pb2.TerminalRequest(open=False, officer="PO Lee"), timeout=5)
        assert _code(lambda: take(queue_pb2.TakeTicketRequest(cargo_type="general"), timeout=5)) == (
            grpc.StatusCode.FAILED_PRECONDITION
        )
        before = stub.GetBoard(queue_pb2.GetBoardRequest(), timeout=5)
        assert [t.ticket_id for t in before.waiting] == [kept.ticket_id]  # nothing else lost

    restart_gateway(gateway, kill=True)
    with grpc.insecure_channel(gateway.gateway_target) as channel:
        stub = queue_pb2_grpc.QueueServiceStub(channel)
        after = stub.GetBoard(queue_pb2.GetBoardRequest(), timeout=10)
        assert [t.ticket_id for t in after.waiting] == [kept.ticket_id] and not after.terminal_open
        board = stub.CallNext(queue_pb2.CounterRequest(counter_id="c1", officer="PO Lee"), timeout=5)
        assert board.counters[0].ticket.ticket_id == kept.ticket_id
        watched = next(iter(stub.WatchTicket(queue_pb2.TicketRequest(ticket_id=kept.ticket_id), timeout=5)))
        assert (watched.status, watched.counter_id) == ("called", "c1")

    # every change was an event; they travel as air_queue_event record frames through the ledger
    client = redis.Redis.from_url(gateway.config.redis.url)
    prefix = f"sc:{gateway.config.namespace}:"

    def events_recorded() -> list[str]:
        events = []
        for raw in client.hvals(prefix + "inflight"):
            frame = frame_pb2.Frame.FromString(raw)
            if frame.source_id == "air-queue":
                assert frame.metadata["record_kind"] == "air_queue_event"
                batch = frame_pb2.RecordBatch.FromString(frame.payload)
                events += [r.fields["event"] for r in batch.records]
        return events

    try:
        _wait_for(lambda: "called" in events_recorded())
        recorded = events_recorded()
        assert recorded.count("issued") == 2 and "cancelled" in recorded and "terminal_closed" in recorded
    finally:
        client.close()
    metrics = urllib.request.urlopen(gateway.metrics_urls[0], timeout=5).read().decode()
    assert "smartcustoms_air_queue_counters_open 1.0" in metrics
    assert 'smartcustoms_air_queue_events_total{event="issued"} 2.0' in metrics
    if shutil.which("promtool"):  # the exposition lints clean (names, units, help)
        linted = subprocess.run(
            ["promtool", "check", "metrics"],
            input=metrics,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert "air_queue" not in linted.stdout + linted.stderr


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (scripts/setup installs it)")
def test_a_driver_follows_a_ticket_on_the_phone_while_an_officer_calls(
    gateway: Stack, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=20_000)  # a loaded 2-core machine: a step may take seconds
    with grpc.insecure_channel(gateway.gateway_target) as channel:
        stub = queue_pb2_grpc.QueueServiceStub(channel)
        stub.OpenCounter(queue_pb2.CounterRequest(counter_id="c1", officer="PO Lee"), timeout=5)
        ahead = stub.TakeTicket(queue_pb2.TakeTicketRequest(cargo_type="perishables", travel_s=0), timeout=5)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
        )
        try:
            phone = browser.new_page(viewport=PHONE, is_mobile=True, has_touch=True)
            phone.goto(gateway.review_url + "queue")
            phone.wait_for_selector("body[data-loaded=true]")
            phone.fill("#travel", "500")
            phone.click("#take-button")
            expect(phone.locator("#take-error")).to_contain_text("travel time must be between")
            phone.select_option("#cargo", "general")
            phone.fill("#travel", "20")
            phone.fill("#driver", "LV 1234")
            phone.click("#take-button")
            ticket = phone.locator("#ticket")
            expect(ticket).to_have_attribute("data-status", "waiting")
            expect(phone.locator("#label")).to_have_text("G002")
            expect(phone.locator("#place")).to_have_text("2")
            assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # fits the phone

            desk = browser.new_page(viewport={"width": 1200, "height": 800})
            desk.goto(gateway.review_url + "queue/officer")
            desk.wait_for_selector("body[data-loaded=true]")
            desk.fill("#officer", "PO Lee")
            desk.dispatch_event("#officer", "change")
            expect(desk.locator("#waiting tr")).to_have_count(2)
            desk.locator("tr[data-counter=c1] button.call").click()
            expect(desk.locator("tr[data-counter=c1] .serving")).to_contain_text(f"{ahead.label} (called)")
            expect(phone.locator("#place")).to_have_text("1")  # pushed by server-sent events
            desk.locator("tr[data-counter=c1] button.arrived").click()
            # answered before the next click: two posts in flight at once may land in either order
            expect(desk.locator("tr[data-counter=c1] .serving")).to_contain_text(f"{ahead.label} (serving)")
            desk.locator("tr[data-counter=c1] button.call").click()
            expect(ticket).to_have_attribute("data-status", "called")
            expect(phone.locator("#notice")).to_contain_text("Called to counter c1")
            expect(phone.locator("#counter")).to_have_text("c1")
            phone.screenshot(path=str(tmp_path / "queue-phone.png"))
            phone.click("#cancel")
            expect(ticket).to_have_attribute("data-status", "cancelled")
            expect(desk.locator("tr[data-counter=c1] .serving")).to_have_text("idle")
            phone.click("#new")
            expect(phone.locator("#take-button")).to_be_visible()
        finally:
            browser.close()


def test_simulated_drivers_run_the_queue_for_the_demo(gateway: Stack) -> None:
    import asyncio

    from smartcustoms.hardware.sim.devices import CLIENTS
    from smartcustoms.runtime.air_queue_service import queue_line

    stats = asyncio.run(CLIENTS["air_drivers"](gateway.gateway_target, time.monotonic() + 6.0, 4.0, 3))
    assert stats.sent > 10 and stats.accepted == stats.sent and stats.rejected == 0
    line = queue_line(gateway.config.redis.url, gateway.config.namespace)
    issued = int(line.split("air cargo queue: ")[1].split(" tickets")[0])
    assert issued > 3 and ", 0 waiting;" in line, line
