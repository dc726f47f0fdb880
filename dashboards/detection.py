"""The detection dashboard: what the detectors find, by class, and what officers make of it."""

from __future__ import annotations

from smartcustoms.dashboards.model import COUNT, PER_S, RATIO, Dashboard, Panel, Query, Variable
from smartcustoms.dashboards.overview import CONTROL_POINT_VARIABLE, MODALITY_VARIABLE
from smartcustoms.dashboards.promql import CONTROL_POINT, MODALITY, max_by, selector, sum_by, sum_rate

LABEL_VARIABLE = Variable("label", "Class", "smartcustoms_detections_total")
_FILTERS = (CONTROL_POINT, MODALITY, 'label=~"$label"')
_ADJUDICATED = "smartcustoms_alerts_adjudicated"
_SHADOW_AGREEMENT = "smartcustoms_shadow_agreement_total"
_SHADOW_ADJUDICATED = "smartcustoms_shadow_adjudicated"


def _decided(outcome: str) -> str:
    return max_by(
        ("label",), selector(_ADJUDICATED, (CONTROL_POINT, 'label=~"$label"', f'outcome="{outcome}"'))
    )


def _shadow_agreement(outcomes: str) -> str:
    filters = (CONTROL_POINT, 'label=~"$label"', f'outcome=~"{outcomes}"')
    return sum_rate(_SHADOW_AGREEMENT, ("plugin", "label"), filters)


def _shadow_scored(outcomes: str) -> str:
    filters = (CONTROL_POINT, 'label=~"$label"', f'outcome=~"{outcomes}"')
    return sum_by(
        ("plugin", "label"), max_by(("plugin", "label", "outcome"), selector(_SHADOW_ADJUDICATED, filters))
    )


DETECTION = Dashboard(
    uid="smartcustoms-detection",
    title="smartcustoms / Detection",
    description="Detections by class and plugin, alarms by modality, officers' confirmed and cleared alerts, "
    "and shadow-mode plugins scored against both.",
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
        Panel(
            "Shadow plugins: agreement with the live plugins, by class",
            "Share of the frames where a shadow-mode plugin or the live plugins it is compared with found a "
            "class on which both found it. A candidate model runs in shadow mode on live traffic without "
            "changing any verdict; switch it on when this and its precision and recall hold up.",
            (
                Query(
                    f"{_shadow_agreement('both')} / {_shadow_agreement('both|shadow_only|live_only')}",
                    "{{plugin}} {{label}}",
                ),
            ),
            RATIO,
        ),
        Panel(
            "Shadow plugins: decisions agreeing with the live verdict",
            "Share of the frames a shadow-mode plugin assessed on which its alarm-or-clear decision was "
            "the live plugins' (those it is compared with).",
            (
                Query(
                    sum_rate(
                        "smartcustoms_shadow_frames_total", ("plugin",), (CONTROL_POINT, 'agreement="agree"')
                    )
                    + " / "
                    + sum_rate("smartcustoms_shadow_frames_total", ("plugin",), (CONTROL_POINT,)),
                    "{{plugin}}",
                ),
            ),
            RATIO,
        ),
        Panel(
            "Shadow plugins against officers: precision and recall, by class",
            "Scored on alerts officers decided. Precision: confirmed classes the shadow plugin found over "
            "every class it found on decided alerts; recall: confirmed classes it found over every "
            "confirmed class. Alerts come from the live plugins only, so frames only the shadow plugin "
            "alarmed on are not in these figures.",
            (
                Query(
                    f"{_shadow_scored('true_positive')} / {_shadow_scored('true_positive|false_positive')}",
                    "precision {{plugin}} {{label}}",
                ),
                Query(
                    f"{_shadow_scored('true_positive')} / {_shadow_scored('true_positive|false_negative')}",
                    "recall {{plugin}} {{label}}",
                ),
            ),
            RATIO,
        ),
        Panel(
            "Liquor duty desk: officers' overrides per label database entry",
            "Recognised bottles officers corrected at the liquor duty desk, by the database entry the label "
            "was matched to and the reason (wrong product, ABV or volume, a receipt's value, not liquor). "
            "Entries that keep coming back need better photos or facts (`smartcustoms library add liquor`).",
            (
                Query(
                    max_by(
                        ("catalogue_id", "reason"),
                        selector("smartcustoms_liquor_overrides_total", (CONTROL_POINT,)),
                    ),
                    "{{catalogue_id}} {{reason}}",
                ),
            ),
            COUNT,
        ),
    ),
)
