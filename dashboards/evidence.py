"""The evidence store dashboard: alerts by kind and undecodable tag reads.

The counts are the evidence locator's, kept in Redis and exported by every gateway (one copy shown);
``smartcustoms evidence stocktake`` and the ``/evidence`` page show the items behind them
(docs/evidence.md)."""

from __future__ import annotations

from smartcustoms.dashboards.model import COUNT, PER_S, Dashboard, Panel, Query
from smartcustoms.dashboards.promql import max_by, rate, selector

_ALERTS = "smartcustoms_evidence_alerts_total"
_UNDECODABLE = "smartcustoms_evidence_undecodable_reads_total"

EVIDENCE = Dashboard(
    uid="smartcustoms-evidence",
    title="smartcustoms / Evidence store",
    description="Seized items located by RFID: alerts where the reads contradict the chain of custody, and "
    "tag reads that do not decode.",
    variables=(),  # the store's counts carry no control point
    panels=(
        Panel(
            "Evidence alerts per second by kind",
            "wrong_zone: an item held by a zone it is not expected in; not_read: an item expected in a "
            "storage zone that no reader has held for the window; exit_unapproved: an item at release "
            "without an approved retrieval; unknown_tag: an unregistered tag in a storage zone.",
            (Query(max_by(("kind",), rate(_ALERTS)), "{{kind}}"),),
            PER_S,
        ),
        Panel(
            "Evidence alerts by kind, since the counts began",
            "Each alert is raised once per episode: an item back where it belongs can raise it again.",
            (Query(max_by(("kind",), selector(_ALERTS)), "{{kind}}"),),
            COUNT,
        ),
        Panel(
            "Undecodable tag reads per second",
            "Reads whose EPC is not an SGTIN-96, GRAI-96 or GIAI-96 (blank, foreign or damaged tags): "
            "counted and never located; rfid_epc_check alarms on each.",
            (Query(f"max({rate(_UNDECODABLE)})", "undecodable"),),
            PER_S,
        ),
    ),
)
