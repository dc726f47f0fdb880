"""``smartcustoms eval ask``: registered by ``smartcustoms.runtime.tools_cli``."""

from __future__ import annotations

import argparse
import json
from typing import Any

DEFAULT_GENERATED_SEEDS = (101, 102, 103)
SETS = (  # the gold sets in gold/, and "generated" (noisy variants of heldout)
    "heldout",
    "heldout_b",
    "heldout_c",
    "heldout_d",
    "heldout_e",
    "heldout_f",
    "heldout_g",
    "heldout_h",
    "heldout_i",
    "heldout_j",
    "heldout_k",
    "heldout_l",
    "heldout_m",
    "heldout_n",
    "heldout_o",
    "heldout_p",
    "generated",
    "tuning",
    "tuning_b",
    "tuning_c",
    "tuning_d",
    "tuning_e",
    "tuning_f",
)


def add_tools(eval_kinds: Any, build_targets: Any) -> None:
    """Add ``ask`` to ``smartcustoms eval`` (the enquiry plugin builds no artefact)."""
    evaluate = eval_kinds.add_parser(
        "ask",
        help="the enquiry assistant on held-out gold questions: top-1 per language, confident wrong answers",
        description=(
            "Ask the enquiry assistant the held-out gold questions (written before the retrieval was tuned) "
            "and their seeded noisy variants, and print top-1 accuracy per language and the share of "
            "must-hand-over questions answered with confidence."
        ),
    )
    evaluate.add_argument(
        "--set",
        dest="sets",
        nargs="+",
        choices=SETS,
        default=[
            "heldout",
            "heldout_b",
            "heldout_c",
            "heldout_e",
            "heldout_h",
            "heldout_i",
            "heldout_p",
            "generated",
        ],
        help=(
            "question sets (default heldout heldout_b heldout_c heldout_e heldout_h heldout_i heldout_p"
            " generated; heldout_e, heldout_h, heldout_i and heldout_p were written blind; tuning,"
            " tuning_b, tuning_c, tuning_d, tuning_e, tuning_f, and heldout_d, heldout_f, heldout_g,"
            " heldout_j, heldout_k, heldout_l, heldout_m, heldout_n and heldout_o, each asked once and then"
            " tuned on, are what the retrieval was tuned on)"
        ),
    )
    evaluate.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=list(DEFAULT_GENERATED_SEEDS),
        help="seeds of the generated set",
    )
    evaluate.add_argument("--json", action="store_true", help="print the figures as JSON")
    evaluate.set_defaults(handler=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    from smartcustoms.plugins.enquiry.assistant import EnquiryAssistant
    from smartcustoms.plugins.enquiry.tools import evaluate

    assistant = EnquiryAssistant()
    results: dict[str, Any] = {
        "knowledge_version": assistant.knowledge.version,
        "threshold": assistant.threshold,
    }
    for name in args.sets:
        if name == "generated":
            heldout = evaluate.load_gold("heldout")
            cases = [c for seed in args.seeds for c in evaluate.generated_cases(heldout, seed)]
            label = f"generated (seeds {' '.join(map(str, args.seeds))})"
        else:
            cases = evaluate.load_gold(name)
            label = name
        result = evaluate.summary(evaluate.run(assistant, cases))
        results[name] = result
        if not args.json:
            print(evaluate.format_summary(label, result, assistant.threshold))
    if args.json:
        print(json.dumps(results, indent=2))
    return 0
