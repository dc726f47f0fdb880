"""The detection dashboard: what the detectors find, by class, and what officers make of it."""

from __future__ import annotations

from smartcustoms.dashboards.model import COUNT, PER_S, RATIO, Dashboard, Panel, Query, Variable
from smartcustoms.dashboards.overview import CONTROL_POINT_VARIABLE, MODALITY_VARIABLE
from smartcustoms.dashboards.promql import CONTROL_POINT, MODALITY, max_by, selector, sum_rate

LABEL_VARIABLE = Variable("label", "Class", "smartcustoms_detections_total")
_FILTERS = (CONTROL_POINT, MODALITY, 'label=~"$label"')
_ADJUDICATED = "smartcustoms_alerts_adjudicated"


def _decided(outcome: str) -> str:
    return max_by(
        ("label",), selector(_ADJUDICATED, (CONTROL_POINT, 'label=~"$label"', f'outcome="{outcome}"'))
    )


DETECTION = Dashboard(
    uid="smartcustoms-detection",
    title="smartcustoms / Detection",
    description="Detections by class and plugin, alarms by modality, officers' confirmed and cleared alerts.",
    variables=(CONTROL_POINT_VARIABLE, MODALITY_VARIABLE, LABEL_VARIABLE),
    panels=(
        Panel(
            "Detections per second by class",
            "Detections in stored verdicts, by class (a firearm, a dense object, a hidden compartment, a "
            "foreign tag ...) and the plugin that made them.",
            (
                Query(
                    sum_rate("smartcustoms_detections_total", ("label", "plugin"), _FILTERS),
                    "{{label}} ({{plugin}})",
                ),
            ),
            PER_S,
        ),
        Panel(
            "Alerts per second by modality and decision",
            "Alarms and manual inspections raised for officers.",
            (
                Query(
                    sum_rate(
                        "smartcustoms_alerts_total", ("modality", "decision"), (CONTROL_POINT, MODALITY)
                    ),
                    "{{modality}} {{decision}}",
                ),
            ),
            PER_S,
        ),
        Panel(
            "Alerts officers confirmed and cleared, by class",
            "Officers' decisions on alerts (alert review page, ReviewService or `smartcustoms adjudicate`): "
            "confirmed is a true alarm, cleared a false one. Counted per detected class; an alert "
            "without detections counts under its decision.",
            (
                Query(
                    max_by(("label", "outcome"), selector(_ADJUDICATED, (CONTROL_POINT, 'label=~"$label"'))),
                    "{{label}} {{outcome}}",
                ),
            ),
            COUNT,
        ),
        Panel(
            "False-alarm share of decided alerts, by class",
            "Cleared over confirmed plus cleared: how often officers found nothing where the system "
            "alarmed. Watch it after a model or threshold change.",
            (
                Query(
                    f"{_decided('cleared')} / ({_decided('cleared')} + {_decided('confirmed')})",
                    "{{label}}",
                ),
            ),
            RATIO,
        ),
    ),
)
