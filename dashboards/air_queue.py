"""The air cargo queue dashboard: queue length, counters open, waits, and predicted against actual call
times (the queue model beside the naive baseline). The figures come from Redis at scrape time, the same
from every gateway, so each panel takes one copy (max)."""

from __future__ import annotations

from smartcustoms.dashboards.model import COUNT, PER_S, SECONDS, Dashboard, Panel, Query
from smartcustoms.dashboards.overview import CONTROL_POINT_VARIABLE
from smartcustoms.dashboards.promql import CONTROL_POINT, max_by, rate, selector

_CP = (CONTROL_POINT,)
_WAITING = "smartcustoms_air_queue_waiting"
_FIRST_CALLS = "smartcustoms_air_queue_first_calls_total"
_WAIT = "smartcustoms_air_queue_wait_seconds_total"
_PREDICTED_WAIT = "smartcustoms_air_queue_predicted_wait_seconds_total"
_PREDICTED = "smartcustoms_air_queue_predicted_total"
_ERROR = "smartcustoms_air_queue_prediction_error_seconds_total"
_EVENTS = "smartcustoms_air_queue_events_total"


def _per(numerator: str, denominator: str, by: tuple[str, ...] = ()) -> str:
    """Mean per ticket over the rate window: 0, not NaN, while no ticket was called."""
    top = max_by(by, rate(numerator, _CP)) if by else f"max({rate(numerator, _CP)})"
    bottom = max_by(by, rate(denominator, _CP)) if by else f"max({rate(denominator, _CP)})"
    return f"{top} / clamp_min({bottom}, 1e-9)"


AIR_QUEUE = Dashboard(
    uid="smartcustoms-air-queue",
    title="smartcustoms / Air cargo queue",
    description="The air cargo clearance queue: tickets waiting by cargo type, counters open, waits to "
    "the first call, and the call times predicted when tickets were issued against when they were called, "
    "for the queue model and the naive baseline (place x mean occupancy / open counters).",
    variables=(CONTROL_POINT_VARIABLE,),
    panels=(
        Panel(
            "Tickets waiting by cargo type",
            "Tickets in the queue now, by cargo type (perishables, dangerous goods and express go first as "
            "configured).",
            (Query(max_by(("cargo_type",), selector(_WAITING, _CP)), "{{cargo_type}}"),),
            COUNT,
            width=16,
        ),
        Panel(
            "Counters open",
            "Collection counters open now.",
            (Query(f"max({selector('smartcustoms_air_queue_counters_open', _CP)})", "open"),),
            COUNT,
            kind="stat",
            width=8,
        ),
        Panel(
            "Waits: mean to first call, and the longest waiting now",
            "Mean wait from ticket to first call over the window (0 while nobody was called), and how long "
            "the longest-waiting ticket has waited so far.",
            (
                Query(_per(_WAIT, _FIRST_CALLS), "mean wait to first call"),
                Query(
                    f"max({selector('smartcustoms_air_queue_oldest_wait_seconds', _CP)})",
                    "longest waiting now",
                ),
            ),
            SECONDS,
        ),
        Panel(
            "Predicted against actual wait",
            "Over the tickets first called in the window: their mean actual wait, and the mean wait each "
            "predictor gave them when they were issued. The model should follow the actual line; the naive "
            "baseline ignores priorities, occupancies by cargo type and counter, and no-shows.",
            (
                Query(_per(_WAIT, _FIRST_CALLS), "actual"),
                Query(_per(_PREDICTED_WAIT, _PREDICTED, ("predictor",)), "predicted ({{predictor}})"),
            ),
            SECONDS,
        ),
        Panel(
            "Prediction error (mean absolute)",
            "Mean |predicted - actual first call time| per predictor over the window (smartcustoms eval "
            "queue gives MAE and P90 on simulated days).",
            (Query(_per(_ERROR, _PREDICTED, ("predictor",)), "{{predictor}}"),),
            SECONDS,
        ),
        Panel(
            "Queue events per second",
            "Every change of the queue is a record on the stream (air_queue_event): tickets issued, called, "
            "served, cancelled, no-shows, rejoins, set-off notices, counters opened and closed.",
            (Query(max_by(("event",), rate(_EVENTS, _CP)), "{{event}}"),),
            PER_S,
        ),
    ),
)
