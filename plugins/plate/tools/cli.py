"""``smartcustoms eval plates``: the plate reader on held-out simulated frames.

``add_tools`` adds the ``plates`` kind to ``smartcustoms eval`` (``evaluate``); the plate reader builds
no artefact, so nothing is added to ``smartcustoms library build``. The tools and the simulator are
imported only when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from smartcustoms.plugins.plate.tools import DEVELOPMENT_SEEDS, EVALUATION_COUNT, EVALUATION_SEED


def add_tools(eval_kinds: Any, build_targets: Any) -> None:
    """Add ``plates`` to the sub-parsers of ``smartcustoms eval``."""
    evaluate = eval_kinds.add_parser(
        "plates",
        help="licence plate reading on simulated lane camera frames: exact plates, characters, by light",
        description=(
            "Generate simulated vehicle lane camera frames (Hong Kong and Guangdong plates; day, dusk, "
            "night, infrared) from a seed the reader was not developed on "
            f"(not {DEVELOPMENT_SEEDS.start}-{DEVELOPMENT_SEEDS.stop - 1}), read them with the plate_reader "
            "plugin and score exact-plate and character accuracy against the simulator's truth."
        ),
    )
    evaluate.add_argument(
        "--count", type=int, default=EVALUATION_COUNT, help=f"frames (default {EVALUATION_COUNT})"
    )
    evaluate.add_argument(
        "--seed",
        type=int,
        default=EVALUATION_SEED,
        help=f"held-out simulator seed (default {EVALUATION_SEED})",
    )
    evaluate.add_argument("--json", action="store_true", help="print the figures as JSON")
    evaluate.set_defaults(handler=cmd_eval_plates)


def cmd_eval_plates(args: argparse.Namespace) -> int:
    """``smartcustoms eval plates``: a development seed, a bad count or no OCR engine exits 2."""
    from smartcustoms.plugins.plate.ocr import OcrUnavailable
    from smartcustoms.plugins.plate.tools import evaluate

    try:
        evaluate.check_seed(args.seed, args.count)
    except ValueError as error:
        print(f"smartcustoms eval plates: {error}", file=sys.stderr)
        return 2
    try:
        report = evaluate.evaluate(args.count, args.seed)
    except OcrUnavailable as error:
        print(f"smartcustoms eval plates: {error}", file=sys.stderr)
        return 2
    print(evaluate.report_json(report) if args.json else evaluate.format_report(report))
    return 0
