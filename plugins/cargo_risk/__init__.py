"""cargo_risk: scores every cargo declaration as it streams and selects the riskiest for inspection.

Each record of a ``cargo_declaration`` batch gets features from its own fields and from history in the
plugin's keyed state (``features``), a score from the gradient-boosted model of the
``cargo-risk-model`` artefact (``model``), and is selected for inspection when its score is in the top
``inspect_share`` of the flow, or by the small ``exploration_share`` of random picks that keeps
outcomes coming for declarations the model would pass. A batch with a selection is an ALARM with one
detection per selected declaration, its reasons the model's own feature contributions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from smartcustoms.core.frames import FrameView
from smartcustoms.core.hookspecs import hookimpl
from smartcustoms.core.plugin import Plugin, PluginContext
from smartcustoms.core.risk import InspectionBudget, Selection, top_reasons
from smartcustoms.core.state import MemoryState
from smartcustoms.core.types import Assessment, Decision, Detection, Modality, PluginSpec
from smartcustoms.v1 import frame_pb2

from .features import FEATURES, CargoHistory, Declaration, DeclarationBatch
from .model import ARTEFACT_NAME, load_model, model_folder

__all__ = ["RECORD_KIND", "CargoRiskCandidatePlugin", "CargoRiskPlugin"]

RECORD_KIND = "cargo_declaration"
LABEL = "cargo_risk"


class CargoRiskPlugin(Plugin):
    spec = PluginSpec(
        name="cargo_risk",
        version="1.0.0",
        consumes=frozenset({Modality.RECORD}),
        record_kinds=frozenset({RECORD_KIND}),
        description="scores cargo declarations against their history and selects the riskiest for inspection",
        default_settings={
            "inspect_share": 0.02,
            "exploration_share": 0.002,
            "reasons": 3,
            "model_dir": "",
        },
        artefacts=(ARTEFACT_NAME,),
    )

    def __init__(self, settings: Mapping[str, Any], context: PluginContext) -> None:
        loaded = load_model(model_folder(str(settings.get("model_dir", "")), context.artefact_root))
        self.model = loaded.model
        self.artefacts = (loaded.info,)
        self.budget = InspectionBudget(
            _share("inspect_share", settings.get("inspect_share", 0.02)),
            _share("exploration_share", settings.get("exploration_share", 0.002), allow_zero=True),
            warm_scores=loaded.calibration_scores,
        )
        self.reasons = int(settings.get("reasons", 3))
        # A tool or a test without the runtime's Redis keeps its history in this process.
        self.history = CargoHistory(context.state if context.state is not None else MemoryState())

    @hookimpl
    def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> list[Assessment]:
        return self.assess_many([(frame.frame_id, frame.records()) for frame in frames])

    @hookimpl
    def smartcustoms_warm_up(self) -> None:
        """Score, explain and walk one declaration (loads the compiled kernels), touching no state."""
        row = np.full((1, len(FEATURES)), np.nan)
        self.model.score(row)
        self.model.contributions(row)
        CargoHistory(MemoryState()).features([Declaration.from_record(frame_pb2.Record())], token="warm-up")

    def assess(self, frame_id: str, batch: frame_pb2.RecordBatch) -> Assessment:
        """Score and select the declarations of one batch."""
        return self.assess_many([(frame_id, batch)])[0]

    def assess_many(self, batches: Sequence[tuple[str, frame_pb2.RecordBatch]]) -> list[Assessment]:
        """Score and select the declarations of each batch, in order (each sees the history the ones
        before it wrote); the reasons of all their selections come from one call of the model."""
        scored = [self._score(frame_id, batch) for frame_id, batch in batches]
        chosen_rows = [s.rows[s.chosen] for s in scored if s is not None]
        everything = np.vstack(chosen_rows) if chosen_rows else np.empty((0, len(FEATURES)))
        contributions = self.model.contributions(everything) if len(everything) else everything
        assessments, at = [], 0
        for s in scored:
            if s is None:
                assessments.append(Assessment.clear())
                continue
            assessments.append(self._assessment(s, contributions[at : at + len(s.chosen)]))
            at += len(s.chosen)
        return assessments

    def _score(self, frame_id: str, batch: frame_pb2.RecordBatch) -> _Scored | None:
        declarations = DeclarationBatch.from_records(batch.records)
        if not len(declarations):
            return None
        rows = self.history.features(declarations, token=frame_id)
        scores = self.model.score(rows)
        selection = self.budget.select(scores, declarations.record_ids)
        return _Scored(declarations, rows, scores, selection, np.flatnonzero(selection.selected))

    def _assessment(self, s: _Scored, contributions: np.ndarray) -> Assessment:
        detections = tuple(
            self._detection(
                s.declarations.declaration(int(i)),
                float(s.scores[i]),
                contributions[n],
                s.rows[i],
                bool(s.selection.explored[i]),
            )
            for n, i in enumerate(s.chosen)
        )
        decision = Decision.ALARM if detections else Decision.CLEAR
        return Assessment(decision, detections, risk_score=float(s.scores.max()))

    def _detection(
        self, d: Declaration, score: float, contributions: np.ndarray, values: np.ndarray, explored: bool
    ) -> Detection:
        reasons = top_reasons(contributions, self.model.feature_names, values, k=self.reasons)
        explanation = "; ".join(map(str, reasons)) or "no feature raised the score"
        if explored:
            explanation = "random pick for learning (score alone would not select it); " + explanation
        attributes = {"record_id": d.record_id, "reasons": explanation, "hs_code": d.hs_code}
        if d.importer:
            attributes["importer"] = d.importer
        if explored:
            attributes["explored"] = "1"
        if d.missing:
            attributes["partial"] = ",".join(d.missing)
        return Detection(
            label=LABEL, score=score, explanation=f"{d.record_id}: {explanation}", attributes=attributes
        )


class CargoRiskCandidatePlugin(CargoRiskPlugin):
    """A retrained cargo model (``smartcustoms train cargo --out DIR``) beside the live one: off by
    default; enabled in shadow mode with ``settings.model_dir = DIR``, it scores the same declarations
    against the same history (the live plugin's keyed state) and its selections are compared with the
    live plugin's, never acted on. Its history writes use the live plugin's tokens, so they add nothing."""

    spec = replace(
        CargoRiskPlugin.spec,
        name="cargo_risk_candidate",
        description="a retrained cargo risk model, run in shadow beside cargo_risk before it replaces it",
        enabled_by_default=False,
        state_of="cargo_risk",
    )

    def __init__(self, settings: Mapping[str, Any], context: PluginContext) -> None:
        if not str(settings.get("model_dir", "")).strip():
            raise ValueError(
                "cargo_risk_candidate: set settings.model_dir to the candidate artefact "
                "(smartcustoms train cargo --out DIR)"
            )
        super().__init__(settings, context)


@dataclass(frozen=True)
class _Scored:
    """One batch scored and selected, waiting for its selections' reasons."""

    declarations: DeclarationBatch
    rows: np.ndarray
    scores: np.ndarray
    selection: Selection
    chosen: np.ndarray  # indices of the selected declarations


def _share(name: str, value: object, allow_zero: bool = False) -> float:
    share = float(value)  # type: ignore[arg-type]  # a setting: TOML gives a number, a bad one raises here
    low_ok = share >= 0 if allow_zero else share > 0
    if not (math.isfinite(share) and low_ok and share < 1.0 + (0 if allow_zero else 1e-9)):
        raise ValueError(f"cargo_risk: {name} must be a share of the flow in [0, 1], got {value!r}")
    return share
