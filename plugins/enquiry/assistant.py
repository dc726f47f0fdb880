"""The assistant: a question in, an answer (or a hand-over to an officer) out, and its record.

``EnquiryAssistant.ask`` checks the question (``text.check_question``: one ``QuestionError`` per kind of
bad input), tells its language, retrieves the best entry, and answers in the language asked for (by
default the question's own: English in English, any Chinese in Traditional Chinese) when the
confidence reaches the threshold; below it, the answer is the hand-over message and ``handed_over`` is
true. ``enquiry_record`` turns an answer into the ``enquiry`` record the analytics plugin reads.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from smartcustoms.plugins.enquiry.knowledge import KnowledgeBase, load_knowledge
from smartcustoms.plugins.enquiry.retrieval import RetrievalSettings, Retriever
from smartcustoms.plugins.enquiry.text import (
    ANSWER_LANGUAGES,
    EN,
    UNKNOWN_LANGUAGE,
    QuestionError,
    answer_language,
    check_question,
    detect_language,
)
from smartcustoms.v1 import frame_pb2

ENQUIRY_KIND = "enquiry"
HANDOVER_TOPIC = "handover"
HANDOVER_MESSAGE = {
    EN: "I cannot answer this one with confidence, so an officer will help you: your question has been"
    " passed on. You can also ask any Customs officer at the counter.",
    "zh-Hant": "這個問題我未能準確回答,已轉交關員跟進。你亦可向櫃檯的任何海關人員查詢。",
}


@dataclass(frozen=True)
class Answer:
    question: str
    language: str  # the question's: en, zh-Hant, zh-Hans, mixed
    answer_language: str  # en or zh-Hant
    text: str
    source: str
    entry_id: str  # "" when handed over
    topic: str  # the entry's topic, or "handover"
    confidence: float
    handed_over: bool
    best_entry_id: str  # the best entry even when handed over (analytics: what it nearly answered)
    knowledge_version: str

    def as_json(self) -> dict[str, Any]:
        """The CLI's and the page's answer: ``answer``, ``source``, ``confidence``, ``handed_over``, and
        the details beside them."""
        return {
            "answer": self.text,
            "source": self.source,
            "confidence": self.confidence,
            "handed_over": self.handed_over,
            "entry_id": self.entry_id,
            "language": self.language,
            "answer_language": self.answer_language,
            "knowledge_version": self.knowledge_version,
        }


class EnquiryAssistant:
    """One knowledge base and its index per hosting process."""

    def __init__(
        self, knowledge: KnowledgeBase | None = None, settings: RetrievalSettings | None = None
    ) -> None:
        self.knowledge = knowledge or load_knowledge()
        self.retriever = Retriever(self.knowledge, settings)

    @property
    def threshold(self) -> float:
        return self.retriever.settings.threshold

    def ask(self, question: object, language: str | None = None) -> Answer:
        """The answer to ``question``; QuestionError for bad input or an unknown ``language``."""
        if language and language not in ANSWER_LANGUAGES:
            raise QuestionError(f"answers are in {' or '.join(ANSWER_LANGUAGES)}, not {language!r}")
        text = check_question(question)
        detected = detect_language(text)
        analyser = self.retriever.analyser
        if detected == EN and not analyser.reads_english(text) and not analyser.out_of_scope(text):
            raise QuestionError(UNKNOWN_LANGUAGE)  # "hello" is English the knowledge base has no word of
        reply_in = language or answer_language(detected)
        match = self.retriever.best(text)
        confident = match.confidence >= self.threshold
        entry = match.entry
        return Answer(
            question=text,
            language=detected,
            answer_language=reply_in,
            text=entry.answer(reply_in) if confident else HANDOVER_MESSAGE[reply_in],
            source=entry.source(reply_in) if confident else "",
            entry_id=entry.entry_id if confident else "",
            topic=entry.topic if confident else HANDOVER_TOPIC,
            confidence=match.confidence,
            handed_over=not confident,
            best_entry_id=entry.entry_id,
            knowledge_version=self.knowledge.version,
        )


def enquiry_record(
    answer: Answer, record_id: str, asked_at: dt.datetime, *, channel: str = "api", session_id: str = ""
) -> frame_pb2.Record:
    """The ``enquiry`` record of one answered (or handed-over) question."""
    fields: Mapping[str, str] = {
        "question": answer.question,
        "language": answer.language,
        "answer_language": answer.answer_language,
        "entry_id": answer.entry_id,
        "best_entry_id": answer.best_entry_id,
        "topic": answer.topic,
        "confidence": f"{answer.confidence:.4f}",
        "handed_over": "1" if answer.handed_over else "0",
        "knowledge_version": answer.knowledge_version,
        "channel": channel or "api",
        "session_id": session_id,
        "asked_at": asked_at.astimezone(dt.UTC).isoformat(timespec="seconds"),
    }
    return frame_pb2.Record(record_id=record_id, kind=ENQUIRY_KIND, fields=fields)


__all__ = ["ENQUIRY_KIND", "Answer", "EnquiryAssistant", "QuestionError", "enquiry_record"]
