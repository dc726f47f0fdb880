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
from smartcustoms.core.selections import OUTCOME_KIND, OUTCOMES_WANTED
from smartcustoms.core.state import MemoryState
from smartcustoms.core.types import RECORD_KIND_KEY, Assessment, Decision, Detection, Modality, PluginSpec
from smartcustoms.v1 import frame_pb2

from .features import FEATURES, CargoHistory, Declaration, DeclarationBatch, Outcome
from .model import ARTEFACT_NAME, load_model, model_folder

__all__ = ["RECORD_KIND", "CargoRiskCandidatePlugin", "CargoRiskPlugin"]

RECORD_KIND = "cargo_declaration"
LABEL = "cargo_risk"


class CargoRiskPlugin(Plugin):
    spec = PluginSpec(
        name="cargo_risk",
        version="1.0.0",
        consumes=frozenset({Modality.RECORD}),
        record_kinds=frozenset({RECORD_KIND, OUTCOME_KIND}),
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
        self.history_owner = self.spec.state_name  # outcome records name the live plugin
        # A tool or a test without the runtime's Redis keeps its history in this process.
        self.history = CargoHistory(context.state if context.state is not None else MemoryState())

    @hookimpl
    def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> list[Assessment]:
        """Declarations are scored; officers' inspection outcomes (``inspection_outcome`` records, from
        the review desk) go into the history, in the order they came, and are clear."""
        assessments: list[Assessment] = []
        declarations: list[tuple[str, frame_pb2.RecordBatch]] = []
        for frame in frames:
            if frame.metadata.get(RECORD_KIND_KEY) == OUTCOME_KIND:
                assessments.extend(self.assess_many(declarations))
                declarations = []
                self.learn(frame.frame_id, frame.records())
                assessments.append(Assessment.clear())
            else:
                declarations.append((frame.frame_id, frame.records()))
        return assessments + self.assess_many(declarations)

    def learn(self, frame_id: str, batch: frame_pb2.RecordBatch) -> int:
        """Add the inspection outcomes of one ``inspection_outcome`` batch to the history (once per
        frame); return how many were this plugin's (selected by it, or by the live plugin whose
        history it shares)."""
        changes = [
            (outcome, outcome_of(record.fields, "earlier_"))
            for record in batch.records
            if record.kind == OUTCOME_KIND and record.fields.get("plugin") == self.history_owner
            if (outcome := outcome_of(record.fields, "")) is not None
        ]
        if changes:
            self.history.change_outcomes(changes, token=f"adjudication:{frame_id}")
        return len(changes)

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
        attributes = {
            "record_id": d.record_id,
            "reasons": explanation,
            "hs_code": d.hs_code,
            OUTCOMES_WANTED: "1",  # officers' results of it come back to learn()
        }
        # the parties, origin and route come back with the officer's outcome (core.selections)
        for name, value in (
            ("importer", d.importer),
            ("declarant", d.declarant),
            ("origin", d.origin),
            ("route", d.route),
        ):
            if value:
                attributes[name] = value
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


def outcome_of(fields: Mapping[str, str], prefix: str) -> Outcome | None:
    """The inspection outcome an ``inspection_outcome`` record states (``prefix`` "earlier_": the one
    it replaces), on the declaration the record carries; None when it states none."""
    hit = fields.get(f"{prefix}hit", "")
    if hit not in ("0", "1"):
        return None
    try:
        revenue = max(0.0, float(fields.get(f"{prefix}revenue_found_hkd", "") or 0.0))
    except ValueError:
        revenue = 0.0
    record = frame_pb2.Record(record_id=fields.get("selected_record_id", ""), fields=fields)
    return Outcome(Declaration.from_record(record), hit=hit == "1", revenue_hkd=revenue)


def _share(name: str, value: object, allow_zero: bool = False) -> float:
    share = float(value)  # type: ignore[arg-type]  # a setting: TOML gives a number, a bad one raises here
    low_ok = share >= 0 if allow_zero else share > 0
    if not (math.isfinite(share) and low_ok and share < 1.0 + (0 if allow_zero else 1e-9)):
        raise ValueError(f"cargo_risk: {name} must be a share of the flow in [0, 1], got {value!r}")
    return share
