"""``smartcustoms library build vehicle`` and ``smartcustoms eval vehicle``.

``add_tools`` adds the ``vehicle`` target to ``smartcustoms library build`` (the ``vehicle-references``
artefact, ``build``) and the ``vehicle`` kind to ``smartcustoms eval`` (``evaluate``). The artefact
root is the configuration's ``artefacts_dir`` (``--config``), else ``$SMARTCUSTOMS_ARTEFACTS_DIR``,
else ``~/.cache/smartcustoms/artefacts``. The tools and the simulator are imported only when a command
runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from smartcustoms.core import artefacts
from smartcustoms.plugins.vehicle.references import ARTEFACT_NAME
from smartcustoms.plugins.vehicle.tools import EVALUATION_COUNT, EVALUATION_SEED

VARIATIONS = ("levels", "pixels", "speed", "eight_bit")  # hardware.sim.vehicle.Realism.portal's kinds
DEFAULT_VARIATIONS = ("levels", "pixels", "speed")


def add_tools(eval_kinds: Any, build_targets: Any) -> None:
    """Add ``vehicle`` to the sub-parsers of ``smartcustoms eval`` and ``smartcustoms library build``."""
    build = build_targets.add_parser(
        "vehicle",
        help="the vehicle-references artefact: empty reference scans of each vehicle model",
        description=(
            "Build the reference scans vehicle_compare compares portal scans with: from the simulator's "
            "models (--source sim) or from a folder of <model>.npy and <model>.json files (--source DIR)."
        ),
    )
    build.add_argument(
        "--source", default="sim", help="'sim' (the simulator's models, default) or a folder of references"
    )
    build.add_argument("--out", default="", help=f"artefact folder (default <artefact root>/{ARTEFACT_NAME})")
    build.add_argument("--version", default="", help="version label (default sim-v1, or site-<date>)")
    build.set_defaults(handler=cmd_build_vehicle)
    evaluate = eval_kinds.add_parser(
        "vehicle",
        help="vehicle comparison on simulated portal scans: PD, false alarms, mAP",
        description=(
            "Generate simulated portal scans from a seed never used to set the thresholds (half of them "
            "with a concealment), run the vehicle_compare plugin with the built vehicle-references "
            "artefact on each and score it against the simulator's truth."
        ),
    )
    evaluate.add_argument(
        "--count", type=int, default=EVALUATION_COUNT, help=f"scans (default {EVALUATION_COUNT})"
    )
    evaluate.add_argument(
        "--seed",
        type=int,
        default=EVALUATION_SEED,
        help=f"held-out simulator seed (default {EVALUATION_SEED})",
    )
    evaluate.add_argument(
        "--variations",
        nargs="*",
        choices=VARIATIONS,
        default=None,
        metavar="KIND",
        help="each scan as a real portal gives it: levels (gain 0.9-1.1, offset -15..+15 grey levels), "
        "pixels (1-2 times longer along the vehicle), speed (varying within 3 %% along it), eight_bit "
        "(an 8-bit export); bare --variations: levels pixels speed",
    )
    evaluate.set_defaults(handler=cmd_eval_vehicle)


def cmd_build_vehicle(args: argparse.Namespace) -> int:
    """``smartcustoms library build vehicle``: a source that is not a reference folder exits 2."""
    from smartcustoms.plugins.vehicle.references import ReferenceError
    from smartcustoms.plugins.vehicle.tools import build

    out = Path(args.out) if args.out else artefacts.locate(ARTEFACT_NAME, "", _artefact_root(args))
    started = time.perf_counter()
    try:
        info = build.build(out, args.source, version=args.version)
    except ReferenceError as error:
        print(f"smartcustoms library build vehicle: {error}", file=sys.stderr)
        return 2
    print(f"built {info.short} in {info.path} ({time.perf_counter() - started:.1f} s) from {info.source}")
    return 0


def cmd_eval_vehicle(args: argparse.Namespace) -> int:
    """``smartcustoms eval vehicle``: a development seed, or no built artefact, exits 2."""
    from smartcustoms.plugins.vehicle.references import ReferenceError
    from smartcustoms.plugins.vehicle.tools import evaluate

    try:
        evaluate.check_seed(args.seed, args.count)
    except ValueError as error:
        print(f"smartcustoms eval vehicle: {error}", file=sys.stderr)
        return 2
    try:
        report = evaluate.evaluate(
            args.count, args.seed, artefact_root=_artefact_root(args), variations=_variations(args)
        )
    except (artefacts.ArtefactError, ReferenceError) as error:
        print(f"smartcustoms eval vehicle: {error}", file=sys.stderr)
        return 2
    print(evaluate.format_report(report))
    return 0


def _variations(args: argparse.Namespace) -> tuple[str, ...]:
    """``--variations`` absent: none; bare: the default kinds; else those named."""
    chosen = getattr(args, "variations", None)
    if chosen is None:
        return ()
    return tuple(chosen) or DEFAULT_VARIATIONS


def _artefact_root(args: argparse.Namespace) -> Path:
    """The artefact root of ``--config``'s configuration, else the default root."""
    return artefacts.root_for(getattr(args, "config", None))
