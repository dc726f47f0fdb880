"""Officers' inspection results come back through the adjudication path: a decision on a cargo_risk
alert, with what each inspected declaration held, goes on the stream as inspection_outcome records and
lands in cargo_risk's history in the real Redis, once; a changed decision replaces it."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from smartcustoms.core.config import Config, PluginConfig
from smartcustoms.core.keys import plugin_state_prefix
from smartcustoms.core.state import open_state
from smartcustoms.hardware.sdk.client import OK, send_all
from smartcustoms.hardware.sim.records import to_frame
from smartcustoms.runtime.stack import Stack
from smartcustoms.runtime.testing import ledger_settled, only_plugins
from smartcustoms.v1 import frame_pb2, results_pb2, review_pb2, review_pb2_grpc

pytestmark = pytest.mark.integration

HARBOUR, KOWLOON = "Harbour Trading Ltd", "Kowloon Imports Ltd"
CHROMIUM = shutil.which("chromium")


def declaration(record_id: str, importer: str) -> frame_pb2.Record:
    fields = {
        "declared_at": "2026-03-01T10:00:00+08:00",
        "hs_code": "85171300",
        "declared_value_hkd": "350000",
        "weight_kg": "40",
        "quantity": "100",
        "origin": "CN",
        "importer": importer,
        "declarant": "Star Brokerage Ltd",
        "route": "CN-SZX>HK-LMC",
    }
    return frame_pb2.Record(record_id=record_id, kind="cargo_declaration", fields=fields)


def cargoonly_plugins(config: Config) -> Config:
    """cargo_risk alone, selecting every declaration and none at random: each batch is an alert."""
    config.plugins["cargo_risk"] = PluginConfig(settings={"inspect_share": 1.0, "exploration_share": 0})
    only_plugins(config, "cargo_risk")
    return config


def alert_on(stack: Stack, *declarations: frame_pb2.Record) -> frame_pb2.Frame:
    """Send one frame of ``declarations`` and wait for its verdict."""
    frame = to_frame(frame_pb2.RecordBatch(records=declarations), "cargo-feed", 1)
    assert [a.code for a in asyncio.run(send_all(stack.gateway_target, [frame]))] == [OK]
    asyncio.run(ledger_settled(stack.config, 1))
    return frame


def wait_for_history(config: Config, expected: dict[str, tuple[float, float, float]]) -> None:
    state = open_state(config.redis.url, plugin_state_prefix(config.namespace, "cargo_risk"))
    deadline = time.monotonic() + 30
    try:
        while True:
            seen = {
                importer: tuple(float(state.get(f"imp:{importer}:{f}") or 0) for f in ("insp", "hits", "rev"))
                for importer in expected
            }
            if seen == expected:
                return
            assert time.monotonic() < deadline, seen
            time.sleep(0.05)
    finally:
        state.close()


def test_a_decision_with_record_outcomes_feeds_cargo_history_once(
    runtime_config: Config, start_stack: Callable[[Config], Stack]
) -> None:
    stack = start_stack(cargoonly_plugins(runtime_config))
    frame = alert_on(
        stack, declaration("D-1", HARBOUR), declaration("D-2", KOWLOON), declaration("D-3", HARBOUR)
    )

    with grpc.insecure_channel(stack.gateway_target) as channel:
        stub = review_pb2_grpc.ReviewServiceStub(channel)
        (item,) = stub.ListAlerts(review_pb2.ListAlertsRequest(), timeout=5).items
        assert item.alert.frame_id == frame.frame_id
        assert {d.attributes["record_id"]: d.attributes["importer"] for d in item.alert.detections} == {
            "D-1": HARBOUR,
            "D-2": KOWLOON,
            "D-3": HARBOUR,
        }
        with pytest.raises(grpc.RpcError) as refused:  # a record the alert did not select
            stub.Adjudicate(
                review_pb2.AdjudicateRequest(
                    frame_id=frame.frame_id,
                    outcome=results_pb2.ADJUDICATION_OUTCOME_CONFIRMED,
                    officer="PO 4411",
                    record_outcomes=[results_pb2.RecordOutcome(record_id="D-9", hit=True)],
                ),
                timeout=5,
            )
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        decided = stub.Adjudicate(
            review_pb2.AdjudicateRequest(
                frame_id=frame.frame_id,
                outcome=results_pb2.ADJUDICATION_OUTCOME_CONFIRMED,
                officer="PO 4411",
                record_outcomes=[
                    results_pb2.RecordOutcome(record_id="D-1", hit=True, revenue_found_hkd=9000),
                    results_pb2.RecordOutcome(record_id="D-2", hit=False),
                ],
            ),
            timeout=5,
        )
        stored = {o.record_id: (o.hit, o.revenue_found_hkd) for o in decided.adjudication.record_outcomes}
        assert stored == {"D-1": (True, 9000.0), "D-2": (False, 0.0), "D-3": (True, 0.0)}
        # D-3 not named: confirmed is a hit. Two inspections of Harbour, both hits; one of Kowloon.
        wait_for_history(runtime_config, {HARBOUR: (2.0, 2.0, 9000.0), KOWLOON: (1.0, 0.0, 0.0)})

        stub.Adjudicate(  # the supervisor clears it: the same inspections, no hits, no revenue
            review_pb2.AdjudicateRequest(
                frame_id=frame.frame_id, outcome=results_pb2.ADJUDICATION_OUTCOME_CLEARED, officer="SPO 12"
            ),
            timeout=5,
        )
        wait_for_history(runtime_config, {HARBOUR: (2.0, 0.0, 0.0), KOWLOON: (1.0, 0.0, 0.0)})

    # the outcome records were frames like any other: accepted, decided, none lost
    counts = asyncio.run(ledger_settled(runtime_config, 3))
    assert (counts.accepted, counts.verdicts, counts.fallbacks, counts.in_flight) == (3, 3, 0, 0)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (scripts/setup installs it)")
def test_the_review_page_records_what_each_declaration_held(
    runtime_config: Config, start_stack: Callable[[Config], Stack], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    stack = start_stack(cargoonly_plugins(runtime_config))
    frame = alert_on(stack, declaration("P-1", HARBOUR), declaration("P-2", KOWLOON))

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(stack.review_url)
            page.wait_for_selector("body[data-loaded=true]", timeout=15_000)
            card = page.locator(f"#alert-{frame.frame_id}")
            page.fill("#officer", "Inspector Chan")
            page.dispatch_event("#officer", "change")
            card.locator(".record-controls[data-record=P-1] select").select_option("hit")
            card.locator(".record-controls[data-record=P-1] input").fill("4000")
            card.locator(".record-controls[data-record=P-2] select").select_option("miss")
            card.locator("button[data-outcome=confirmed]").click()
            card.locator(".decided").wait_for(timeout=10_000)
            assert card.locator(".record-outcomes li[data-record=P-1]").inner_text() == (
                "P-1: hit, HKD 4,000 found"
            )
            assert card.locator(".record-outcomes li[data-record=P-2]").inner_text() == "P-2: no hit"
            assert card.locator(".record-controls").count() == 0  # decided: nothing left to state
            page.screenshot(path=str(tmp_path / "review-cargo.png"), full_page=True)
        finally:
            browser.close()
    wait_for_history(runtime_config, {HARBOUR: (1.0, 1.0, 4000.0), KOWLOON: (1.0, 0.0, 0.0)})
