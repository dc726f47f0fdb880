"""``smartcustoms eval xray``: the X-ray auto-detector on a held-out simulated set.

Registered by ``add_parser(commands)`` (runtime.cli's COMMAND_MODULES); other kinds (ct, vehicle) can
add their own sub-parsers under ``eval`` the same way.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from smartcustoms.plugins.threat_library import EVALUATION_SEEDS_FROM

DEFAULT_COUNT = 400


def add_parser(commands: Any) -> None:
    """Register ``eval`` and its ``xray`` kind on the top-level sub-parsers."""
    evaluate = commands.add_parser("eval", help="evaluate a detector on a held-out simulated set")
    kinds = evaluate.add_subparsers(dest="kind", required=True)
    xray = kinds.add_parser(
        "xray",
        help="the X-ray auto-detector: PD per class, false alarms per bag, mAP, time per frame",
        description=(
            "Generate simulated dual-energy bags from a seed never used for the library or the thresholds, "
            "run the xray_detector plugin's assessment on each and score it against the simulator's truth."
        ),
    )
    xray.add_argument("--count", type=int, default=DEFAULT_COUNT, help=f"bags (default {DEFAULT_COUNT})")
    xray.add_argument(
        "--seed",
        type=int,
        default=EVALUATION_SEEDS_FROM,
        help=f"simulator seed, {EVALUATION_SEEDS_FROM} or above (default {EVALUATION_SEEDS_FROM})",
    )
    xray.add_argument("--threat-rate", type=float, default=0.5, help="share of bags with a threat (0.5)")
    xray.add_argument("--iou", type=float, default=0.5, help="overlap a detection needs to count (0.5)")
    xray.add_argument("--height", type=int, default=1024, help="image height in pixels (1024)")
    xray.add_argument("--width", type=int, default=2048, help="image width in pixels (2048)")
    xray.add_argument(
        "--library-dir",
        action="append",
        default=[],
        help="an extra library folder (labels.csv and .npy signatures); may repeat",
    )
    xray.set_defaults(handler=cmd_eval_xray)
    for kind, count, seed, what in (
        ("ct", 200, 1000, "the CT detector on simulated bags: PD per class, false alarms per bag, mAP@0.5"),
        ("vehicle", 100, 2000, "vehicle comparison on simulated portal scans: PD, false alarms, mAP"),
    ):
        sub = kinds.add_parser(kind, help=what)
        sub.add_argument("--count", type=int, default=count, help=f"frames (default {count})")
        sub.add_argument("--seed", type=int, default=seed, help=f"held-out simulator seed (default {seed})")
        sub.set_defaults(handler=cmd_eval_ct_vehicle)


def cmd_eval_ct_vehicle(args: argparse.Namespace) -> int:
    """``eval ct`` and ``eval vehicle``: seeds used to tune the detectors are refused."""
    from smartcustoms.plugins import eval_ct_vehicle

    run = eval_ct_vehicle.run_ct_eval if args.kind == "ct" else eval_ct_vehicle.run_vehicle_eval
    try:
        report = run(args.count, args.seed)
    except ValueError as error:
        print(f"smartcustoms eval {args.kind}: {error}", file=sys.stderr)
        return 2
    print(eval_ct_vehicle.format_report(report))
    return 0


def cmd_eval_xray(args: argparse.Namespace) -> int:
    from smartcustoms.plugins import eval_xray
    from smartcustoms.plugins.xray_detector import SPEC, XrayDetector

    try:
        eval_xray.check_evaluation_seed(args.seed)
    except ValueError as error:
        print(f"smartcustoms eval xray: {error}", file=sys.stderr)
        return 2
    if args.count < 1 or not 0.0 <= args.threat_rate <= 1.0:
        print("smartcustoms eval xray: --count >= 1 and 0 <= --threat-rate <= 1", file=sys.stderr)
        return 2
    settings = {**SPEC.default_settings, **_configured_settings(args)}
    settings["library_dirs"] = [*settings["library_dirs"], *args.library_dir]
    detector = XrayDetector(settings)
    shape = (args.height, args.width)

    def progress(done: int) -> None:
        if done % 50 == 0 or done == args.count:
            print(f"  {done}/{args.count} bags", file=sys.stderr, flush=True)

    run = eval_xray.evaluate(
        detector,
        args.seed,
        args.count,
        threat_rate=args.threat_rate,
        shape=shape,
        min_iou=args.iou,
        progress=progress,
    )
    for line in eval_xray.format_report(
        run, seed=args.seed, count=args.count, threat_rate=args.threat_rate, shape=shape
    ):
        print(line)
    return 0


def _configured_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The ``[plugins.xray_detector.settings]`` table of ``--config``, when the top-level parser has one."""
    path = getattr(args, "config", None)
    if not path:
        return {}
    from smartcustoms.core import config as config_module

    plugin = config_module.load(path).plugins.get("xray_detector")
    return dict(plugin.settings) if plugin is not None else {}
