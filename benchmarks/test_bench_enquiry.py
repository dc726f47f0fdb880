"""The enquiry assistant (issue 14): questions answered per second on one core, beside the bare BM25
scoring of the same questions' terms.

- framework path: ``EnquiryAssistant.ask`` (check the input, tell the language, convert and cut the
  Chinese, correct and stem the English, three BM25 fields, the confidence, the answer in its language);
- bare baseline: the three fields' ``Bm25.scores`` on the same questions' terms, analysed beforehand.

Questions: the held-out gold questions (135, both languages and the must-hand-over ones). Nothing asserts
a time; the figures are printed with the machine. Run alone:
``.venv/bin/pytest benchmarks/test_bench_enquiry.py -p no:cacheprovider -s``.
"""

from __future__ import annotations

import time
from typing import Any

from benchkit.machine import describe, format_description

from smartcustoms.plugins.enquiry.assistant import EnquiryAssistant
from smartcustoms.plugins.enquiry.tools.evaluate import load_gold

ROUNDS = 5


def test_questions_answered_per_second(benchmark: Any) -> None:
    assistant = EnquiryAssistant()
    questions = [case.question for case in load_gold("heldout")]
    retriever = assistant.retriever
    terms = [retriever.terms(q) for q in questions]

    def framework() -> int:
        return sum(not assistant.ask(q).handed_over for q in questions)

    def bare() -> int:
        for t in terms:
            retriever.words.scores(t.words)
            retriever.chars.scores(t.chars)
            retriever.questions.scores(t.words + t.chars)
        return len(terms)

    framework_s, bare_s = [], []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        bare()
        bare_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        framework()
        framework_s.append(time.perf_counter() - started)
    benchmark.pedantic(framework, rounds=1, iterations=1)
    figures = {
        "questions": len(questions),
        "questions_per_s": round(len(questions) / min(framework_s), 1),
        "bare_scoring_per_s": round(len(questions) / min(bare_s), 1),
        "ms_per_question": round(1000 * min(framework_s) / len(questions), 2),
    }
    benchmark.extra_info.update({**figures, "machine": describe()})
    print()
    print("\n".join(format_description(describe())))
    print(
        f"enquiry: {figures['questions_per_s']:,} questions/s answered "
        f"({figures['ms_per_question']} ms each), "
        f"bare BM25 scoring of the same terms {figures['bare_scoring_per_s']:,}/s"
    )
