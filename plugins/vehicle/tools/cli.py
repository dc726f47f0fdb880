"""``smartcustoms library build vehicle``, ``library add vehicle`` and ``smartcustoms eval vehicle``.

``add_tools`` adds the ``vehicle`` target to ``smartcustoms library build`` (the ``vehicle-references``
artefact, ``build``) and the ``vehicle`` kind to ``smartcustoms eval`` (``evaluate``: simulated scans,
or ``--data DIR`` labelled scans from outside, ``labelled``); ``add_library_entries`` adds ``vehicle``
to ``smartcustoms library add`` (a site's own reference scan, ``add``). The artefact root is the
configuration's ``artefacts_dir`` (``--config``), else ``$SMARTCUSTOMS_ARTEFACTS_DIR``, else
``~/.cache/smartcustoms/artefacts``. The tools and the simulator are imported only when a command
runs. Bad input is one line on stderr and exit 2.
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

KINDS = ("car", "van", "truck", "container", "tractor", "trailer")  # a reference's kind (sidecar "kind")

# hardware.sim.vehicle.Realism.portal's kinds
VARIATIONS = (
    "levels",
    "pixels",
    "speed",
    "eight_bit",
    "trailers",
    "photons",
    "coarse",
    "framing",
    "road",
    "detector",
    "suspension",
    "scatter",
    "fuel",
    "stops",
)
DEFAULT_VARIATIONS = ("levels", "pixels", "speed")
GENERATORS = ("sim", "alt")  # the project's simulator; hardware.sim.vehicle_alt
ALT_SEED = 5000  # hardware.sim.vehicle_alt's first seed


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
    build.add_argument("--version", default="", help="version label (default sim-v2, or site-<date>)")
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
    evaluate.add_argument("--count", type=int, default=None, help=f"scans (default {EVALUATION_COUNT})")
    evaluate.add_argument(
        "--seed",
        type=int,
        default=None,
        help=f"held-out simulator seed (default {EVALUATION_SEED}; with --generator alt 5000)",
    )
    evaluate.add_argument(
        "--variations",
        nargs="*",
        choices=VARIATIONS,
        default=None,
        metavar="KIND",
        help="each scan as a real portal gives it: levels (gain 0.9-1.1, offset -15..+15 grey levels), "
        "pixels (1-2 times longer along the vehicle), speed (varying within 3 %% along it), eight_bit "
        "(an 8-bit export), trailers (a container on any tractor and trailer), photons (a quarter to four "
        "times the photons per pixel), coarse (a real portal's pixels: 8-17 mm across, 20-30 mm along), "
        "framing (the scan starting up to 1 m earlier or later than the reference's), road (its lowest "
        "rows seeing 5-30 cm of road), detector (a flat-field's residuals: rows off 0.1-0.6 %%, up to two "
        "boards of rows 1.5-4 %% low, pulses off 0.05-0.3 %%), suspension (the body up to 5 cm higher or "
        "lower on its wheels), scatter (0.5-4 %% of the signal scattered onto the detectors), fuel (the "
        "tanks 5-100 %% full where the references' are 60 %% (cars) or full), stops (in half the scans "
        "the vehicle slowing by 50-90 %% over a short part of the pass); bare "
        "--variations: levels pixels speed",
    )
    evaluate.add_argument(
        "--models",
        nargs="+",
        default=None,
        metavar="MODEL",
        help="only these simulator models (default all): e.g. container-20ft",
    )
    evaluate.add_argument(
        "--data",
        default="",
        metavar="DIR",
        help="labelled scans from outside instead: DIR/annotations.json, COCO-style boxes, and the scans "
        "(DICOS DX, PNG/TIFF, JPEG) it names (docs/detectors_ct_vehicle.md)",
    )
    evaluate.add_argument(
        "--generator",
        choices=GENERATORS,
        default="sim",
        help="'sim': the project's simulator (default); 'alt': the independent generator "
        "(hardware.sim.vehicle_alt, never fitted or tuned on; seeds from 5000, default 5000), the "
        "cross-simulator check, with its own references enrolled as a site's",
    )
    evaluate.add_argument(
        "--references",
        default="",
        metavar="DIR",
        help=f"the {ARTEFACT_NAME} artefact folder to compare with (default <artefact root>/{ARTEFACT_NAME})",
    )
    evaluate.set_defaults(handler=cmd_eval_vehicle)


def add_library_entries(add_targets: Any) -> None:
    """Add ``vehicle`` to ``smartcustoms library add``."""
    add = add_targets.add_parser(
        "vehicle",
        help="a site's own reference scan: an empty container of one type or an empty vehicle of one model",
        description=(
            "Enrol the portal's scan of an empty container (--type, its ISO 6346 size-type code, matched "
            "against the frames' container_type) or of an empty vehicle (--model, matched against "
            "vehicle_model) into the vehicle-references artefact, as a new version (a new artefact when "
            "there is none). The scan: DICOS DX files (one per energy), a 16-bit PNG or TIFF, or an 8-bit "
            "JPEG export. Plugins load the new version when they restart."
        ),
    )
    add.add_argument("scan", nargs="+", metavar="SCAN", help="the scan's file (DICOS DX: one per energy)")
    named = add.add_mutually_exclusive_group(required=True)
    named.add_argument(
        "--type", default="", help="container type, ISO 6346 size-type code (22G1, 42G1, 45R1)"
    )
    named.add_argument("--model", default="", help="vehicle model name (letters, digits, '-', '_')")
    add.add_argument(
        "--pixel-size-mm",
        type=float,
        nargs="+",
        metavar="MM",
        help="pixel size: ALONG ACROSS the vehicle (between columns, between rows), or one size for square "
        "pixels; default the DICOS pixel spacing",
    )
    add.add_argument(
        "--cargo-box-px",
        type=int,
        nargs=4,
        metavar=("X0", "Y0", "X1", "Y1"),
        help="the cargo space (a container's inside) in the scan's pixels, max exclusive",
    )
    add.add_argument(
        "--kind", choices=KINDS, help="car, van, truck or container (default container for --type)"
    )
    add.add_argument(
        "--part",
        action="store_true",
        help="the scan shows one part of a container vehicle alone: a tractor (--model with --kind "
        "tractor), a trailer (--kind trailer) or an empty container (--type); compared joined with the "
        "other parts a frame names (container_type, tractor_model, trailer_model)",
    )
    add.add_argument("--description", default="", help="what this reference is (build, options)")
    add.add_argument(
        "--open-beam-level",
        type=float,
        help="the scanner's open-beam level in the file's units (0-255 for an 8-bit export): calibrates the "
        "reference to the artefact's 65535",
    )
    add.add_argument("--dark-level", type=float, help="the scanner's dark level in the file's units")
    add.add_argument(
        "--library", default="", help=f"artefact folder (default <artefact root>/{ARTEFACT_NAME})"
    )
    add.add_argument("--version", default="", help="version label (default <old version>+<name>)")
    add.set_defaults(handler=cmd_add_vehicle)


def cmd_add_vehicle(args: argparse.Namespace) -> int:
    """``smartcustoms library add vehicle``: a missing or unreadable scan, an unknown type, a pixel size
    that is not positive, a cargo box outside the scan, an altered artefact: one line, exit 2."""
    from smartcustoms.plugins.vehicle.references import ReferenceError
    from smartcustoms.plugins.vehicle.tools import add
    from smartcustoms.plugins.vehicle.tools.scan_files import PixelSpacing, ScanFileError, read_scan

    folder = Path(args.library) if args.library else artefacts.locate(ARTEFACT_NAME, "", _artefact_root(args))
    try:
        name = add.check_type(args.type) if args.type else add.check_model(args.model)
        part = _part(args)
        pixel = PixelSpacing.parse(args.pixel_size_mm, "--pixel-size-mm") if args.pixel_size_mm else None
        scan = read_scan(args.scan)
        enrolment = add.Enrolment(
            name,
            args.kind or ("container" if args.type else ""),
            pixel,
            tuple(args.cargo_box_px) if args.cargo_box_px else None,
            args.description,
            args.open_beam_level,
            args.dark_level,
            part,
        )
        info, file_name = add.add(folder, scan, enrolment, version=args.version)
    except (ScanFileError, ReferenceError, artefacts.ArtefactError, OSError) as error:
        print(f"smartcustoms library add vehicle: {error}", file=sys.stderr)
        return 2
    print(f"added {file_name} to {info.short} in {info.path}")
    return 0


def _part(args: argparse.Namespace) -> str:
    """``--part``: ``container`` for ``--type``, else ``--kind`` (tractor or trailer); "" without it.
    ReferenceError for a part that is none of those."""
    from smartcustoms.plugins.vehicle.references import ReferenceError

    if not getattr(args, "part", False):
        if args.kind in ("tractor", "trailer"):
            raise ReferenceError(f"--kind {args.kind} is a part of a container vehicle: add --part")
        return ""
    if args.type:
        return "container"
    if args.kind not in ("tractor", "trailer"):
        raise ReferenceError("--part with --model needs --kind tractor or --kind trailer")
    return str(args.kind)


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

    if args.data:
        return _eval_data(args)
    if args.generator != "sim":
        return _eval_generator(args)
    seed, count = seed_and_count(args)
    try:
        evaluate.check_seed(seed, count)
    except ValueError as error:
        print(f"smartcustoms eval vehicle: {error}", file=sys.stderr)
        return 2
    try:
        report = evaluate.evaluate(
            count, seed, artefact_root=_artefact_root(args), variations=_variations(args),
            settings=_reference_dir(args), models=tuple(args.models or ()),
        )  # fmt: skip
    except (artefacts.ArtefactError, ReferenceError, ValueError) as error:  # ValueError: unknown model
        print(f"smartcustoms eval vehicle: {error}", file=sys.stderr)
        return 2
    print(evaluate.format_report(report))
    return 0


def _eval_data(args: argparse.Namespace) -> int:
    """``smartcustoms eval vehicle --data DIR``: a folder, annotation or scan not as documented, a type
    without reference, or simulator options given too: one line, exit 2."""
    from smartcustoms.plugins.vehicle.references import ReferenceError
    from smartcustoms.plugins.vehicle.tools import evaluate
    from smartcustoms.plugins.vehicle.tools.labelled import LabelsError
    from smartcustoms.plugins.vehicle.tools.scan_files import ScanFileError

    try:
        simulated = args.variations is not None or getattr(args, "models", None) is not None
        if args.seed is not None or args.count is not None or simulated or args.generator != "sim":
            raise LabelsError(
                "--data DIR scores the scans of DIR: --seed, --count, --variations, --models and "
                "--generator do not apply"
            )
        report = evaluate.evaluate_data(
            args.data, artefact_root=_artefact_root(args), settings=_reference_dir(args)
        )
    except (LabelsError, ScanFileError, artefacts.ArtefactError, ReferenceError) as error:
        print(f"smartcustoms eval vehicle: {error}", file=sys.stderr)
        return 2
    print(evaluate.format_report(report))
    return 0


def seed_and_count(args: argparse.Namespace) -> tuple[int, int]:
    """``eval vehicle``'s seed and count: as given, else the generator's first evaluation seed (the
    simulator's 2000, the independent generator's 5000) and 100 scans."""
    default_seed = ALT_SEED if args.generator != "sim" else EVALUATION_SEED
    return (
        default_seed if args.seed is None else args.seed,
        EVALUATION_COUNT if args.count is None else args.count,
    )


def _eval_generator(args: argparse.Namespace) -> int:
    """``smartcustoms eval vehicle --generator alt``: a seed it refuses, a count under 1, or options of
    the project's simulator or references given too: one line, exit 2."""
    from smartcustoms.plugins.vehicle.references import ReferenceError
    from smartcustoms.plugins.vehicle.tools import evaluate
    from smartcustoms.plugins.vehicle.tools.labelled import LabelsError
    from smartcustoms.plugins.vehicle.tools.scan_files import ScanFileError

    seed, count = seed_and_count(args)
    try:
        if args.variations is not None or args.models is not None or args.references:
            raise ValueError(
                f"--generator {args.generator} makes its own scans and references: --variations, --models "
                "and --references do not apply"
            )
        if count < 1:
            raise ValueError("count must be at least 1")
        report = evaluate.evaluate_generator(count, seed)
    except (ValueError, LabelsError, ScanFileError, ReferenceError, artefacts.ArtefactError) as error:
        print(f"smartcustoms eval vehicle: {error}", file=sys.stderr)
        return 2
    print(evaluate.format_report(report))
    return 0


def _reference_dir(args: argparse.Namespace) -> dict[str, Any]:
    """``--references DIR`` as the plugin's ``reference_dir`` setting; none when not given."""
    folder = getattr(args, "references", "")
    return {"reference_dir": str(Path(folder).absolute())} if folder else {}


def _variations(args: argparse.Namespace) -> tuple[str, ...]:
    """``--variations`` absent: none; bare: the default kinds; else those named."""
    chosen = getattr(args, "variations", None)
    if chosen is None:
        return ()
    return tuple(chosen) or DEFAULT_VARIATIONS


def _artefact_root(args: argparse.Namespace) -> Path:
    """The artefact root of ``--config``'s configuration, else the default root."""
    return artefacts.root_for(getattr(args, "config", None))
