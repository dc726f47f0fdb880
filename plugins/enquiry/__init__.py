"""The enquiry plugin package: the bilingual enquiry assistant and the analytics of its questions.

Runtime modules: ``knowledge`` (the knowledge base in ``knowledge_base/*.toml``, answers rendered from
``facts``, which takes the duty code's figures), ``text`` (bad input, language, segmentation),
``retrieval`` (BM25 and the confidence), ``assistant`` (a question to an answer or a hand-over, and its
record), ``analytics`` and ``plugin`` (the ``enquiry`` hook class counting the records on the stream).
``gold/`` holds the evaluation questions and ``tools/`` the evaluation; the runtime never imports them.
"""

from __future__ import annotations

from smartcustoms.plugins.enquiry.assistant import ENQUIRY_KIND, Answer, EnquiryAssistant, enquiry_record
from smartcustoms.plugins.enquiry.plugin import EnquiryAnalyticsPlugin
from smartcustoms.plugins.enquiry.text import QuestionError

__all__ = [
    "ENQUIRY_KIND",
    "Answer",
    "EnquiryAnalyticsPlugin",
    "EnquiryAssistant",
    "QuestionError",
    "enquiry_record",
]
