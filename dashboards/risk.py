"""The risk-on-records dashboard: what the risk plugins score, what they select against their budget,
and how often officers confirm what they selected."""

from __future__ import annotations

from smartcustoms.dashboards.model import COUNT, RATIO, Dashboard, Panel, Query, Variable
from smartcustoms.dashboards.overview import CONTROL_POINT_VARIABLE
from smartcustoms.dashboards.promql import CONTROL_POINT, PLUGIN, max_by, quantile, selector, sum_by, sum_rate

RISK_PLUGIN_VARIABLE = Variable("plugin", "Risk plugin", "smartcustoms_records_scored_total")
KIND_VARIABLE = Variable("kind", "Record kind", "smartcustoms_records_scored_total")
KIND = 'kind=~"$kind"'
RECORDS_PER_S = "suffix: records/s"
SCORE = "none"  # a probability in [0, 1], not a share of anything

# Each built-in risk plugin's budget as shipped: (inspect_share, exploration_share), the defaults of its
# settings (tests/dashboards check them against the plugins). The budget is configuration, not a metric:
# the panels show the selected shares, and their descriptions name the budget to read them against.
DEFAULT_BUDGETS = {"cargo_risk": (0.02, 0.002), "vehicle_risk": (0.05, 0.005)}

_FILTERS = (CONTROL_POINT, PLUGIN, KIND)
_SCORED = "smartcustoms_records_scored_total"
_SELECTED = "smartcustoms_records_selected_total"
_ADJUDICATED = "smartcustoms_record_alerts_adjudicated"


def _budgets(share: int) -> str:
    """The shipped budgets as text: ``share`` 0 is inspect_share, 1 exploration_share."""
    return ", ".join(f"{plugin} {budget[share]:.1%}" for plugin, budget in sorted(DEFAULT_BUDGETS.items()))


def _selected_share(reasons: str) -> str:
    """Records selected for ``reasons`` over records scored, per plugin."""
    selected = sum_rate(_SELECTED, ("plugin",), (*_FILTERS, f'reason=~"{reasons}"'))
    return f"{selected} / {sum_rate(_SCORED, ('plugin',), _FILTERS)}"


def _adjudicated(outcomes: str, by: tuple[str, ...]) -> str:
    """Record alerts officers decided, one copy of the gateways' shared counts, summed per ``by``."""
    filters = (CONTROL_POINT, PLUGIN, f'outcome=~"{outcomes}"')
    return sum_by(by, max_by(("plugin", "selection", "outcome"), selector(_ADJUDICATED, filters)))


def _confirmed_share(by: tuple[str, ...]) -> str:
    return f"{_adjudicated('confirmed', by)} / {_adjudicated('confirmed|cleared', by)}"


RISK = Dashboard(
    uid="smartcustoms-risk",
    title="smartcustoms / Risk on records",
    description="Risk plugins on record frames (cargo declarations, vehicle crossings): records scored, "
    "selections against each plugin's inspection budget, exploration picks, the score distribution and "
    "the share of selections officers confirmed.",
    variables=(CONTROL_POINT_VARIABLE, RISK_PLUGIN_VARIABLE, KIND_VARIABLE),
    panels=(
        Panel(
            "Records scored per second by plugin and kind",
            "Records of record frames each risk plugin scored (from the frames' record_count), shadow-mode "
            "plugins under their own name.",
            (Query(sum_rate(_SCORED, ("plugin", "kind"), _FILTERS), "{{plugin}} {{kind}}"),),
            RECORDS_PER_S,
        ),
        Panel(
            "Selected share of scored records, against the budget",
            "Records selected for inspection over records scored. Read it against the plugin's budget, "
            "its inspect_share plus exploration_share settings (configuration, not a metric; as shipped "
            f"inspect_share is {_budgets(0)} and exploration_share {_budgets(1)}); vehicle_risk also "
            "selects every watchlisted crossing. 'by score' should sit near inspect_share: the budget's "
            "threshold follows the running quantile of recent scores, so a lasting gap means the score "
            "distribution moved faster than the threshold.",
            (
                Query(_selected_share("score|exploration|watchlist"), "{{plugin}} all"),
                Query(_selected_share("score"), "{{plugin}} by score"),
            ),
            RATIO,
        ),
        Panel(
            "Exploration share",
            "Random exploration picks (kept so officers' outcomes cover records the model would pass) over "
            f"records scored, against exploration_share (as shipped {_budgets(1)}), and over all "
            "selections.",
            (
                Query(_selected_share("exploration"), "{{plugin}} of scored"),
                Query(
                    sum_rate(_SELECTED, ("plugin",), (*_FILTERS, 'reason="exploration"'))
                    + " / "
                    + sum_rate(_SELECTED, ("plugin",), _FILTERS),
                    "{{plugin}} of selected",
                ),
            ),
            RATIO,
        ),
        Panel(
            "Records selected per second by reason, and partial ones",
            "Selections by why: score (above the budget's threshold), exploration (a random pick) or "
            "watchlist (an officers' entry). Partial: selected records missing fields the model reads, "
            "scored from what was there.",
            (
                Query(sum_rate(_SELECTED, ("plugin", "reason"), _FILTERS), "{{plugin}} {{reason}}"),
                Query(
                    sum_rate("smartcustoms_records_selected_partial_total", ("plugin",), _FILTERS),
                    "{{plugin}} partial",
                ),
            ),
            RECORDS_PER_S,
        ),
        Panel(
            "Top record score per frame (p50, p95)",
            "Each record frame's highest record score, per plugin. A shift with an unchanged flow means "
            "the model or its inputs drifted; the budget's threshold follows it.",
            tuple(
                Query(
                    quantile(q, "smartcustoms_record_risk_score", ("plugin",), (CONTROL_POINT, PLUGIN)),
                    f"{{{{plugin}}}} p{round(q * 100)}",
                )
                for q in (0.5, 0.95)
            ),
            SCORE,
        ),
        Panel(
            "Confirmed share of adjudicated selections",
            "Officers' decisions on alerts the plugin's selections raised: confirmed over confirmed plus "
            "cleared, per plugin, and by what the selections rest on (exploration: random picks only, "
            "the hit rate among records the model would pass). An officer decides on the alert of a "
            "frame, so every selection of that frame shares its outcome.",
            (
                Query(_confirmed_share(("plugin",)), "{{plugin}}"),
                Query(_confirmed_share(("plugin", "selection")), "{{plugin}} {{selection}}"),
            ),
            RATIO,
        ),
        Panel(
            "Record alerts officers confirmed and cleared",
            "Alerts on record frames officers decided, per plugin, selection basis and outcome (alert "
            "review page, ReviewService or `smartcustoms adjudicate`).",
            (
                Query(
                    _adjudicated("confirmed|cleared", ("plugin", "selection", "outcome")),
                    "{{plugin}} {{selection}} {{outcome}}",
                ),
            ),
            COUNT,
        ),
    ),
)
