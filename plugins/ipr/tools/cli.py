"""``smartcustoms eval ipr`` and ``smartcustoms library build ipr``.

``add_tools`` is called by ``smartcustoms.runtime.tools_cli``; the handlers import the simulators only
when they run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from smartcustoms.plugins.ipr.tools import EVALUATION_SEEDS, EVALUATION_SEEDS_FROM, LISTINGS_PER_SEED

_DEFAULT_SEEDS = " ".join(map(str, EVALUATION_SEEDS))


def add_tools(eval_kinds: Any, build_targets: Any) -> None:
    """Add ``ipr`` to ``smartcustoms eval`` and to ``smartcustoms library build``."""
    evaluate = eval_kinds.add_parser(
        "ipr",
        help="IPR monitoring on simulated markets: counterfeit listings and linked seller accounts",
        description=(
            "Replay held-out simulated online markets through the ipr_monitor plugin and report the "
            "precision and recall of counterfeit listings (beside a keyword-match-alone baseline) and "
            "of linked seller accounts, pairwise (beside a shared-phone-alone baseline). "
            "--generator alt uses the independently written generator the plugin was never tuned on."
        ),
    )
    evaluate.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=list(EVALUATION_SEEDS),
        help=f"held-out market seeds, {EVALUATION_SEEDS_FROM} or above (default {_DEFAULT_SEEDS})",
    )
    evaluate.add_argument(
        "--generator", choices=("sim", "alt"), default="sim", help="listings generator (sim)"
    )
    evaluate.add_argument(
        "--listings",
        type=int,
        default=LISTINGS_PER_SEED,
        help=f"listings per market (default {LISTINGS_PER_SEED})",
    )
    evaluate.set_defaults(handler=cmd_eval)
    build = build_targets.add_parser(
        "ipr",
        help="the ipr_monitor catalogue: image signatures of the rights holders' catalogue photos",
        description="Hash the simulated rights holders' catalogue photos into the plugin's catalogue file.",
    )
    build.add_argument(
        "--source", default="sim", help="'sim' (the listings simulator's catalogue; the only source)"
    )
    build.add_argument("--out", default="", help="catalogue file (default: the one the plugin ships)")
    build.set_defaults(handler=cmd_build)


def cmd_eval(args: argparse.Namespace) -> int:
    from smartcustoms.plugins.ipr.tools.evaluate import evaluate

    if args.generator == "sim" and any(seed < EVALUATION_SEEDS_FROM for seed in args.seeds):
        print(
            f"eval ipr: seeds below {EVALUATION_SEEDS_FROM} were used for tuning; pick held-out ones",
            file=sys.stderr,
        )
        return 2
    started_s = time.monotonic()
    result = evaluate(args.generator, args.seeds, args.listings)
    seeds = " ".join(map(str, args.seeds))
    print(
        f"ipr eval, generator {args.generator}, seeds {seeds}: {result.listings} listings "
        f"({result.counterfeit} counterfeit), {result.accounts} seller accounts, "
        f"{time.monotonic() - started_s:.0f} s"
    )
    print(f"{'':34} {'precision':>9} {'recall':>7} {'tp':>6} {'fp':>6} {'fn':>6}")
    rows = (
        ("counterfeit listings: ipr_monitor", result.plugin),
        ("counterfeit listings: keywords", result.keywords),
        ("linked accounts: ipr_monitor", result.links),
        ("linked accounts: shared phone", result.phone_links),
    )
    for name, counts in rows:
        print(
            f"{name:34} {counts.precision:9.3f} {counts.recall:7.3f} "
            f"{counts.tp:6} {counts.fp:6} {counts.fn:6}"
        )
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from smartcustoms.plugins.ipr.catalogue import DEFAULT_CATALOGUE
    from smartcustoms.plugins.ipr.tools.build import build_catalogue

    if args.source != "sim":
        print(f"library build ipr: unknown source {args.source!r} (only 'sim')", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else DEFAULT_CATALOGUE
    count = build_catalogue(out)
    print(f"ipr catalogue: {count} products -> {out}")
    return 0
