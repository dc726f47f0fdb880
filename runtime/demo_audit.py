"""What ``smartcustoms demo`` shows of the audit trail: the demo's records sealed into the chain, the
chain verified against its anchors, and the same check failing, at the record, on a tampered copy."""

from __future__ import annotations

import json
import time

import redis

from smartcustoms.core.audit import AuditTrail, audit_key
from smartcustoms.core.audit_chain import check_chain
from smartcustoms.core.config import Config
from smartcustoms.runtime.auditor import AnchorFile

SETTLE_S = 15.0


def audit_lines(config: Config) -> list[str]:
    """Wait (bounded) for the gateway to seal what the demo queued, then verify the chain and a copy
    with one record changed. Lines to print."""
    with redis.Redis.from_url(config.redis.url, socket_timeout=10.0) as client:
        trail = AuditTrail(client, config.namespace)
        deadline = time.monotonic() + SETTLE_S
        while trail.pending() and time.monotonic() < deadline:
            time.sleep(0.1)  # poll interval, bounded by the deadline
        anchors = AnchorFile(config.audit.anchors_at(config.run_dir)).read()
        checked, breach = check_chain(trail.entries(), anchors)
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(trail.kinds().items()))
        state = "intact" if breach is None else f"BROKEN at {breach}"
        lines = [
            f"audit trail: {checked} records ({kinds}), {trail.pending()} queued; chain {state}; "
            f"{len(anchors)} anchors so far (the last is written as the gateway stops)"
        ]
        if checked:
            lines.append(_tamper_copy(client, trail, checked // 2))
    return lines


def _tamper_copy(client: redis.Redis, trail: AuditTrail, seq: int) -> str:
    """Copy the chain to a scratch namespace, change record ``seq``'s decision there, verify the copy."""
    scratch = f"{trail.namespace}-tamper-demo"
    copy = audit_key(scratch, "log")
    client.delete(copy)
    for start in range(0, trail.length(), 5000):
        batch = client.lrange(audit_key(trail.namespace, "log"), start, start + 4999)
        if batch:
            client.rpush(copy, *batch)
    record = json.loads(client.lindex(copy, seq))  # type: ignore[arg-type]  # bytes from redis-py
    record["body"]["tampered"] = True
    client.lset(copy, seq, json.dumps(record))
    _, breach = check_chain(AuditTrail(client, scratch).entries())
    client.delete(copy)
    return f"  tamper check: record {seq} changed in a copy -> verify says: {breach}"
