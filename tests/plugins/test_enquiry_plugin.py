"""The enquiry plugin: knowledge base, language and bad input, retrieval, records and analytics."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from smartcustoms.core import duty
from smartcustoms.core.frames import inline_view
from smartcustoms.core.plugin import PluginContext
from smartcustoms.core.state import MemoryState
from smartcustoms.plugins.enquiry import analytics, facts
from smartcustoms.plugins.enquiry.assistant import (
    ENQUIRY_KIND,
    HANDOVER_MESSAGE,
    Answer,
    EnquiryAssistant,
    enquiry_record,
)
from smartcustoms.plugins.enquiry.knowledge import (
    KnowledgeError,
    default_folder,
    load_knowledge,
    template_names,
)
from smartcustoms.plugins.enquiry.plugin import EnquiryAnalyticsPlugin
from smartcustoms.plugins.enquiry.text import QuestionError, check_question, detect_language
from smartcustoms.plugins.enquiry.tools import evaluate
from smartcustoms.runtime.enquiry import record_frame
from smartcustoms.v1 import frame_pb2

ASKED_AT = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def assistant() -> EnquiryAssistant:
    return EnquiryAssistant()


def test_every_entry_has_both_languages_a_source_and_no_unfilled_template() -> None:
    knowledge = load_knowledge()
    assert 40 <= len(knowledge.entries) <= 60
    for entry in knowledge.entries:
        assert entry.questions_en and entry.questions_zh and entry.section_en and entry.section_zh
        for text in (entry.answer_en, entry.answer_zh):
            assert "{" not in text and "}" not in text, entry.entry_id
        assert re.search(r"[\u4e00-\u9fff]", entry.answer_zh) and not re.search(
            r"[\u4e00-\u9fff]", entry.answer_en
        )


def test_no_figure_is_typed_into_an_answer_template() -> None:
    """Digits in a template are only those that are not facts (dates, statute hours): every allowance
    and rate is a {name}."""
    figures = facts.facts()
    for path in default_folder().glob("*.toml"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("answer_"):
                assert template_names(line) <= set(figures)
                for typed in ("120,000", "1,000,000", "HK$200", "HK$160", "19 cigarettes", "19支"):
                    assert typed not in line, (path.name, typed)


def test_answers_quote_the_duty_code_figures() -> None:
    knowledge = load_knowledge()
    rate = knowledge.entry("duty-liquor-rate").answer_en
    example = duty.bottle_duty(duty.LiquorItem.of(40, 700, 500))
    assert f"HK${example.duty_hkd.normalize():f}" in rate
    assert f"first HK${duty.FULL_RATE_BAND_HKD}" in rate
    liquor = knowledge.entry("allowance-liquor")
    assert f"{duty.TRAVELLER_ALLOWANCE_LITRES} litre" in liquor.answer_en
    assert f"{duty.TRAVELLER_ALLOWANCE_LITRES}公升" in liquor.answer_zh
    assert "HK$120,000" in knowledge.entry("currency-threshold").answer_en


def test_a_template_naming_an_unknown_figure_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(
        'section_en = "A"\nsection_zh = "甲"\n[[entry]]\nid = "x-1"\nquestions_en = ["q"]\n'
        'questions_zh = ["問"]\nanswer_en = "{no_such_figure} litres"\nanswer_zh = "答"\n',
        encoding="utf-8",
    )
    with pytest.raises(KnowledgeError, match="no_such_figure"):
        load_knowledge(tmp_path)


@pytest.mark.parametrize(
    ("question", "language"),
    [
        ("How much whisky can I bring?", "en"),
        ("可以帶幾多支煙入境?", "zh-Hant"),
        ("带多少现金入境需要申报", "zh-Hans"),
        ("帶whisky入境有冇allowance", "mixed"),
        ("香港", "zh-Hant"),  # the same in both scripts: Hong Kong's
    ],
)
def test_language_detection(question: str, language: str) -> None:
    assert detect_language(check_question(question)) == language


@pytest.mark.parametrize(
    ("question", "error"),
    [
        ("", "empty"),
        ("   \n ", "empty"),
        ("x" * 501, "501 characters long"),
        (b"\xff\xfe\x00\x01", "binary"),
        ("abc\x00def", "control or binary"),
        ("Сколько водки можно ввезти?", "language"),
        ("12345 ?!", "language"),
        (42, "must be text"),
    ],
)
def test_bad_questions_each_have_one_clear_error(question: object, error: str) -> None:
    with pytest.raises(QuestionError, match=error):
        check_question(question)


def test_latin_letters_that_are_not_english_are_an_unknown_language(assistant: EnquiryAssistant) -> None:
    with pytest.raises(QuestionError, match="language the assistant does not read"):
        assistant.ask("Combien?")
    assert assistant.ask("cigarete allowence").language == "en"


def test_simplified_is_answered_in_traditional_with_the_source(assistant: EnquiryAssistant) -> None:
    answer = assistant.ask("带多少现金入境需要申报")
    assert (answer.language, answer.answer_language, answer.entry_id) == (
        "zh-Hans",
        "zh-Hant",
        "currency-threshold",
    )
    assert "港幣120,000元" in answer.text and answer.source == "申報貨幣及不記名可轉讓票據"
    assert not answer.handed_over and answer.confidence >= assistant.threshold


def test_the_answer_language_can_be_chosen(assistant: EnquiryAssistant) -> None:
    answer = assistant.ask("currency declaration form", "zh-Hant")
    assert answer.answer_language == "zh-Hant" and "紅色通道" in answer.text
    with pytest.raises(QuestionError, match="not 'fr'"):
        assistant.ask("currency", "fr")


def test_an_off_topic_question_is_handed_over(assistant: EnquiryAssistant) -> None:
    answer = assistant.ask("Where can I buy a SIM card for my phone tonight?")
    assert answer.handed_over and answer.entry_id == "" and answer.source == ""
    assert answer.text == HANDOVER_MESSAGE["en"] and answer.topic == "handover"
    assert answer.as_json().keys() >= {"answer", "source", "confidence", "handed_over"}


def test_typos_and_paraphrases_reach_the_entry(assistant: EnquiryAssistant) -> None:
    assert assistant.ask("how many cigarets can I bring").best_entry_id == "allowance-tobacco"
    assert assistant.ask("電子煙係咪犯法").best_entry_id == "prohibited-e-cigarettes"


def _record(
    question: str, confidence: float, handed_over: bool, record_id: str, best: str = ""
) -> frame_pb2.Record:
    topic = "handover" if handed_over else best.split("-")[0]
    entry_id = "" if handed_over else best
    answer = Answer(question, "en", "en", "text", "", entry_id, topic, confidence, handed_over, best, "v1")
    return enquiry_record(answer, record_id, ASKED_AT, channel="robot")


def test_the_plugin_counts_each_record_once_and_the_report_ranks_and_groups() -> None:
    state = MemoryState()
    plugin = EnquiryAnalyticsPlugin({}, PluginContext(name="enquiry", state=state))
    records = [
        _record("what is the weather tomorrow", 0.05, True, "r1", "allowance-age"),
        _record("weather forecast for tomorrow", 0.07, True, "r2", "allowance-age"),
        _record("what is the weather tomorrow", 0.05, True, "r3", "allowance-age"),
        _record("where to buy a sim card", 0.02, True, "r4", "duty-payment"),
        _record("cash limit", 0.3, False, "r5", "currency-threshold"),
        _record("cash limit please", 0.9, False, "r6", "currency-threshold"),
    ]
    frame = record_frame(records[0])
    frames = [inline_view(record_frame(r)) for r in records]
    assert [a.decision.value for a in plugin.smartcustoms_process_batch(frames)] == ["clear"] * 6
    assert plugin.count(inline_view(frame)) == 0  # a redelivered record changes nothing
    day = ASKED_AT.date().isoformat()
    assert state.get(f"d:{day}:total") == "6"
    assert state.get("all:en:handed_over") == "4" and state.get("all:en:low_confidence") == "1"
    report = analytics.build_report(state, ["currency"], [day], lambda q: set(q.split()))
    assert report.totals == (6,) and report.handed_over == (4,)
    assert report.unanswered[0].question == "what is the weather tomorrow" and report.unanswered[0].count == 2
    assert [q.question for q in report.low_confidence] == ["cash limit"]
    assert report.clusters[0].count == 3 and "weather" in report.clusters[0].label
    text = analytics.format_report(report)
    assert "6 questions, 4 handed over" in text and "what is the weather tomorrow" in text
    json.dumps(report.as_json())


def test_record_frames_route_to_the_plugin() -> None:
    record = _record("q", 0.5, False, "r9", "duty-payment")
    frame = record_frame(record)
    assert frame.metadata["record_kind"] == ENQUIRY_KIND and frame.frame_id == "r9"
    assert EnquiryAnalyticsPlugin.spec.record_kinds == {ENQUIRY_KIND}


def test_the_evaluation_generator_is_seeded_and_keeps_the_expected_entries() -> None:
    heldout = evaluate.load_gold("heldout")
    first, again = evaluate.generated_cases(heldout, 5), evaluate.generated_cases(heldout, 5)
    assert first == again and len(first) > len(heldout)
    assert {c.expect for c in first} <= {c.expect for c in heldout}
    tuning = {c.question for c in evaluate.load_gold("tuning")}
    assert not tuning & {c.question for c in heldout}
