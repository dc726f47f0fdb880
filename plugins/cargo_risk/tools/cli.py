"""``smartcustoms library build cargo_risk``, ``smartcustoms train cargo`` and ``smartcustoms eval cargo``.

Data comes from the simulator (``--source sim``, seeds from ``tools``) or from an export with a column
mapping (``--data FILE.csv --mapping MAP.toml``, see docs/formats.md); rows of the export that do not
parse are counted and skipped, never guessed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from smartcustoms.core import artefacts
from smartcustoms.plugins.cargo_risk.model import ARTEFACT_NAME
from smartcustoms.plugins.cargo_risk.tools import EVALUATION_BATCHES, EVALUATION_SEED, TRAINING_SEED
from smartcustoms.v1 import frame_pb2


def add_tools(eval_kinds: Any, build_targets: Any) -> None:
    build = build_targets.add_parser(
        "cargo_risk",
        help="the cargo-risk-model artefact: the cargo risk model trained on labelled declarations",
        description="Train the cargo risk model on the simulator's declarations (--source sim) or on an "
        "export of labelled declarations (--data FILE --mapping MAP.toml), and write it as an artefact.",
    )
    _data_arguments(build)
    build.add_argument("--out", default="", help=f"artefact folder (default <artefact root>/{ARTEFACT_NAME})")
    build.add_argument("--version", default="", help="version label (default sim-v1, or data-<date>)")
    build.set_defaults(handler=cmd_build)
    evaluate = eval_kinds.add_parser(
        "cargo",
        help="cargo risk on a time split: precision, recall, revenue at 1-10%% inspected, with baselines",
        description="Train on the earlier part of the declarations and test on the later part; print "
        "precision, recall of illicit declarations and revenue recovered at 1, 2, 5 and 10%% inspected, "
        "beside random selection, a rule baseline and a plain GBM on the raw fields.",
    )
    _data_arguments(evaluate)
    evaluate.add_argument(
        "--seed", type=int, default=EVALUATION_SEED, help="simulator seed (default %(default)s)"
    )
    evaluate.add_argument(
        "--batches",
        type=int,
        default=EVALUATION_BATCHES,
        help="simulated batches of 100 (default %(default)s)",
    )
    evaluate.add_argument(
        "--test-share", type=float, default=0.2, help="later share that tests (default 0.2)"
    )
    evaluate.set_defaults(handler=cmd_eval)


def add_training(train_kinds: Any) -> None:
    train = train_kinds.add_parser(
        "cargo",
        help="retrain the cargo risk model into a candidate artefact, to run in shadow mode first",
        description="Train the cargo risk model on labelled declarations (officers' outcomes exported with "
        "their declarations) into a new artefact folder; run it in shadow mode beside the live model "
        "before it replaces it (docs/risk.md).",
    )
    _data_arguments(train)
    train.add_argument("--out", required=True, help="folder of the candidate artefact")
    train.add_argument("--version", default="", help="version label (default data-<date>)")
    train.set_defaults(handler=cmd_build)


def _data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", default="sim", help="'sim' (default) when no --data is given")
    parser.add_argument("--data", default="", help="CSV or Parquet export of labelled declarations")
    parser.add_argument("--mapping", default="", help="column mapping TOML of --data (docs/formats.md)")


def cmd_build(args: argparse.Namespace) -> int:
    from smartcustoms.plugins.cargo_risk.tools import build

    out = Path(args.out) if args.out else artefacts.locate(ARTEFACT_NAME, "", _artefact_root(args))
    started = time.perf_counter()
    try:
        if args.data:
            records = _records(args)
            version = args.version or time.strftime("data-%Y%m%d")
            info = build.build(out, records, source=f"{args.data} ({len(records):,} rows)", version=version)
        elif args.source == "sim":
            info = build.build_from_simulator(out, version=args.version)
        else:
            raise ValueError(f"--source {args.source!r}: only 'sim', or give --data FILE --mapping MAP.toml")
    except (ValueError, OSError) as error:
        print(f"smartcustoms {args.command} cargo: {error}", file=sys.stderr)
        return 2
    print(f"built {info.short} in {info.path} ({time.perf_counter() - started:.1f} s) from {info.source}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from smartcustoms.plugins.cargo_risk.model import load_model, model_folder
    from smartcustoms.plugins.cargo_risk.tools.build import simulated_records
    from smartcustoms.plugins.cargo_risk.tools.evaluate import evaluate

    started = time.perf_counter()
    try:
        if args.data:
            records, what, shipped = _records(args), args.data, None
        else:
            if args.seed == TRAINING_SEED:
                raise ValueError(f"seed {TRAINING_SEED} trained the shipped model: evaluate on another seed")
            records = simulated_records(args.seed, args.batches)
            what = f"simulator seed {args.seed}"
            shipped = _shipped_model(load_model, model_folder, args)
        report = evaluate(records, test_share=args.test_share, shipped=shipped)
    except (ValueError, OSError) as error:
        print(f"smartcustoms eval cargo: {error}", file=sys.stderr)
        return 2
    print(f"cargo risk on {what} ({time.perf_counter() - started:.0f} s)")
    print(report.table())
    return 0


def _shipped_model(load_model: Any, model_folder: Any, args: argparse.Namespace) -> Any:
    """The artefact's model, if one is built (its row is left out otherwise)."""
    try:
        return load_model(model_folder("", _artefact_root(args))).model
    except (OSError, ValueError):
        return None


def _records(args: argparse.Namespace) -> list[frame_pb2.Record]:
    """The parsed rows of ``--data``; rows that do not parse are counted on stderr and left out."""
    from smartcustoms.core.records_csv import RowError, load_mapping, read_records

    if not args.mapping:
        raise ValueError("--data needs --mapping MAP.toml (docs/formats.md)")
    mapping = load_mapping(Path(args.mapping))
    records, rejected = [], 0
    for item in read_records(Path(args.data), mapping):
        if isinstance(item, RowError):
            rejected += 1
        else:
            records.append(item)
    if rejected:
        print(f"{args.data}: {rejected:,} rows did not parse and were left out", file=sys.stderr)
    return records


def _artefact_root(args: argparse.Namespace) -> Path:
    """The artefact root of ``--config``'s configuration, else the default root."""
    return artefacts.root_for(getattr(args, "config", None))
