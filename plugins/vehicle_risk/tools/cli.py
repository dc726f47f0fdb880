"""``smartcustoms library build vehicle_risk`` and ``smartcustoms eval vehicle-risk``.

``add_tools`` is called by ``smartcustoms.runtime.tools_cli``; the handlers import the simulator, the
replay and LightGBM only when they run. The artefact root is the configuration's ``artefacts_dir``
(``--config``), else ``$SMARTCUSTOMS_ARTEFACTS_DIR``, else ``~/.cache/smartcustoms/artefacts``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from smartcustoms.plugins.vehicle_risk.tools import (
    EVALUATION_BATCHES,
    EVALUATION_SEEDS,
    EVALUATION_SEEDS_FROM,
    TRAINING_BATCHES,
    TRAINING_SEEDS,
    VALIDATION_SEED,
)


def add_tools(eval_kinds: Any, build_targets: Any) -> None:
    """Add ``vehicle_risk`` to ``smartcustoms library build``, ``vehicle-risk`` to ``smartcustoms eval``."""
    build = build_targets.add_parser(
        "vehicle_risk",
        help="the vehicle-risk-model artefact: the crossing risk model, trained on simulated crossings",
        description=(
            "Replay the crossing simulator's training seeds in time order through the vehicle_risk "
            "plugin's feature code, train its gradient-boosted model on the simulator's ground truth and "
            "write the vehicle-risk-model artefact."
        ),
    )
    build.add_argument("--source", default="sim", help="'sim' (the crossing simulator; the only source)")
    build.add_argument(
        "--out", default="", help="artefact folder (default <artefact root>/vehicle-risk-model)"
    )
    build.add_argument(
        "--batches",
        type=int,
        default=TRAINING_BATCHES,
        help=f"batches of 100 crossings per training seed (default {TRAINING_BATCHES})",
    )
    build.set_defaults(handler=cmd_build)
    evaluate = eval_kinds.add_parser(
        "vehicle-risk",
        help="the vehicle risk model on held-out fleets: precision, recall, duty recovered vs baselines",
        description=(
            "Replay held-out crossing simulator seeds (fleets the model never saw) through the plugin's "
            "feature code and report, at 1, 2, 5 and 10%% inspected, the model's precision, recall of "
            "illicit crossings and duty recovered beside a rule baseline and random selection."
        ),
    )
    evaluate.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=list(EVALUATION_SEEDS),
        help=f"held-out simulator seeds, {EVALUATION_SEEDS_FROM} or above "
        f"(default {' '.join(map(str, EVALUATION_SEEDS))})",
    )
    evaluate.add_argument(
        "--batches",
        type=int,
        default=EVALUATION_BATCHES,
        help=f"batches of 100 crossings per seed (default {EVALUATION_BATCHES})",
    )
    evaluate.add_argument(
        "--model-dir", default="", help="the artefact (default <artefact root>/vehicle-risk-model)"
    )
    evaluate.set_defaults(handler=cmd_eval)


def cmd_build(args: argparse.Namespace) -> int:
    from smartcustoms.core import artefacts
    from smartcustoms.plugins.vehicle_risk.model import ARTEFACT_NAME
    from smartcustoms.plugins.vehicle_risk.tools import build

    started = time.perf_counter()
    try:
        out = Path(args.out) if args.out else artefacts.locate(ARTEFACT_NAME, "", _artefact_root(args))
        build.check_source(args.source)
        print(
            f"training on seeds {', '.join(map(str, TRAINING_SEEDS))} (validation {VALIDATION_SEED}), "
            f"{args.batches * 100:,} crossings each ...",
            file=sys.stderr,
            flush=True,
        )
        info = build.build(out, args.source, batches=args.batches)
    except (artefacts.ArtefactError, ValueError, OSError) as error:
        return _refuse("library build vehicle_risk", error)
    print(f"built {info.short} in {info.path} ({time.perf_counter() - started:.1f} s)")
    print(f"  source: {info.source}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from smartcustoms.core import artefacts
    from smartcustoms.plugins.vehicle_risk.model import load_model, model_folder
    from smartcustoms.plugins.vehicle_risk.tools import evaluate

    try:
        if args.batches < 1:
            raise ValueError("--batches must be at least 1")
        model = load_model(model_folder(args.model_dir, _artefact_root(args)))
        check_held_out(args.seeds, model.training)
    except (artefacts.ArtefactError, ValueError, OSError) as error:
        return _refuse("eval vehicle-risk", error)
    started = time.perf_counter()
    report = evaluate.evaluate(model, args.seeds, args.batches)
    for line in evaluate.format_report(report):
        print(line)
    print(f"({time.perf_counter() - started:.1f} s)")
    return 0


def check_held_out(seeds: list[int], training: Mapping[str, Any]) -> None:
    """ValueError for a seed the model trained or validated on (as its artefact records), or below
    ``EVALUATION_SEEDS_FROM``."""
    used = {int(seed) for seed in training.get("training_seeds", ())} | {
        int(training.get("validation_seed", -1))
    }
    if used & set(seeds) or min(seeds) < EVALUATION_SEEDS_FROM:
        raise ValueError(
            f"seeds {', '.join(map(str, seeds))}: evaluate on held-out seeds, {EVALUATION_SEEDS_FROM} or "
            f"above (the model trained and validated on {', '.join(map(str, sorted(used)))})"
        )


def _refuse(command: str, error: Exception) -> int:
    print(f"smartcustoms {command}: {error}", file=sys.stderr)
    return 2


def _artefact_root(args: argparse.Namespace) -> Path:
    """The artefact root of ``--config``'s configuration, else the default root."""
    from smartcustoms.core import artefacts  # the tools' imports stay lazy: the CLI starts fast

    return artefacts.root_for(getattr(args, "config", None))
