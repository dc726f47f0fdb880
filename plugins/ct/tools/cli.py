"""``smartcustoms eval ct``: the CT detector on a held-out simulated set, or on a site's labelled volumes
(``--data DIR``).

``add_tools`` adds the ``ct`` kind to ``smartcustoms eval`` (the CT detector has nothing to build). The
evaluation and the simulator are imported only when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from smartcustoms.plugins.ct.tools import ALT_COUNT, ALT_SEED, EVALUATION_COUNT, EVALUATION_SEED


def add_tools(eval_kinds: Any, build_targets: Any) -> None:
    """Add ``ct`` to the sub-parsers of ``smartcustoms eval``."""
    del build_targets  # no reference data to build
    evaluate = eval_kinds.add_parser(
        "ct",
        help="the CT detector on simulated bags: PD per class, false alarms per bag, mAP@0.5",
        description=(
            "Generate simulated CT volumes from a seed never used to set the thresholds (every fifth bag "
            "clean, else firearm, knife, explosive and cigarettes in turn), run the ct_detector plugin on "
            "each and score it against the simulator's truth."
        ),
    )
    evaluate.add_argument(
        "--count",
        type=int,
        help=f"volumes (default {EVALUATION_COUNT}; {ALT_COUNT} with --generator alt)",
    )
    evaluate.add_argument(
        "--seed",
        type=int,
        help=f"held-out simulator seed (default {EVALUATION_SEED}; {ALT_SEED} with --generator alt)",
    )
    evaluate.add_argument(
        "--generator",
        choices=("sim", "alt"),
        default="sim",
        help="'sim': the project's simulator (default); 'alt': the independent generator ct_alt, never "
        "used to set a threshold (the cross-simulator check)",
    )
    evaluate.add_argument(
        "--data",
        metavar="DIR",
        help="a site's labelled volumes instead: DICOS CT or .npy with a COCO-style annotations.json of 3D "
        "boxes (docs/formats.md)",
    )
    evaluate.set_defaults(handler=cmd_eval_ct)


def cmd_eval_ct(args: argparse.Namespace) -> int:
    """``smartcustoms eval ct``: seeds used to set the thresholds are refused (exit 2)."""
    from smartcustoms.plugins.ct.tools import evaluate

    try:
        if args.data and (args.generator != "sim" or args.seed is not None or args.count is not None):
            raise ValueError(
                "--data DIR is a source of its own: --generator, --seed and --count do not apply"
            )
        count, seed = count_and_seed(args)
        if args.data:
            report = evaluate.evaluate_data(args.data)
        elif args.generator == "alt":
            report = evaluate.evaluate_alt(count, seed)
        else:
            evaluate.check_seed(seed, count)
            report = evaluate.evaluate(count, seed)
    except (ValueError, OSError, RuntimeError) as error:  # dataset.DataError; a threat that fits no bag
        print(f"smartcustoms eval ct: {error}", file=sys.stderr)
        return 2
    print(evaluate.format_report(report))
    return 0


def count_and_seed(args: argparse.Namespace) -> tuple[int, int]:
    """The volumes and the seed to evaluate: as given, else the generator's defaults."""
    count, seed = (ALT_COUNT, ALT_SEED) if args.generator == "alt" else (EVALUATION_COUNT, EVALUATION_SEED)
    return (count if args.count is None else args.count), (seed if args.seed is None else args.seed)
