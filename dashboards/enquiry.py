"""The enquiry assistant dashboard: questions by language and outcome, the hand-over share, topics.

The counts are the enquiry plugin's, kept in Redis and exported by every gateway (one copy shown);
``smartcustoms report enquiries`` lists the questions behind them (docs/enquiry.md)."""

from __future__ import annotations

from smartcustoms.dashboards.model import COUNT, PER_S, RATIO, Dashboard, Panel, Query
from smartcustoms.dashboards.overview import CONTROL_POINT_VARIABLE
from smartcustoms.dashboards.promql import CONTROL_POINT, max_by, rate, selector

_CP = (CONTROL_POINT,)
_ASKED = "smartcustoms_enquiries_total"
_TOPICS = "smartcustoms_enquiry_topic_questions_total"


def _share(outcome: str) -> str:
    """Questions of one outcome over all questions, per language."""
    part = max_by(("language",), rate(_ASKED, (*_CP, f'outcome="{outcome}"')))
    return f"{part} / clamp_min({max_by(('language',), rate(_ASKED, _CP))}, 1e-9)"  # 0, not NaN, when idle


ENQUIRY = Dashboard(
    uid="smartcustoms-enquiry",
    title="smartcustoms / Enquiry assistant",
    description="Questions to the bilingual enquiry assistant (robots at control points, the web chat): "
    "how many, in which language, answered or handed over to an officer, and about what.",
    variables=(CONTROL_POINT_VARIABLE,),
    panels=(
        Panel(
            "Questions per second by language",
            "Counted by the enquiry plugin from the enquiry records on the stream: en, zh-Hant, zh-Hans "
            "(answered in Traditional) and mixed English-Chinese.",
            (Query(max_by(("language",), rate(_ASKED, _CP)), "{{language}}"),),
            PER_S,
        ),
        Panel(
            "Handed-over share by language",
            "Questions below the confidence threshold, passed to an officer instead of answered. A rising "
            "share means people ask what the knowledge base does not cover: see the weekly report's "
            "unanswered questions and new topics.",
            (Query(_share("handed_over"), "{{language}} handed over"),),
            RATIO,
        ),
        Panel(
            "Low-confidence share by language",
            "Answered, but within 0.15 of the threshold: answers worth an officer's look.",
            (Query(_share("low_confidence"), "{{language}} low confidence"),),
            RATIO,
        ),
        Panel(
            "Questions by topic",
            "Every question since the counts began, by the topic of the entry that answered it (handover: "
            "none did).",
            (Query(max_by(("topic",), selector(_TOPICS, _CP)), "{{topic}}"),),
            COUNT,
        ),
    ),
)
