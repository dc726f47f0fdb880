"""``smartcustoms eval SYSTEM`` and ``smartcustoms library build ARTEFACT``: the offline tools of the
built-in plugins, each kept in its plugin's ``tools`` package and registered here.

A tool module has ``add_tools(eval_kinds, build_targets)``, which adds its sub-parsers (with
``set_defaults(handler=...)``) to ``smartcustoms eval`` and ``smartcustoms library build``, and may have
``add_training(train_kinds)`` for ``smartcustoms train`` (retraining a model on outcomes) and
``add_library_entries(add_targets)`` for ``smartcustoms library add`` (a new entry in an artefact) and
``add_calibration(calibrate_kinds)`` for ``smartcustoms calibrate`` (a scanner's calibration file).
"""

from __future__ import annotations

import importlib
from typing import Any

TOOL_MODULES: tuple[str, ...] = (
    "smartcustoms.plugins.xray.tools.cli",
    "smartcustoms.plugins.ct.tools.cli",
    "smartcustoms.plugins.vehicle.tools.cli",
    "smartcustoms.plugins.vehicle_risk.tools.cli",
    "smartcustoms.plugins.cargo_risk.tools.cli",
    "smartcustoms.plugins.evidence.tools.cli",
    "smartcustoms.plugins.plate.tools.cli",
    "smartcustoms.plugins.liquor.tools.cli",
    "smartcustoms.plugins.air_queue.tools.cli",
    "smartcustoms.plugins.enquiry.tools.cli",
    "smartcustoms.plugins.ipr.tools.cli",
    "smartcustoms.plugins.crime.tools.cli",
)


def add_parser(commands: Any) -> None:
    evaluate = commands.add_parser(
        "eval", help="evaluate a detector on a held-out data set, against its truth"
    )
    eval_kinds = evaluate.add_subparsers(dest="system", required=True, metavar="SYSTEM")
    library = commands.add_parser(
        "library", help="reference data of the plugins: build a versioned artefact from a named source"
    )
    actions = library.add_subparsers(dest="action", required=True)
    build = actions.add_parser(
        "build",
        help="build an artefact (threat library, vehicle references) from the simulator or a site's folder",
    )
    build_targets = build.add_subparsers(dest="artefact", required=True, metavar="ARTEFACT")
    add = actions.add_parser(
        "add",
        help="extend an artefact with a new entry (a liquor product from photos, a site's empty-container or "
        "vehicle reference scan), as a new version",
    )
    add_targets = add.add_subparsers(dest="artefact", required=True, metavar="ARTEFACT")
    training = commands.add_parser(
        "train", help="retrain a risk model on labelled outcomes into a candidate artefact"
    )
    train_kinds = training.add_subparsers(dest="system", required=True, metavar="SYSTEM")
    calibrating = commands.add_parser(
        "calibrate", help="a detector's calibration from a scanner's own reference scans (air, step wedge)"
    )
    calibrate_kinds = calibrating.add_subparsers(dest="system", required=True, metavar="SYSTEM")
    for module in TOOL_MODULES:
        tools = importlib.import_module(module)
        tools.add_tools(eval_kinds, build_targets)
        if hasattr(tools, "add_training"):
            tools.add_training(train_kinds)
        if hasattr(tools, "add_library_entries"):
            tools.add_library_entries(add_targets)
        if hasattr(tools, "add_calibration"):
            tools.add_calibration(calibrate_kinds)
