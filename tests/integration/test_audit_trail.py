"""The audit trail on the running product: verdicts and adjudications sealed by the gateway, anchored
when it stops, ``smartcustoms audit verify`` passing on the real chain and failing, at the record, on one
changed behind the system's back; a case exported and checked offline."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
import redis

from smartcustoms.core.audit import AuditTrail, audit_key
from smartcustoms.core.config import Config
from smartcustoms.hardware.sdk.client import OK, send_all
from smartcustoms.runtime import cli
from smartcustoms.runtime.report import scrape, total
from smartcustoms.runtime.stack import Stack
from smartcustoms.runtime.testing import only_plugins
from smartcustoms.v1 import frame_pb2, results_pb2, review_pb2, review_pb2_grpc

pytestmark = pytest.mark.integration

FOREIGN_TAG = "E2801160600002054CC2C7A5"  # not an EPC-96: rfid_epc_check alarms
EVIDENCE_TAG = "3074257BF7194E4000001A85"  # an SGTIN-96: clear


def _rfid(frame_id: str, sequence: int, epc: str) -> frame_pb2.Frame:
    reads = frame_pb2.RfidReadBatch(reads=[frame_pb2.RfidRead(epc_hex=epc)])
    return frame_pb2.Frame(
        frame_id=frame_id,
        source_id="vault-reader",
        modality=frame_pb2.MODALITY_RFID,
        sequence=sequence,
        encoding="protobuf",
        payload=reads.SerializeToString(),
    )


def _wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)  # poll interval, bounded by the deadline


def _audit(config_path: Path, *argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        cli.main(["--config", str(config_path), "audit", *argv])
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def test_verdicts_and_decisions_are_chained_anchored_and_tampering_is_named(
    runtime_config: Config,
    start_stack: Callable[..., Stack],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    runtime_config.audit.anchor_interval_s = 0.5
    stack = start_stack(only_plugins(runtime_config, "rfid_epc_check"))
    frames = [_rfid("tag-alarm", 1, FOREIGN_TAG), _rfid("tag-clear", 2, EVIDENCE_TAG)]
    assert [a.code for a in asyncio.run(send_all(stack.gateway_target, frames))] == [OK, OK]
    client = redis.Redis.from_url(runtime_config.redis.url)
    trail = AuditTrail(client, runtime_config.namespace)
    _wait_for(lambda: trail.length() >= 2, "two verdicts in the audit trail")
    with grpc.insecure_channel(stack.gateway_target) as channel:
        review_pb2_grpc.ReviewServiceStub(channel).Adjudicate(
            review_pb2.AdjudicateRequest(
                frame_id="tag-alarm", outcome=results_pb2.ADJUDICATION_OUTCOME_CONFIRMED, officer="PO 4411"
            ),
            timeout=5,
        )
    _wait_for(lambda: trail.length() >= 3, "the adjudication in the audit trail")
    trail.append("custody", {"case": "SC-2026-0042", "action": "deposit", "epc": EVIDENCE_TAG})
    metrics = scrape(stack.metrics_urls[0])
    assert total(metrics, "smartcustoms_audit_records_total", kind="verdict") == 2
    assert total(metrics, "smartcustoms_audit_records_total", kind="adjudication") == 1
    stack.stop()  # the gateway seals what is queued and anchors the head as it stops

    records = [json.loads(raw) for raw in trail.entries()]
    by_frame = {r["body"]["frame_id"]: r for r in records if r["kind"] == "verdict"}
    alarm = by_frame["tag-alarm"]["body"]
    assert alarm["decision"] == "DECISION_ALARM"
    (epc_check,) = [r for r in alarm["results"] if r["plugin"] == "rfid_epc_check"]
    assert epc_check["decision"] == "DECISION_ALARM" and epc_check["version"]
    assert len(alarm["config_hash"]) == 64
    assert [r["body"]["officer"] for r in records if r["kind"] == "adjudication"] == ["PO 4411"]
    anchors = Path(runtime_config.run_dir, "audit-anchors.jsonl").read_text().splitlines()
    assert json.loads(anchors[-1])["seq"] == len(records) - 1

    config_path = Path(runtime_config.run_dir) / "config.json"
    code, out, _ = _audit(config_path, "verify", capsys=capsys)
    assert code == 0 and out.startswith(f"audit trail intact: {len(records)} records")
    proof_path = tmp_path / "case.json"
    code, out, _ = _audit(
        config_path, "export", "--case", "SC-2026-0042", "--out", str(proof_path), capsys=capsys
    )
    assert code == 0, out
    code, out, _ = _audit(config_path, "check-export", str(proof_path), capsys=capsys)
    assert code == 0 and out.startswith("proof intact: case SC-2026-0042, 1 records")

    changed = by_frame["tag-alarm"] | {"body": alarm | {"decision": "DECISION_CLEAR"}}
    client.lset(audit_key(runtime_config.namespace, "log"), changed["seq"], json.dumps(changed))
    code, _, err = _audit(config_path, "verify", capsys=capsys)
    assert code == 1
    assert err.startswith(f"audit trail BROKEN at record {changed['seq']}: changed")
    code, _, err = _audit(config_path, "export", "--case", "SC-2026-0042", capsys=capsys)
    assert code == 1 and "broken at record" in err
    client.close()
