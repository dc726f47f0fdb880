"""The intelligence dashboard: online IPR monitoring and customs crime analytics.

Counts read from Redis and exported by every gateway (one copy shown): listings flagged with their
evidence frozen in the audit trail, IPR cases, and crime analytics' records and trend alerts. The
``/crime`` page and the review page show what is behind them (docs/ipr.md, docs/crime.md)."""

from __future__ import annotations

from smartcustoms.dashboards.model import COUNT, PER_S, Dashboard, Panel, Query
from smartcustoms.dashboards.promql import rate

_FLAGGED = "smartcustoms_ipr_listings_flagged_total"
_CASES = "smartcustoms_ipr_cases"
_RECORDS = "smartcustoms_crime_records_total"
_TRENDS = "smartcustoms_crime_trend_alerts"

INTELLIGENCE = Dashboard(
    uid="smartcustoms-intelligence",
    title="smartcustoms / Intelligence",
    description="Online IPR monitoring (listings flagged, cases) and crime analytics (records held, "
    "series out of their band).",
    variables=(),  # counts of the namespace: no control point
    panels=(
        Panel(
            "Listings flagged per second",
            "Online listings the IPR monitor flagged as counterfeit or pirated, each frozen with its text, "
            "image hashes and metadata into the audit trail at the moment of detection.",
            (Query(f"max({rate(_FLAGGED)})", "flagged"),),
            PER_S,
        ),
        Panel(
            "IPR cases",
            "Flagged listings grouped into cases by linked seller accounts (shared phones, payment ids, "
            "near-identical texts, reused images).",
            (Query(f"max({_CASES})", "cases"),),
            COUNT,
        ),
        Panel(
            "Crime analytics records per second",
            "Case files, news items and social posts taken into the link graph.",
            (Query(f"max({rate(_RECORDS)})", "records"),),
            PER_S,
        ),
        Panel(
            "Crime trend alerts",
            "Weekly series by commodity, route, method and place that left their seasonal band, by "
            "direction: a rise (a new route, a spike at one place) or a drop over four closed weeks; "
            "the /crime page lists each with the cases behind it.",
            (Query(f"max by (direction) ({_TRENDS})", "{{direction}}"),),
            COUNT,
        ),
    ),
)
