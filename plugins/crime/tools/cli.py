"""``smartcustoms eval links``: entity resolution, planted links and anomalies on simulated cases.

``add_tools`` is called by ``smartcustoms.runtime.tools_cli``; the handler imports the simulators only
when it runs.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from typing import Any

from smartcustoms.plugins.crime.tools import EVALUATION_SEEDS, EVALUATION_SEEDS_FROM

_DEFAULT_SEEDS = " ".join(map(str, EVALUATION_SEEDS))


def add_tools(eval_kinds: Any, build_targets: Any) -> None:
    """Add ``links`` to ``smartcustoms eval`` (the plugin builds no artefact)."""
    evaluate = eval_kinds.add_parser(
        "links",
        help="crime analytics on simulated cases: entity resolution, planted links, anomalies",
        description=(
            "Generate held-out simulated case worlds (case files, news, posts) and report the "
            "crime_analytics plugin's entity resolution (pairwise precision and recall, beside an "
            "exact-name-match baseline), the planted links its graph finds (and false links among "
            "random unlinked case pairs), and the planted anomalies its trend alerts find, with their "
            "delay. --generator alt uses the independently written generator nothing was tuned on."
        ),
    )
    evaluate.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=list(EVALUATION_SEEDS),
        help=f"held-out world seeds, {EVALUATION_SEEDS_FROM} or above (default {_DEFAULT_SEEDS})",
    )
    evaluate.add_argument("--generator", choices=("sim", "alt"), default="sim", help="case generator (sim)")
    evaluate.set_defaults(handler=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    from smartcustoms.plugins.crime.tools.evaluate import METHODS, evaluate

    if any(seed < EVALUATION_SEEDS_FROM for seed in args.seeds):
        print(
            f"eval links: seeds below {EVALUATION_SEEDS_FROM} were used for tuning; pick held-out ones",
            file=sys.stderr,
        )
        return 2
    logging.getLogger("smartcustoms.plugins.crime.entities").setLevel(
        logging.ERROR
    )  # malformed posts: expected
    started_s = time.monotonic()
    result = evaluate(args.generator, args.seeds)
    seeds = " ".join(map(str, args.seeds))
    print(
        f"links eval, generator {args.generator}, seeds {seeds}: {result.records} records "
        f"({result.cases} cases), {result.mentions} entity mentions, {time.monotonic() - started_s:.0f} s"
    )
    print(f"{'entity resolution (pairwise)':34} {'precision':>9} {'recall':>7} {'tp':>6} {'fp':>6} {'fn':>6}")
    for method in METHODS:
        for group in ("persons", "companies"):
            c = result.resolution[method, group]
            name = f"{group}: {method}"
            print(f"{name:34} {c.precision:9.3f} {c.recall:7.3f} {c.tp:6} {c.fp:6} {c.fn:6}")
    kinds = sorted(result.links[METHODS[0]].planted)
    print(f"{'planted links found':34} " + " ".join(f"{k:>22}" for k in kinds) + f" {'false links':>12}")
    for method in METHODS:
        links = result.links[method]
        found = " ".join(f"{f'{links.found[k]}/{links.planted[k]}':>22}" for k in kinds)
        print(f"{method:34} {found} {f'{links.false_links}/{links.random_pairs}':>12}")
    a = result.anomalies
    found = ", ".join(f"{kind} {a.found[kind]}/{a.planted[kind]}" for kind in sorted(a.planted))
    delays = "; ".join(
        f"{kind} median {statistics.median(d):.0f} (max {max(d)})"
        for kind, d in sorted(a.delays_weeks.items())
    )
    alerts = ", ".join(f"{a.alerts[d]} {d} ({a.false_alerts[d]} false)" for d in ("rise", "drop"))
    print(f"anomalies found: {found}; delay in weeks: {delays or 'none found'}; alerts: {alerts}")
    k = result.link_alerts
    kinds = sorted(k.planted)
    found = ", ".join(f"{kind} {k.found[kind]}/{k.planted[kind]}" for kind in kinds)
    precision = k.true_pairs / k.pairs if k.pairs else 0.0
    print(
        f"link alerts: {k.alerts} on {k.cases} cases; planted case links named: {found}; "
        f"case pairs named {k.pairs}, linked in the truth {k.true_pairs} (precision {precision:.3f}), "
        f"planted {k.planted_pairs}"
    )
    e = result.extraction
    print(f"extraction from text only ({e.records} news items and posts, entities stripped):")
    print(f"{'':34} {'precision':>9} {'recall':>7} {'tp':>6} {'fp':>6} {'fn':>6} {'in text':>8}")
    for kind, t in e.types.items():
        print(f"{kind:34} {t.precision:9.3f} {t.recall:7.3f} {t.tp:6} {t.fp:6} {t.fn:6} {t.in_text:8}")
    read, full = result.text_only_links, result.links[METHODS[0]]
    kinds = [kind for kind in sorted(read.planted) if kind != "syndicate"]
    found = ", ".join(
        f"{kind} {read.found[kind]}/{read.planted[kind]} (with entities {full.found[kind]})" for kind in kinds
    )
    print(f"planted links found through extraction: {found}")
    return 0
