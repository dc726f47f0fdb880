"""The X-ray tools' commands: ``smartcustoms eval xray`` and ``smartcustoms library build xray``.

``eval xray`` measures on the project's simulator (held-out seeds), on the independent generator
(``--generator alt``, the cross-simulator check) or on a directory of labelled images (``--data DIR``).

``add_tools`` is called by ``smartcustoms.runtime.tools_cli``; the handlers import what they need when
they run, so that registering the commands costs no simulator or kernel import.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from smartcustoms.plugins.xray.tools.seeds import EVALUATION_SEEDS_FROM

DEFAULT_COUNT = 400


def add_tools(eval_kinds: Any, build_targets: Any) -> None:
    """Add ``xray`` to ``smartcustoms eval`` and to ``smartcustoms library build``."""
    _add_eval(eval_kinds)
    _add_build(build_targets)


def _add_eval(eval_kinds: Any) -> None:
    xray = eval_kinds.add_parser(
        "xray",
        help="the X-ray auto-detector: PD per class, false alarms per bag, mAP, time per frame",
        description=(
            "Generate simulated dual-energy bags from a seed never used for the library or the thresholds, "
            "run the xray_detector plugin's assessment on each (built from the xray-library artefact) "
            "and score it against the simulator's truth."
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
    xray.add_argument(
        "--iou",
        type=float,
        help="overlap a detection needs to count (0.5; 0.3 with --generator alt or --data)",
    )
    xray.add_argument("--height", type=int, default=1024, help="image height in pixels (1024)")
    xray.add_argument("--width", type=int, default=2048, help="image width in pixels (2048)")
    xray.add_argument(
        "--randomise",
        action="store_true",
        help="draw each bag's physics at random (energies, noise, blur, metal mass, tobacco density) "
        "and turn threats by any angle",
    )
    xray.add_argument(
        "--library-dir",
        action="append",
        default=[],
        help="an extra library folder (labels.csv and .npy signatures); may repeat",
    )
    xray.add_argument(
        "--generator",
        choices=("sim", "alt"),
        default="sim",
        help="'sim': the project's simulator (default); 'alt': the independent generator, never fitted or "
        "tuned on (the cross-simulator check)",
    )
    xray.add_argument(
        "--data",
        default="",
        metavar="DIR",
        help="labelled images instead: DIR/annotations.json (docs/formats.md)",
    )
    xray.add_argument(
        "--calibration",
        default="",
        metavar="FILE",
        help="a JSON object of the detector's calibration fields, overriding the configured ones",
    )
    xray.add_argument(
        "--method",
        choices=("library", "learned", "both"),
        default="",
        help="what finds the threats: the threat library, the network trained on varied simulated bags, or "
        "either (default: the configured method, 'library')",
    )
    xray.set_defaults(handler=cmd_eval_xray)


def _add_build(build_targets: Any) -> None:
    xray = build_targets.add_parser(
        "xray",
        help="the X-ray threat library and fitted model (artefact xray-library)",
        description=(
            "Build the xray-library artefact that the xray_detector plugin loads: library entries from "
            "the simulator (library seeds) or from a site's folder of labelled signature images, with "
            "the fitted model."
        ),
    )
    xray.add_argument(
        "--source",
        default="sim",
        help="'sim' (the simulator, default) or a folder holding labels.csv and .npy signature images",
    )
    xray.add_argument("--out", default="", help="artefact folder (default: <artefact root>/xray-library)")
    xray.add_argument(
        "--model", default="", help="a model file from `python -m smartcustoms.plugins.xray.tools.fit`"
    )
    xray.set_defaults(handler=cmd_build_xray)


def cmd_eval_xray(args: argparse.Namespace) -> int:
    from smartcustoms.core.artefacts import ArtefactError
    from smartcustoms.plugins.xray.library import LibraryError
    from smartcustoms.plugins.xray.tools import evaluate
    from smartcustoms.plugins.xray.tools.seeds import check_evaluation_seed

    if args.generator != "sim" or args.data:
        return cmd_eval_outside(args)
    args.iou = 0.5 if args.iou is None else args.iou
    try:
        check_evaluation_seed(args.seed)
        if args.count < 1 or not 0.0 <= args.threat_rate <= 1.0:
            raise ValueError("--count >= 1 and 0 <= --threat-rate <= 1")
        settings = _eval_settings(args)
        plugin = evaluate.tool_plugin(settings, _configured(args)[1])
    except (ArtefactError, LibraryError, ValueError, OSError) as error:
        return _refuse("eval xray", error)
    shape = (args.height, args.width)

    def progress(done: int) -> None:
        if done % 50 == 0 or done == args.count:
            print(f"  {done}/{args.count} bags", file=sys.stderr, flush=True)

    run = evaluate.evaluate(
        plugin.detector,
        args.seed,
        args.count,
        threat_rate=args.threat_rate,
        shape=shape,
        min_iou=args.iou,
        progress=progress,
        randomise=args.randomise,
    )
    for info in plugin.artefacts:
        print(f"reference data: {info.short} ({info.path})")
    if args.randomise:
        print("randomised: physics drawn per bag, threats at any angle")
    for line in evaluate.format_report(
        run, seed=args.seed, count=args.count, threat_rate=args.threat_rate, shape=shape
    ):
        print(line)
    return 0


def cmd_eval_outside(args: argparse.Namespace) -> int:
    """``eval xray --generator alt`` and ``eval xray --data DIR``: bags the detector was not made from."""
    from smartcustoms.core.artefacts import ArtefactError
    from smartcustoms.plugins.xray.library import LibraryError
    from smartcustoms.plugins.xray.tools import crosscheck, dataset, evaluate

    min_iou = 0.3 if args.iou is None else args.iou
    try:
        if args.data and args.generator != "sim":
            raise ValueError("--generator alt and --data DIR are two sources: give one")
        if getattr(args, "randomise", False):
            raise ValueError("--randomise draws the project's simulator at random; it does not apply here")
        if args.count < 1 or not 0.0 <= args.threat_rate <= 1.0 or not 0.0 < min_iou <= 1.0:
            raise ValueError("--count >= 1, 0 <= --threat-rate <= 1 and 0 < --iou <= 1")
        settings = _eval_settings(args)
        plugin = evaluate.tool_plugin(settings, _configured(args)[1])
        if args.data:
            images = dataset.LabelledImages(args.data)
            count, bags = len(images), images.bags()
            header = f"X-ray auto-detector on labelled images: {args.data}, {count} images"
        else:
            count, shape = args.count, (args.height, args.width)
            bags = crosscheck.alt_bags(args.seed, count, threat_rate=args.threat_rate, shape=shape)
            header = (
                "X-ray auto-detector on the independent generator (xray_alt, never fitted or tuned on): "
                f"seed {args.seed}, {count} bags of {shape[0]}x{shape[1]} dual-energy pixels, threat rate "
                f"{args.threat_rate:g}"
            )
    except (ArtefactError, LibraryError, ValueError, OSError) as error:
        return _refuse("eval xray", error)

    def progress(done: int) -> None:
        if done % 50 == 0 or done == count:
            print(f"  {done}/{count} bags", file=sys.stderr, flush=True)

    try:
        run = crosscheck.score_bags(plugin.detector, bags, min_iou=min_iou, progress=progress)
    except (crosscheck.CrossCheckError, OSError) as error:
        return _refuse("eval xray", error)
    for info in plugin.artefacts:
        print(f"reference data: {info.short} ({info.path})")
    print(crosscheck.describe(settings))
    for line in crosscheck.format_report(run, f"{header}, match IoU >= {min_iou:g}"):
        print(line)
    print(f"machine: {evaluate.machine_description()}")
    return 0


def _eval_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The configured settings with ``--library-dir`` folders added and ``--calibration`` applied."""
    from smartcustoms.plugins.xray.materials import over_basis
    from smartcustoms.plugins.xray.tools.crosscheck import read_calibration

    settings, _ = _configured(args)
    settings["library_dirs"] = [*settings.get("library_dirs", []), *args.library_dir]
    if args.calibration:
        base = over_basis(settings.get("calibration", {}))  # the file's machine, not the setting's
        settings["calibration"] = {**base, **read_calibration(args.calibration)}
    if getattr(args, "method", ""):
        settings["method"] = args.method
    return settings


def cmd_build_xray(args: argparse.Namespace) -> int:
    from smartcustoms.core.artefacts import ArtefactError
    from smartcustoms.plugins.xray.library import LibraryError, library_folder
    from smartcustoms.plugins.xray.tools import build

    started = time.perf_counter()
    try:
        _, root = _configured(args)
        out = Path(args.out) if args.out else library_folder("", root)
        model = Path(args.model) if args.model else build.FITTED_MODEL
        if args.source == "sim":
            info = build.build_from_simulator(out, model)
        elif Path(args.source).is_dir():
            info = build.build_from_folder(out, args.source, model)
        else:
            raise ValueError(f"--source {args.source}: neither 'sim' nor a folder")
    except (ArtefactError, LibraryError, ValueError, OSError) as error:
        return _refuse("library build xray", error)
    print(f"built {info.short} in {info.path} in {time.perf_counter() - started:.1f} s")
    print(f"  source: {info.source}")
    return 0


def _configured(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    """The ``[plugins.xray_detector.settings]`` table and the artefact root of the configuration
    (``--config`` when the top-level parser has one, and SMARTCUSTOMS_* variables)."""
    from smartcustoms.core import config as config_module

    config = config_module.load(getattr(args, "config", None))
    plugin = config.plugins.get("xray_detector")
    return (dict(plugin.settings) if plugin is not None else {}), config.artefacts_dir


def _refuse(command: str, error: Exception) -> int:
    print(f"smartcustoms {command}: {error}", file=sys.stderr)
    return 2


def add_library_entries(add_targets: Any) -> None:
    """``smartcustoms library add xray``: a site's own threat scans into a library folder."""
    from smartcustoms.plugins.xray.tools import enrol

    enrol.add_parser(add_targets)


def add_calibration(calibrate_kinds: Any) -> None:
    """``smartcustoms calibrate xray``: the scanner's calibration from its air and step-wedge scans."""
    from smartcustoms.plugins.xray.tools import calibrate

    calibrate.add_parser(calibrate_kinds)
