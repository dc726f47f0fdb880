"""The conveyances dashboard: one decision per conveyance (the fusion stage), its outcomes, its
latency from the first frame, and its conservation law."""

from __future__ import annotations

from smartcustoms.dashboards.model import COUNT, PER_S, SECONDS, Dashboard, Panel, Query
from smartcustoms.dashboards.overview import CONTROL_POINT_VARIABLE, PERCENTILES
from smartcustoms.dashboards.promql import CONTROL_POINT, max_by, quantile, selector, sum_rate

_CP = (CONTROL_POINT,)

CONVEYANCES = Dashboard(
    uid="smartcustoms-conveyances",
    title="smartcustoms / Conveyances",
    description="One decision per conveyance (vehicle crossing, container, bag) from every verdict that "
    "names it: CLEAR, INSPECT or HOLD, what made each decision, how long it took, and the conservation "
    "law opened = decided + timed out + open.",
    variables=(CONTROL_POINT_VARIABLE,),
    panels=(
        Panel(
            "Conveyances by state",
            "From Redis, the same for every gateway (one copy shown). opened must always equal decided + "
            "timed_out + open (still in their window); reopened counts late frames that re-opened a "
            "decided conveyance.",
            (Query(max_by(("state",), selector("smartcustoms_conveyances", _CP)), "{{state}}"),),
            COUNT,
            width=16,
        ),
        Panel(
            "Conveyance imbalance",
            "opened - decided - timed_out - open. Anything but 0 means a conveyance was lost or decided "
            "twice.",
            (Query(f"max({selector('smartcustoms_conveyance_imbalance', _CP)})", "imbalance"),),
            COUNT,
            kind="stat",
            width=8,
            thresholds=(("red", None), ("green", -0.5), ("red", 0.5)),
        ),
        Panel(
            "First decisions by outcome",
            "Conveyances cleared, sent to inspection or held by their first decision within the window "
            "(those whose window closed with expected parts missing are counted as timed out).",
            (Query(max_by(("outcome",), selector("smartcustoms_conveyances_decided", _CP)), "{{outcome}}"),),
            COUNT,
        ),
        Panel(
            "Decisions per second by outcome and trigger",
            "Every decision version: complete (every expected part arrived), window (the window closed), "
            "timeout (it closed with parts missing: INSPECT), late (a frame after the decision).",
            (
                Query(
                    sum_rate("smartcustoms_conveyance_decisions_total", ("outcome", "trigger"), _CP),
                    "{{outcome}} {{trigger}}",
                ),
            ),
            PER_S,
        ),
        Panel(
            "Frames joined to conveyances per second",
            "Verdicts that named a conveyance, by modality: in its window, or late (re-opening it).",
            (
                Query(
                    sum_rate("smartcustoms_conveyance_frames_total", ("modality", "arrival"), _CP),
                    "{{modality}} {{arrival}}",
                ),
            ),
            PER_S,
        ),
        Panel(
            "Decision latency: first frame to first decision",
            "From the gateway accepting a conveyance's first frame to its first decision: about "
            "fusion.window_s unless every expected part arrived sooner.",
            tuple(
                Query(
                    quantile(q, "smartcustoms_conveyance_decision_latency_seconds", (), _CP), f"p{q * 100:g}"
                )
                for q in PERCENTILES
            ),
            SECONDS,
        ),
    ),
)
