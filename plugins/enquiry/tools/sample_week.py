"""A week of the demo's simulated questions through the assistant and the analytics plugin, in one process.

``python -m smartcustoms.plugins.enquiry.tools.sample_week [--questions 300] [--seed 7]`` asks the
simulated enquirers' questions (``hardware/sim/enquirers.py``, the demo's phrase banks) on random days of
the week ending 2026-03-08, counts each answer's record as the ``enquiry`` plugin does, on
``MemoryState``, and prints the weekly report: the example in docs/enquiry.md. An offline tool: the
runtime never imports it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
from collections.abc import Sequence

from smartcustoms.core.state import MemoryState
from smartcustoms.hardware.sim.enquirers import question
from smartcustoms.plugins.enquiry import analytics
from smartcustoms.plugins.enquiry.assistant import EnquiryAssistant, enquiry_record

WEEK_END = dt.date(2026, 3, 8)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    assistant = EnquiryAssistant()
    state = MemoryState()
    start = dt.datetime.combine(WEEK_END - dt.timedelta(days=6), dt.time(8), tzinfo=dt.UTC)
    for n in range(args.questions):
        asked_at = start + dt.timedelta(days=rng.randrange(7), minutes=rng.randrange(12 * 60))
        answer = assistant.ask(question(rng))
        record = enquiry_record(answer, f"q{n}", asked_at, channel="robot")
        analytics.record_enquiry(state, record, assistant.threshold)  # what the plugin does per record
    report = analytics.build_report(
        state,
        assistant.knowledge.topics,
        analytics.week_days(WEEK_END),
        lambda q: set(assistant.retriever.analyser.terms(q).words),
        top=5,
    )
    print(analytics.format_report(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
