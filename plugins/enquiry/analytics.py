"""Enquiry analytics: each ``enquiry`` record counted in the plugin's keyed state, and the weekly report.

Keys, all under the ``enquiry`` plugin's state prefix (``day`` is the UTC date the question was asked):

=================================  ==========================================================
key                                what
=================================  ==========================================================
``d:{day}:total``                  questions that day
``d:{day}:topic:{topic}``          by the answering entry's topic (``handover`` when none)
``d:{day}:lang:{language}``        by the question's language
``d:{day}:outcome:{outcome}``      ``answered``, ``low_confidence`` or ``handed_over``
``all:{language}:{outcome}``       running totals (the gateway exports them as a metric)
``all:topic:{topic}``              running totals by topic (exported too)
``q:{day}``                        JSON: the day's handed-over and low-confidence questions
=================================  ==========================================================

Counters move at most once per record id (``apply_once``). The question log of a day is read, merged
and written back: two actors writing the same day's log at the same instant could lose one question's
count until it is asked again (the counters stay exact). The log keeps ``MAX_LOGGED`` questions a day.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from smartcustoms.core.state import PluginState
from smartcustoms.v1 import frame_pb2

LANGUAGES = ("en", "zh-Hant", "zh-Hans", "mixed")
OUTCOMES = ("answered", "low_confidence", "handed_over")
LOW_CONFIDENCE_MARGIN = 0.15  # answered, but within this of the threshold: worth an officer's look
MAX_LOGGED = 500
SEEN_TTL_S = 30 * 86_400.0


def outcome_of(fields: Mapping[str, str], threshold: float) -> str:
    if fields.get("handed_over") == "1":
        return "handed_over"
    confidence = float(fields.get("confidence") or 0.0)
    return "low_confidence" if confidence < threshold + LOW_CONFIDENCE_MARGIN else "answered"


def day_of(fields: Mapping[str, str]) -> str:
    asked = fields.get("asked_at", "")
    try:
        return dt.datetime.fromisoformat(asked).astimezone(dt.UTC).date().isoformat()
    except ValueError:
        return dt.datetime.now(dt.UTC).date().isoformat()


def record_enquiry(state: PluginState, record: frame_pb2.Record, threshold: float) -> bool:
    """Count one enquiry record; False if its id was counted before (a redelivery)."""
    fields = record.fields
    day = day_of(fields)
    language = fields.get("language", "") if fields.get("language") in LANGUAGES else "en"
    outcome = outcome_of(fields, threshold)
    topic = _label(fields.get("topic", "")) or "unknown"
    increments = {
        f"d:{day}:total": 1.0,
        f"d:{day}:topic:{topic}": 1.0,
        f"d:{day}:lang:{language}": 1.0,
        f"d:{day}:outcome:{outcome}": 1.0,
        f"all:{language}:{outcome}": 1.0,
        f"all:topic:{topic}": 1.0,
    }
    if not state.apply_once(f"seen:{record.record_id}", increments, token_ttl_s=SEEN_TTL_S):
        return False
    if outcome != "answered":
        _log_question(state, day, fields, outcome)
    return True


def _label(text: str) -> str:
    return re.sub(r"[^a-z0-9_\-]", "", text.lower())[:40]


def _log_question(state: PluginState, day: str, fields: Mapping[str, str], outcome: str) -> None:
    key = f"q:{day}"
    log: dict[str, dict[str, Any]] = json.loads(state.get(key) or "{}")
    question = " ".join(fields.get("question", "").split()).lower()
    if not question or (question not in log and len(log) >= MAX_LOGGED):
        return
    entry = log.setdefault(question, {"n": 0, "handed_over": 0, "confidence": 1.0, "best": "", "lang": ""})
    entry["n"] += 1
    entry["handed_over"] += outcome == "handed_over"
    entry["confidence"] = min(entry["confidence"], float(fields.get("confidence") or 0.0))
    entry["best"] = fields.get("best_entry_id", "")
    entry["lang"] = fields.get("language", "")
    state.put(key, json.dumps(log, ensure_ascii=False, sort_keys=True))


# --------------------------------------------------------------------------- the report


@dataclass(frozen=True)
class RankedQuestion:
    question: str
    count: int
    handed_over: int
    confidence: float
    best_entry_id: str
    language: str


@dataclass(frozen=True)
class Cluster:
    label: str  # its most shared terms
    questions: tuple[str, ...]
    count: int


@dataclass(frozen=True)
class EnquiryReport:
    days: tuple[str, ...]
    totals: tuple[int, ...]  # per day
    handed_over: tuple[int, ...]  # per day
    topics: Mapping[str, int]
    languages: Mapping[str, int]
    outcomes: Mapping[str, int]
    unanswered: tuple[RankedQuestion, ...]
    low_confidence: tuple[RankedQuestion, ...]
    clusters: tuple[Cluster, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "days": [
                {"day": d, "questions": t, "handed_over": h}
                for d, t, h in zip(self.days, self.totals, self.handed_over, strict=True)
            ],
            "topics": dict(self.topics),
            "languages": dict(self.languages),
            "outcomes": dict(self.outcomes),
            "unanswered": [q.__dict__ for q in self.unanswered],
            "low_confidence": [q.__dict__ for q in self.low_confidence],
            "new_topics": [
                {"label": c.label, "count": c.count, "questions": list(c.questions)} for c in self.clusters
            ],
        }


def week_days(end: dt.date, days: int = 7) -> list[str]:
    return [(end - dt.timedelta(days=n)).isoformat() for n in range(days - 1, -1, -1)]


def build_report(
    state: PluginState,
    topics: Sequence[str],
    days: Sequence[str],
    terms_of: Callable[[str], set[str]],
    *,
    top: int = 10,
) -> EnquiryReport:
    """The report over ``days`` from the plugin's state; ``terms_of`` cuts a question into terms for
    clustering the unanswered ones."""
    topics = [*topics, "handover", "unknown"]
    keys: list[str] = []
    for day in days:
        keys += [f"d:{day}:total", f"d:{day}:outcome:handed_over"]
        keys += [f"d:{day}:topic:{t}" for t in topics] + [f"d:{day}:lang:{lang}" for lang in LANGUAGES]
        keys += [f"d:{day}:outcome:{o}" for o in OUTCOMES]
    values = dict(zip(keys, (_int(v) for v in state.get_many(keys)), strict=True))
    logs = [json.loads(raw) for raw in state.get_many([f"q:{day}" for day in days]) if raw]
    merged = _merge_logs(logs)
    unanswered = _ranked(merged, lambda q: q.handed_over > 0, top)
    low = _ranked(merged, lambda q: q.handed_over == 0, top)
    return EnquiryReport(
        days=tuple(days),
        totals=tuple(values[f"d:{d}:total"] for d in days),
        handed_over=tuple(values[f"d:{d}:outcome:handed_over"] for d in days),
        topics=_summed(values, days, "topic", topics),
        languages=_summed(values, days, "lang", LANGUAGES),
        outcomes=_summed(values, days, "outcome", OUTCOMES),
        unanswered=unanswered,
        low_confidence=low,
        clusters=tuple(cluster_questions([q for q in merged if q.handed_over > 0], terms_of)[:top]),
    )


def _int(raw: str | None) -> int:
    return int(float(raw)) if raw else 0


def _summed(
    values: Mapping[str, int], days: Sequence[str], kind: str, names: Iterable[str]
) -> dict[str, int]:
    counts = {name: sum(values[f"d:{d}:{kind}:{name}"] for d in days) for name in names}
    return {name: n for name, n in sorted(counts.items(), key=lambda item: -item[1]) if n}


def _merge_logs(logs: Sequence[Mapping[str, Mapping[str, Any]]]) -> list[RankedQuestion]:
    merged: dict[str, RankedQuestion] = {}
    for log in logs:
        for question, e in log.items():
            old = merged.get(question)
            merged[question] = RankedQuestion(
                question,
                int(e["n"]) + (old.count if old else 0),
                int(e["handed_over"]) + (old.handed_over if old else 0),
                min(float(e["confidence"]), old.confidence if old else 1.0),
                str(e.get("best", "")),
                str(e.get("lang", "")),
            )
    return list(merged.values())


def _ranked(
    questions: Sequence[RankedQuestion], keep: Callable[[RankedQuestion], bool], top: int
) -> tuple[RankedQuestion, ...]:
    kept = [q for q in questions if keep(q)]
    return tuple(sorted(kept, key=lambda q: (-q.count, q.confidence, q.question))[:top])


def cluster_questions(
    questions: Sequence[RankedQuestion], terms_of: Callable[[str], set[str]], *, similarity: float = 0.25
) -> list[Cluster]:
    """Group questions whose term sets overlap (Jaccard >= ``similarity`` with any member: single
    link), largest group first; each labelled with the terms most of its questions share."""
    terms = [terms_of(q.question) for q in questions]
    parent = list(range(len(questions)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(questions)):
        for j in range(i):
            union = terms[i] | terms[j]
            if union and len(terms[i] & terms[j]) / len(union) >= similarity:
                parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(questions)):
        groups.setdefault(root(i), []).append(i)
    clusters = []
    for members in groups.values():
        shared: Counter[str] = Counter(t for i in members for t in terms[i])
        ranked = sorted(shared.items(), key=lambda item: (-item[1], item[0]))[:3]  # ties by name: stable
        label = " ".join(t for t, n in ranked if n > 1 or len(members) == 1)
        ordered = sorted(members, key=lambda i: -questions[i].count)
        clusters.append(
            Cluster(
                label, tuple(questions[i].question for i in ordered), sum(questions[i].count for i in members)
            )
        )
    return sorted(clusters, key=lambda c: (-c.count, c.label))


def format_report(report: EnquiryReport) -> str:
    """The weekly report as text."""
    lines = [
        f"Enquiries {report.days[0]} to {report.days[-1]}: {sum(report.totals)} questions, "
        f"{sum(report.handed_over)} handed over to officers"
    ]
    lines.append("By day:")
    lines += [
        f"  {d}  {t:5d} questions  {h:4d} handed over"
        for d, t, h in zip(report.days, report.totals, report.handed_over, strict=True)
    ]
    lines.append("Topics: " + (", ".join(f"{t} {n}" for t, n in report.topics.items()) or "none"))
    lines.append("Languages: " + (", ".join(f"{t} {n}" for t, n in report.languages.items()) or "none"))
    lines.append("Outcomes: " + (", ".join(f"{t} {n}" for t, n in report.outcomes.items()) or "none"))
    lines.append("Unanswered (handed over), most asked first:")
    lines += [
        f"  {q.count:4d}x  {q.question}  (nearest entry {q.best_entry_id}, confidence {q.confidence:.2f})"
        for q in report.unanswered
    ] or ["  none"]
    lines.append("Answered with low confidence:")
    lines += [
        f"  {q.count:4d}x  {q.question}  ({q.best_entry_id}, confidence {q.confidence:.2f})"
        for q in report.low_confidence
    ] or ["  none"]
    lines.append("New topics (unanswered questions grouped):")
    lines += [f"  {c.count:4d}x  [{c.label}]  e.g. {c.questions[0]}" for c in report.clusters] or ["  none"]
    return "\n".join(lines)
