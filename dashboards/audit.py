"""The audit trail dashboard: records sealed into the hash chain by kind, the queue the gateway's
auditor has yet to seal, and the last anchored record (docs/audit.md)."""

from __future__ import annotations

from smartcustoms.dashboards.model import COUNT, PER_S, Dashboard, Panel, Query
from smartcustoms.dashboards.overview import CONTROL_POINT_VARIABLE
from smartcustoms.dashboards.promql import CONTROL_POINT, max_by, rate, selector

_CP = (CONTROL_POINT,)

AUDIT = Dashboard(
    uid="smartcustoms-audit",
    title="smartcustoms / Audit trail",
    description="The append-only, hash-chained audit trail: verdicts, adjudications, overrides and "
    "custody events sealed per second, what is still queued, and how far the chain is anchored. "
    "`smartcustoms audit verify` proves the chain; this shows it keeps up.",
    variables=(CONTROL_POINT_VARIABLE,),
    panels=(
        Panel(
            "Records sealed per second by kind",
            "From Redis (the same for every gateway, one copy shown): verdicts, officers' adjudications, "
            "overrides and duty assessments at the desks, evidence custody events.",
            (Query(max_by(("kind",), rate("smartcustoms_audit_records_total", _CP)), "{{kind}}"),),
            PER_S,
            width=12,
        ),
        Panel(
            "Records in the chain by kind",
            "Every record since the chain began.",
            (Query(max_by(("kind",), selector("smartcustoms_audit_records_total", _CP)), "{{kind}}"),),
            COUNT,
            width=12,
        ),
        Panel(
            "Queued, not sealed yet",
            "Events written with their change and waiting for the gateway's auditor. It should stay near "
            "0; growing means the auditor is behind or stopped (records are not lost: they wait).",
            (Query(f"max({selector('smartcustoms_audit_pending', _CP)})", "queued"),),
            COUNT,
            kind="stat",
            width=12,
            thresholds=(("green", None), ("orange", 10_000), ("red", 100_000)),
        ),
        Panel(
            "Last anchored record",
            "The chain head each gateway last wrote to the anchor file (and its log). It moves every "
            "anchor interval while records arrive.",
            (Query(selector("smartcustoms_audit_anchored_seq", _CP), "{{instance}}"),),
            COUNT,
            width=12,
        ),
    ),
)
