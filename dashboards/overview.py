"""The overview dashboard: what a control point's supervisor looks at first."""

from __future__ import annotations

from smartcustoms.dashboards.model import (
    COUNT,
    FRAMES_PER_S,
    PER_S,
    SECONDS,
    Dashboard,
    Panel,
    Query,
    Variable,
)
from smartcustoms.dashboards.promql import CONTROL_POINT, MODALITY, max_by, quantile, selector, sum_rate

CONTROL_POINT_VARIABLE = Variable(
    "control_point", "Control point", "smartcustoms_conservation_imbalance_frames"
)
MODALITY_VARIABLE = Variable("modality", "Modality", "smartcustoms_ingest_frames_accepted_total")
PERCENTILES = (0.5, 0.95, 0.99)

_CP = (CONTROL_POINT,)
_CP_MODALITY = (CONTROL_POINT, MODALITY)


def latency_percentiles(
    histogram: str, by: tuple[str, ...] = (), filters: tuple[str, ...] = _CP_MODALITY
) -> tuple[Query, ...]:
    """p50, p95 and p99 of a histogram, one series each (per group ``by``)."""
    prefix = "".join(f"{{{{{label}}}}} " for label in by)
    return tuple(
        Query(quantile(q, histogram, by, filters), f"{prefix}p{round(q * 100)}") for q in PERCENTILES
    )


OVERVIEW = Dashboard(
    uid="smartcustoms-overview",
    title="smartcustoms / Overview",
    description="Frames in, verdicts out, end-to-end latency and the ledger's conservation law.",
    variables=(CONTROL_POINT_VARIABLE, MODALITY_VARIABLE),
    panels=(
        Panel(
            "Frames accepted per second by control point and modality",
            "Frames the gateway made durable and acknowledged OK. The control_point label comes from "
            "the Prometheus scrape configuration (a target label), not from the metric itself.",
            (
                Query(
                    sum_rate(
                        "smartcustoms_ingest_frames_accepted_total",
                        ("control_point", "modality"),
                        _CP_MODALITY,
                    ),
                    "{{control_point}} {{modality}}",
                ),
            ),
            FRAMES_PER_S,
        ),
        Panel(
            "End-to-end latency (accepted to verdict stored)",
            "Percentiles of the time from the gateway's acceptance of a frame to its verdict being stored "
            "(smartcustoms_frame_latency_seconds), over Grafana's rate interval.",
            latency_percentiles("smartcustoms_frame_latency_seconds"),
            SECONDS,
        ),
        Panel(
            "Frames per second at each checkpoint",
            "Accepted at the gateway, consumed by the workers, verdicts stored by the sink. In a healthy "
            "pipeline the three lines lie on top of each other; a gap that persists is a backlog.",
            (
                Query(sum_rate("smartcustoms_ingest_frames_accepted_total", (), _CP_MODALITY), "accepted"),
                Query(sum_rate("smartcustoms_stream_frames_total", (), _CP_MODALITY), "consumed"),
                Query(sum_rate("smartcustoms_sink_verdicts_total", (), _CP_MODALITY), "verdicts stored"),
            ),
            FRAMES_PER_S,
        ),
        Panel(
            "Verdicts per second by decision",
            "Verdicts stored, one per frame: clear, alarm, or manual_inspection (which includes every "
            "fallback).",
            (
                Query(
                    sum_rate("smartcustoms_sink_verdicts_total", ("decision",), _CP_MODALITY), "{{decision}}"
                ),
            ),
            FRAMES_PER_S,
        ),
        Panel(
            "Alerts per second by decision",
            "Alerts raised for officers (alarms and manual inspections), by modality and decision.",
            (
                Query(
                    sum_rate("smartcustoms_alerts_total", ("modality", "decision"), _CP_MODALITY),
                    "{{modality}} {{decision}}",
                ),
            ),
            PER_S,
        ),
        Panel(
            "Fallbacks per second by reason",
            "Frames sent to manual inspection because the system could not decide: a plugin failed, no "
            "plugin consumes the modality, the payload was gone, or redelivery was exhausted.",
            (Query(sum_rate("smartcustoms_fallbacks_total", ("reason",), _CP_MODALITY), "{{reason}}"),),
            FRAMES_PER_S,
        ),
        Panel(
            "Conservation: accepted = verdict + fallback + in flight",
            "The ledger's counts in Redis, read at scrape time by every gateway (max over gateways of a "
            "control point). accepted must always equal verdict + fallback + in_flight.",
            (
                Query(
                    max_by(("control_point", "state"), selector("smartcustoms_conservation_frames", _CP)),
                    "{{control_point}} {{state}}",
                ),
            ),
            COUNT,
            width=16,
        ),
        Panel(
            "Conservation imbalance",
            "accepted - verdict - fallback - in_flight, per gateway. Anything but 0 means a frame was lost "
            "or counted twice: see the SmartcustomsConservationImbalance alert.",
            (
                Query(
                    selector("smartcustoms_conservation_imbalance_frames", _CP),
                    "{{control_point}} {{instance}}",
                ),
            ),
            COUNT,
            kind="stat",
            width=8,
            thresholds=(("red", None), ("green", -0.5), ("red", 0.5)),
        ),
        Panel(
            "Gauges read from Redis",
            "Per gateway and collector: 1 when it read Redis at the last scrape, 0 when Redis did not "
            "answer (its gauges, the conservation counts among them, are stale until it does).",
            (
                Query(
                    selector("smartcustoms_redis_collector_up", _CP),
                    "{{instance}} {{collector}}",
                ),
            ),
            COUNT,
        ),
        Panel(
            "Service restarts",
            "Services `smartcustoms up` found dead and restarted, by service (in the last hour). A service "
            "that dies more often than its budget (supervisor.budget per supervisor.window_s) stops `up`.",
            (Query(f"increase({selector('smartcustoms_service_restarts_total', _CP)}[1h])", "{{service}}"),),
            COUNT,
        ),
    ),
)
