"""``smartcustoms library build liquor``, ``library add liquor`` and ``smartcustoms eval liquor``.

The artefact root is the configuration's ``artefacts_dir`` (``--config``), else
``$SMARTCUSTOMS_ARTEFACTS_DIR``, else ``~/.cache/smartcustoms/artefacts``. The tools, the simulators and
the OCR models are loaded only when a command runs. Bad input is one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from smartcustoms.core import artefacts
from smartcustoms.plugins.liquor.library import ARTEFACT_NAME, CATEGORIES
from smartcustoms.plugins.liquor.tools import EVALUATION_COUNT, EVALUATION_SEED


def add_tools(eval_kinds: Any, build_targets: Any) -> None:
    """Add ``liquor`` to ``smartcustoms eval`` and ``smartcustoms library build``."""
    build = build_targets.add_parser(
        "liquor",
        help="the liquor-labels artefact: label database of liquor bottles",
        description=(
            "Build the label database liquor_label matches camera frames against: every product of the "
            "simulator's catalogue with its facts and reference views of its label artwork, and the "
            "confidence model fitted on the simulator's calibration seeds (a minute or two)."
        ),
    )
    build.add_argument("--source", default="sim", help="'sim' (the simulator's catalogue, the only source)")
    build.add_argument("--out", default="", help=f"artefact folder (default <artefact root>/{ARTEFACT_NAME})")
    build.add_argument("--version", default="", help="version label (default sim-v1)")
    build.set_defaults(handler=cmd_build_liquor)
    evaluate = eval_kinds.add_parser(
        "liquor",
        help="liquor label recognition: top-1/top-3 accuracy, share sent to officers, duty right",
        description=(
            "Recognise bottles in frames the plugin was never tuned on: held-out simulator seeds "
            "(--renderer sim) or the independent renderer (--renderer alt, its bottles added to a copy of "
            "the database from its own reference photos first), and score against the truth."
        ),
    )
    evaluate.add_argument(
        "--count", type=int, default=EVALUATION_COUNT, help=f"frames (default {EVALUATION_COUNT})"
    )
    evaluate.add_argument(
        "--seed", type=int, default=EVALUATION_SEED, help=f"held-out seed (default {EVALUATION_SEED})"
    )
    evaluate.add_argument(
        "--renderer", choices=("sim", "alt"), default="sim", help="which renderer (default sim)"
    )
    evaluate.add_argument("--json", action="store_true", help="print the figures as JSON")
    evaluate.set_defaults(handler=cmd_eval_liquor)


def add_library_entries(add_targets: Any) -> None:
    """Add ``liquor`` to ``smartcustoms library add``."""
    add = add_targets.add_parser(
        "liquor",
        help="a new product in the liquor-labels database, from a few photos and its facts",
        description=(
            "Add a product to the label database without any code change: its facts and a few photos of "
            "the bottle, label facing the camera, on different backgrounds (what the photos have in common "
            "becomes the reference; one photo should show the label filling most of it). The database "
            "gets a new version; plugins load it when they restart."
        ),
    )
    add.add_argument("photos", nargs="+", metavar="PHOTO", help="photos of the bottle (JPEG, PNG)")
    add.add_argument("--brand", required=True)
    add.add_argument("--product", required=True, help="product name as printed, e.g. 'Single Malt 12 Year'")
    add.add_argument("--category", required=True, choices=CATEGORIES)
    add.add_argument("--abv", required=True, type=float, help="alcohol by volume, percent")
    add.add_argument("--volume-ml", required=True, type=int, help="bottle volume, millilitres")
    add.add_argument("--price-hkd", required=True, type=float, help="reference price of one bottle, HKD")
    add.add_argument("--name-zh", default="", help="the Traditional Chinese name, if the label prints one")
    add.add_argument("--id", default="", help="catalogue id (default: the next free LQ-NNNN)")
    add.add_argument(
        "--library", default="", help=f"artefact folder (default <artefact root>/{ARTEFACT_NAME})"
    )
    add.add_argument("--version", default="", help="version label (default <old version>+<catalogue id>)")
    add.set_defaults(handler=cmd_add_liquor)


def cmd_build_liquor(args: argparse.Namespace) -> int:
    from smartcustoms.plugins.liquor.library import LibraryError
    from smartcustoms.plugins.liquor.tools import build

    out = Path(args.out) if args.out else artefacts.locate(ARTEFACT_NAME, "", _artefact_root(args))
    started = time.perf_counter()
    try:
        info = build.build(
            out, args.source, version=args.version, progress=lambda m: print(m, file=sys.stderr)
        )
    except LibraryError as error:
        print(f"smartcustoms library build liquor: {error}", file=sys.stderr)
        return 2
    print(f"built {info.short} in {info.path} ({time.perf_counter() - started:.1f} s) from {info.source}")
    return 0


def cmd_add_liquor(args: argparse.Namespace) -> int:
    from smartcustoms.plugins.liquor.library import LibraryError
    from smartcustoms.plugins.liquor.tools import add

    folder = Path(args.library) if args.library else artefacts.locate(ARTEFACT_NAME, "", _artefact_root(args))
    try:
        photos = [Path(p) for p in args.photos]
        images = [add.read_photo(p) for p in photos]
        facts = add.Facts(
            args.brand, args.product, args.category, args.abv, args.volume_ml, args.price_hkd, args.name_zh
        )
        facts.with_id("check")  # the facts' own checks, before any photo is processed
        info = add.add(
            folder, facts, images, catalogue_id=args.id, names=[p.name for p in photos], version=args.version
        )
    except (LibraryError, artefacts.ArtefactError) as error:
        print(f"smartcustoms library add liquor: {error}", file=sys.stderr)
        return 2
    print(f"added to {info.short} in {info.path}: {info.source}")
    return 0


def cmd_eval_liquor(args: argparse.Namespace) -> int:
    from smartcustoms.plugins.liquor.library import LibraryError
    from smartcustoms.plugins.liquor.tools import evaluate

    try:
        evaluate.check_seed(args.seed, args.count, args.renderer)
    except ValueError as error:
        print(f"smartcustoms eval liquor: {error}", file=sys.stderr)
        return 2
    if args.renderer == "alt" and not _alt_available():
        print(
            "smartcustoms eval liquor: the alt renderer (hardware.sim.liquor_alt) is not installed",
            file=sys.stderr,
        )
        return 2
    try:
        report = evaluate.evaluate(
            args.count, args.seed, renderer=args.renderer, artefact_root=_artefact_root(args),
            progress=lambda m: print(m, file=sys.stderr),
        )  # fmt: skip
    except (artefacts.ArtefactError, LibraryError) as error:
        print(f"smartcustoms eval liquor: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=1) if args.json else evaluate.format_report(report))
    return 0


def _alt_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("smartcustoms.hardware.sim.liquor_alt") is not None


def _artefact_root(args: argparse.Namespace) -> Path:
    """The artefact root of ``--config``'s configuration, else the default root."""
    return artefacts.root_for(getattr(args, "config", None))
