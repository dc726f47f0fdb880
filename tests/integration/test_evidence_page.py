"""The evidence store through the running gateway: an officer registers a seized item on the page
(the EPC encoded for the tag writer) and deposits it; the service refuses a retrieval by one officer;
the CLI locates and counts; every custody step is in the audit trail under the item's case."""

from __future__ import annotations

import shutil

import grpc
import pytest
import redis

from smartcustoms.core.audit import AuditTrail
from smartcustoms.core.epc import encode_sgtin96
from smartcustoms.runtime.cli import main
from smartcustoms.runtime.stack import Stack
from smartcustoms.v1 import evidence_pb2, evidence_pb2_grpc

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium")
CASE = "HK-2025-0042"


@pytest.fixture
def gateway(gateway_alone: Stack) -> Stack:
    """The gateway alone (the evidence service and page live there), in a namespace of its own."""
    return gateway_alone


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (scripts/setup installs it)")
def test_an_item_is_registered_deposited_located_and_its_custody_audited(
    gateway: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=20_000)  # a loaded 2-core machine: a step may take seconds
    epc = encode_sgtin96("4891234", "100005", 77)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(gateway.review_url.rstrip("/") + "/evidence")
            page.fill("#reg-case", CASE)
            page.fill("#reg-description", "cash, HKD 2.3 million in a suitcase")
            page.fill("#reg-officer", "Inspector Chan")
            page.fill("#reg-prefix", "4891234")
            page.fill("#reg-reference", "100005")
            page.fill("#reg-serial", "77")
            page.click("#register button")
            expect(page.locator("#reg-result")).to_have_text(
                f"registered {epc} (urn:epc:id:sgtin:4891234.100005.77); write to tag: {epc}"
            )
            page.click("#register button")
            expect(page.locator("#reg-result")).to_have_text(f"EPC {epc} is registered already")
            page.select_option("#ord-action", "deposit")
            page.fill("#ord-epc", epc)
            page.fill("#ord-officer1", "Inspector Chan")
            page.fill("#ord-zone", "vault-b")
            page.fill("#ord-reason", "seized at Lok Ma Chau")
            page.click("#order button")
            expect(page.locator("#ord-result")).to_have_text(
                f"deposit applied: {epc} is stored, expected in vault-b"
            )
            page.fill("#loc-value", CASE)
            page.click("#locate button")
            row = page.locator(f"#loc-rows tr[data-epc='{epc}']")
            expect(row).to_contain_text("vault-b")
            page.click("#stocktake button")
            expect(page.locator("#st-rows tr[data-zone='vault-b']")).to_contain_text(
                epc
            )  # expected, not read
            expect(page.locator("#st-undecodable")).to_have_text("undecodable tag reads so far: 0")
        finally:
            browser.close()

    with grpc.insecure_channel(gateway.gateway_target) as channel:
        stub = evidence_pb2_grpc.EvidenceServiceStub(channel)  # type: ignore[no-untyped-call]  # generated
        one_officer = evidence_pb2.WorkOrder(
            action="retrieval", epc_hex=epc, officers=["Inspector Chan"], reason="trial", purpose="court"
        )
        with pytest.raises(grpc.RpcError) as refused:
            stub.SubmitOrder(one_officer, timeout=10)
        assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert "two-person rule" in str(refused.value.details())
        suggestion = stub.SuggestSlot(evidence_pb2.SuggestSlotRequest(case_number=CASE, size=1), timeout=10)
        assert suggestion.slot.startswith("vault-")

    config_path = str(gateway.run_dir / "config.json")
    capsys.readouterr()
    for argv, code in (
        (
            [
                "evidence",
                "order",
                "retrieval",
                epc,
                "--officer",
                "Chan",
                "--officer",
                "Lee",
                "--reason",
                "trial",
                "--purpose",
                "court",
            ],
            0,
        ),
        (["evidence", "locate", "--case", CASE], 0),
        (["evidence", "stocktake", "--zone", "vault-b"], 0),
        (["evidence", "order", "return", "E2801160", "--officer", "Chan", "--reason", "x"], 1),
    ):
        with pytest.raises(SystemExit) as done:
            main(["--config", config_path, *argv])
        assert done.value.code == code, argv
    out, err = capsys.readouterr()
    assert f"retrieval applied: {epc} is out, expected in release" in out
    assert "undecodable tag reads so far: 0" in out
    assert err.splitlines() == [
        "smartcustoms evidence: FAILED_PRECONDITION: EPC 'E2801160' does not decode: "
        + err.split("does not decode: ", 1)[1].splitlines()[0]
    ]

    client = redis.Redis.from_url(gateway.config.redis.url)
    try:
        trail = AuditTrail(client, gateway.config.namespace)
        kinds = [trail.record(seq).kind for seq in trail.case_seqs(CASE)]  # type: ignore[union-attr]
    finally:
        client.close()
    assert kinds == ["evidence_registered", "evidence_deposit", "evidence_retrieval"]
