"""``smartcustoms eval evidence``: the evidence locator on held-out simulated warehouse days, on the
radio model it was tuned on and on a variant it was not, and storage slot suggestions against
first-fit on the same seeds."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from smartcustoms.plugins.evidence.tools.evaluate import HELD_OUT_SEEDS, replay, summarise
from smartcustoms.plugins.evidence.tools.slots import slot_trial


def add_tools(eval_kinds: Any, build_targets: Any) -> None:
    evaluate = eval_kinds.add_parser(
        "evidence",
        help="evidence store: anomalies found and time to alert, false alerts per day, location accuracy",
        description="Replay simulated warehouse days (held-out seeds) through the evidence locator, on the "
        "radio model its settings were chosen on and on a variant (path-loss exponent 4, 6 dB shadowing, "
        "antennas moved); then storage slot suggestions against first-fit on the same seeds.",
    )
    evaluate.add_argument(
        "--seeds", default=",".join(map(str, HELD_OUT_SEEDS)), help="comma-separated (default %(default)s)"
    )
    evaluate.add_argument("--minutes", type=int, default=30, help="simulated minutes per seed (default 30)")
    evaluate.add_argument("--radio", choices=("tuned", "variant", "both"), default="both")
    evaluate.add_argument("--json", action="store_true", help="print the figures as JSON")
    evaluate.set_defaults(handler=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        raise SystemExit(
            f"smartcustoms eval evidence: --seeds must be whole numbers, got {args.seeds!r}"
        ) from None
    if not seeds or args.minutes < 3:
        raise SystemExit("smartcustoms eval evidence: give at least one seed and 3 minutes or more")
    radios = ("tuned", "variant") if args.radio == "both" else (args.radio,)
    figures: dict[str, Any] = {}
    for radio in radios:
        started = time.perf_counter()
        results = [replay(seed, radio=radio, horizon_ticks=args.minutes * 60) for seed in seeds]
        figures[radio] = summarise(results) | {"seconds": round(time.perf_counter() - started, 1)}
    trials = [slot_trial(seed, horizon_ticks=args.minutes * 60) for seed in seeds]
    figures["slots"] = {
        policy: {k: round(sum(t[policy][k] for t in trials) / len(trials), 2) for k in trials[0][policy]}
        for policy in ("suggested", "first_fit")
    }
    print(json.dumps(figures, indent=2) if args.json else _table(figures, seeds, args.minutes))
    return 0


def _table(figures: dict[str, Any], seeds: list[int], minutes: int) -> str:
    lines = [f"evidence locator, seeds {','.join(map(str, seeds))}, {minutes} simulated minutes each"]
    for radio in ("tuned", "variant"):
        if radio not in figures:
            continue
        f = figures[radio]
        lines.append(f"\nradio model: {radio} ({f['seconds']} s)")
        for kind in ("missing", "unauthorised_move"):
            k = f[kind]
            recall = "-" if k["recall"] is None else f"{k['recall']:.0%}"
            median = "-" if k["median_s"] is None else f"{k['median_s']:.0f} s"
            p90 = "-" if k["p90_s"] is None else f"{k['p90_s']:.0f} s"
            found = f"found {k['found']}/{k['due']} ({recall})"
            lines.append(f"  {kind:<18} {found}, time to alert median {median}, p90 {p90}")
        per_day = f"{f['false_alerts_per_day']:.1f} per day"
        lines.append(f"  false alerts: {f['false_alerts']} ({per_day}) {f['false_alerts_by_label']}")
        accuracy = ", ".join(f"{zone} {share:.1%}" for zone, share in f["location_accuracy"].items())
        lines.append(f"  location accuracy by zone: {accuracy}")
        lines.append(f"  work orders refused: {f['refused_orders']}")
    s, b = figures["slots"]["suggested"], figures["slots"]["first_fit"]
    lines.append("\nstorage slots (deposits of the same days):")
    for name, key in (
        ("shelves per case", "shelves_per_case"),
        ("due-soon distance to exit", "due_soon_distance"),
    ):
        lines.append(f"  {name + ':':<28} suggested {s[key]:.2f}, first-fit {b[key]:.2f}")
    return "\n".join(lines)
