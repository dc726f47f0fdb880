"""``smartcustoms eval queue``: predicted call times against what happened on simulated days, beside
the naive baseline, on held-out seeds of the generator the model was tuned on and on one it never saw."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from smartcustoms.plugins.air_queue.tools import EVALUATION_DAYS, HELD_OUT_SEED

PROFILES = ("main", "alt")


def add_tools(eval_kinds: Any, build_targets: Any) -> None:
    evaluate = eval_kinds.add_parser(
        "queue",
        help="air cargo queue: MAE and P90 of predicted call times, the model beside the naive baseline",
        description="Simulate days at the air cargo terminal (rush hours, counters opening and closing, "
        "no-shows, cancellations) and compare each ticket's call time predicted when it was issued with "
        "when it was called: the queue model (occupancies learned from the day) and the naive baseline "
        "(place x mean occupancy / open counters), on held-out seeds of the 'main' generator (the one "
        "tuned on) and of 'alt' (other occupancy distributions, rush profile and counters, never tuned on).",
    )
    evaluate.add_argument(
        "--seed", type=int, default=HELD_OUT_SEED, help="first simulated day's seed (default %(default)s)"
    )
    evaluate.add_argument(
        "--days", type=int, default=EVALUATION_DAYS, help="days per generator (default %(default)s)"
    )
    evaluate.add_argument("--json", action="store_true", help="print the figures as JSON")
    evaluate.set_defaults(handler=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    from smartcustoms.plugins.air_queue.tools.evaluate import evaluate

    if args.days < 1:
        print("smartcustoms eval queue: --days must be at least 1", file=sys.stderr)
        return 2
    if args.seed < HELD_OUT_SEED:
        print(f"smartcustoms eval queue: seeds below {HELD_OUT_SEED} were used for tuning", file=sys.stderr)
        return 2
    started = time.perf_counter()
    seeds = tuple(range(args.seed, args.seed + args.days))
    results = [evaluate(profile, seeds) for profile in PROFILES]
    if args.json:
        print(json.dumps([_figures(r) for r in results], indent=2))
        return 0
    print(
        f"air cargo queue: predicted vs actual first call time, seeds {seeds[0]}-{seeds[-1]} "
        f"({time.perf_counter() - started:.0f} s)"
    )
    print(
        f"{'generator':<10} {'tickets':>7} {'mean wait':>9}   {'predictor':<9} "
        f"{'MAE':>7} {'P90':>7} {'bias':>7}"
    )
    for result in results:
        rows = (
            ("model", result.model),
            ("naive", result.naive),
            ("model 15m", result.model_ahead),
            ("naive 15m", result.naive_ahead),
        )
        for name, errors in rows:
            print(
                f"{result.profile:<10} {errors.tickets:>7} {result.mean_wait_s / 60:>7.1f} m   {name:<9} "
                f"{errors.mae_s / 60:>5.1f} m {errors.p90_s / 60:>5.1f} m {errors.bias_s / 60:>+5.1f} m"
            )
    print(
        "model/naive: predicted when the ticket was issued; '15m': the last update at least 15 minutes "
        "before the call (tickets that waited that long), what a driver 15 minutes away sets off on"
    )
    return 0


def _figures(result: Any) -> dict[str, Any]:
    return {
        "generator": result.profile,
        "seeds": list(result.seeds),
        "mean_wait_s": round(result.mean_wait_s, 1),
        **{
            name: {
                "tickets": e.tickets,
                "mae_s": round(e.mae_s, 1),
                "p90_s": round(e.p90_s, 1),
                "bias_s": round(e.bias_s, 1),
            }
            for name, e in (
                ("model", result.model),
                ("naive", result.naive),
                ("model_15m", result.model_ahead),
                ("naive_15m", result.naive_ahead),
            )
        },
    }
