"""What the runtime tells of IPR monitoring: the demo's line, from the audit trail and the plugin's state.

Every flagged listing is an ``evidence_capture`` record of the audit trail under its IPR case
(``audit:case:IPR-...``); the line counts them and the cases, and names the case with most listings.
"""

from __future__ import annotations

import redis

from smartcustoms.core.audit import audit_key

__all__ = ["ipr_line"]

EVIDENCE_KIND = "evidence_capture"  # the plugin's audit record kind (smartcustoms.plugins.ipr)


def ipr_line(redis_url: str, namespace: str) -> str:
    """``ipr: N listings flagged (evidence captured) in M cases; largest CASE (K listings)``."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        captured = int(client.hget(audit_key(namespace, "kinds"), EVIDENCE_KIND) or 0)
        prefix = audit_key(namespace, "case", "")
        cases = {key[len(prefix) :]: 0 for key in client.scan_iter(match=prefix + "IPR-*", count=1000)}
        for case in cases:
            cases[case] = int(client.zcard(prefix + case))
    finally:
        client.close()
    largest = max(cases.items(), key=lambda item: item[1], default=("-", 0))
    return (
        f"ipr: {captured} listings flagged, evidence captured in the audit trail, in {len(cases)} cases; "
        f"largest {largest[0]} ({largest[1]} listings)"
    )
