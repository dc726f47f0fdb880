"""The screening dashboard: how well screeners find threats projected into live bags (threat image
projection), how fast they answer, and how often they call a threat on a bag without one.

The counts are kept in Redis since screening began and exported by every gateway (one copy shown);
the screening page shows the same table (docs/screening.md)."""

from __future__ import annotations

from smartcustoms.dashboards.model import COUNT, PER_S, RATIO, SECONDS, Dashboard, Panel, Query, Variable
from smartcustoms.dashboards.overview import CONTROL_POINT_VARIABLE
from smartcustoms.dashboards.promql import CONTROL_POINT, max_by, selector, sum_by, sum_rate

_ANSWERS = "smartcustoms_screening_answers_total"
_SECONDS = "smartcustoms_screening_response_seconds_total"
_BAGS = "smartcustoms_screening_bags_total"
_BY = ("officer", "threat_class")
_FILTERS = (CONTROL_POINT, 'officer=~"$officer"', 'threat_class=~"$threat_class"')
OFFICER_VARIABLE = Variable("officer", "Officer", _ANSWERS)
CLASS_VARIABLE = Variable("threat_class", "Threat class", _ANSWERS)


def _answers(results: str, by: tuple[str, ...] = _BY) -> str:
    """Answers of the ``results`` (a regular expression), one gateway's copy, summed into ``by``."""
    one_copy = max_by((*_BY, "result"), selector(_ANSWERS, (*_FILTERS, f'result=~"{results}"')))
    return sum_by(by, one_copy)


def _share(part: str, whole: str, by: tuple[str, ...] = _BY) -> str:
    return f"{_answers(part, by)} / clamp_min({_answers(whole, by)}, 1)"


SCREENING = Dashboard(
    uid="smartcustoms-screening",
    title="smartcustoms / Screening",
    description="Screeners tested with threat images projected into live X-ray bags: hit rates and "
    "response times per officer and threat class, false alarms on bags without a projection.",
    variables=(CONTROL_POINT_VARIABLE, OFFICER_VARIABLE, CLASS_VARIABLE),
    panels=(
        Panel(
            "Hit rate on projected threats, by officer and class",
            "Projected threats the screener called and marked on the threat, over every projected threat "
            "they answered (a call marked elsewhere counts as a miss).",
            (Query(_share("hit", "hit|miss|wrong_place"), "{{officer}} {{threat_class}}"),),
            RATIO,
        ),
        Panel(
            "Mean response time, by officer and class",
            "Seconds from the bag shown to the answer, averaged over the answers (class none: bags "
            "without a projection).",
            (
                Query(
                    f"{max_by(_BY, selector(_SECONDS, _FILTERS))} / clamp_min({_answers('.+')}, 1)",
                    "{{officer}} {{threat_class}}",
                ),
            ),
            SECONDS,
        ),
        Panel(
            "False-alarm share on bags without a projection, by officer",
            "Bags shown as scanned that the screener called a threat. The bag may hold a real one: the "
            "call is recorded, the verdict is not changed.",
            (Query(_share("false_alarm", "false_alarm|clear", ("officer",)), "{{officer}}"),),
            RATIO,
        ),
        Panel(
            "Bags put before screeners per second, by outcome",
            "The stream workers' count of screened lanes' X-ray bags: queued as scanned or with a threat "
            "projected, skipped while the renderer was busy with earlier bags (a lane faster than the "
            "workers render: screen a share of its lanes), or failed (the worker's log says why).",
            (Query(sum_rate(_BAGS, ("outcome",), (CONTROL_POINT,)), "{{outcome}}"),),
            PER_S,
        ),
        Panel(
            "Answers by result",
            "Every answer since screening began: hit, miss and wrong_place on projected threats, "
            "false_alarm and clear on bags without one.",
            (Query(_answers(".+", (*_BY, "result")), "{{officer}} {{threat_class}} {{result}}"),),
            COUNT,
        ),
    ),
)
