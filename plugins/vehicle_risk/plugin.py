"""vehicle_risk: the hook class. Scores each crossing of a record frame and selects some for search.

Per frame (a ``RecordBatch`` of ``vehicle_crossing`` records, in time order): each crossing's features
(``features``: the record's own fields and the plate's and driver's history in state, as of the
crossing's timestamp, then the crossing added to that history) are scored by the model of the
``vehicle-risk-model`` artefact, and the inspection budget selects those above the running
(1 - ``inspect_share``) quantile of recent scores plus ``exploration_share`` of random picks. A crossing
of a watched plate or by a watched driver is always selected. The frame is ALARM when any crossing is
selected, with one detection per selected crossing; its risk score is the highest of its crossings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from smartcustoms.core.frames import FrameView
from smartcustoms.core.hookspecs import hookimpl
from smartcustoms.core.plugin import Plugin, PluginContext
from smartcustoms.core.risk import InspectionBudget, Reason, top_reasons
from smartcustoms.core.state import PluginState
from smartcustoms.core.types import Assessment, Decision, Detection, Modality, PluginSpec
from smartcustoms.plugins.vehicle_risk import watchlist
from smartcustoms.plugins.vehicle_risk.features import (
    CROSSING_KIND,
    FEATURE_NAMES,
    CrossingFeatures,
    crossing_features,
    display_value,
)
from smartcustoms.plugins.vehicle_risk.history import CrossingHistory
from smartcustoms.plugins.vehicle_risk.model import ARTEFACT_NAME, load_model, model_folder
from smartcustoms.plugins.vehicle_risk.watchlist import WatchEntry
from smartcustoms.v1 import frame_pb2

LABEL = "vehicle_risk"


@dataclass(frozen=True)
class RiskSettings:
    model_dir: str = ""  # the vehicle-risk-model artefact; "" = <artefact root>/vehicle-risk-model
    inspect_share: float = 0.05  # of the flow selected by score
    exploration_share: float = 0.005  # of the flow picked at random besides
    reasons: int = 3  # features named per selected crossing

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> RiskSettings:
        unknown = sorted(set(settings) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"vehicle_risk: unknown setting(s) {', '.join(unknown)}")
        parsed = cls(**settings)
        if not 1 <= int(parsed.reasons) <= len(FEATURE_NAMES):
            raise ValueError(f"vehicle_risk: reasons must be 1 to {len(FEATURE_NAMES)}, got {parsed.reasons}")
        return parsed


SPEC = PluginSpec(
    name="vehicle_risk",
    version="1.0.0",
    consumes=frozenset({Modality.RECORD}),
    description="cross-boundary private-car crossings scored from the plate's and driver's history, "
    "with reasons; an inspection budget selects the riskiest, watchlisted plates always",
    default_settings={f.name: f.default for f in fields(RiskSettings)},
    record_kinds=frozenset({CROSSING_KIND}),
    artefacts=(ARTEFACT_NAME,),
)


class VehicleRiskPlugin(Plugin):
    """One model, one budget and the state's history per hosting process."""

    spec = SPEC

    def __init__(self, settings: Mapping[str, Any], context: PluginContext) -> None:
        self.settings = RiskSettings.from_mapping(settings)
        self.model = load_model(model_folder(self.settings.model_dir, context.artefact_root))
        self.artefacts = (self.model.info,)
        self.state: PluginState | None = context.state
        self.history = CrossingHistory(self.state) if self.state is not None else None
        self.budget = InspectionBudget(
            float(self.settings.inspect_share),
            float(self.settings.exploration_share),
            warm_scores=self.model.warm_scores,
        )

    @hookimpl
    def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> list[Assessment]:
        return [self.assess(frame) for frame in frames]

    @hookimpl
    def smartcustoms_warm_up(self) -> None:
        """Load LightGBM's code paths: score and explain one crossing with every feature missing."""
        row = np.full((1, len(FEATURE_NAMES)), np.nan)
        self.model.gbm.score(row)
        self.model.gbm.contributions(row)

    def assess(self, frame: FrameView) -> Assessment:
        """The assessment of one record frame; records of other kinds in it are ignored."""
        records = [r for r in frame.records().records if r.kind == CROSSING_KIND]
        if not records:
            return Assessment.clear()
        rows = [
            crossing_features(record, self.history, f"{frame.frame_id}/{n}")
            for n, record in enumerate(records)
        ]
        matrix = np.vstack([row.values for row in rows])
        scores = self.model.gbm.score(matrix)
        selection = self.budget.select(scores, [row.crossing.event_id for row in rows])
        watched = [self._watched(row) for row in rows]
        picked = [n for n in range(len(rows)) if selection.selected[n] or watched[n]]
        risk_score = float(scores.max())
        if not picked:
            return Assessment(Decision.CLEAR, risk_score=risk_score)
        contributions = self.model.gbm.contributions(matrix[picked])
        detections = [
            self._detection(
                records[n],
                rows[n],
                float(scores[n]),
                contributions[i],
                watched[n],
                bool(selection.explored[n]),
            )
            for i, n in enumerate(picked)
        ]
        return Assessment.alarm(*detections, risk_score=risk_score)

    def _watched(self, row: CrossingFeatures) -> list[tuple[str, WatchEntry]]:
        if self.state is None:
            return []
        return watchlist.lookup(self.state, row.plate, row.driver)

    def _detection(
        self,
        record: frame_pb2.Record,
        row: CrossingFeatures,
        score: float,
        contributions: np.ndarray,
        watched: list[tuple[str, WatchEntry]],
        explored: bool,
    ) -> Detection:
        found = top_reasons(contributions, FEATURE_NAMES, row.values, k=int(self.settings.reasons))
        reasons = [f"watchlist: {entry.reason}" for _, entry in watched] + [_reason(r) for r in found]
        attributes = {
            "record_id": row.crossing.event_id,
            "plate_hk": record.fields.get("plate_hk", ""),
            "plate_mainland": record.fields.get("plate_mainland", ""),
            "crossing_point": record.fields.get("crossing_point", ""),
            "reasons": "; ".join(reasons),
            "explored": "1" if explored and not watched else "0",
        }
        if watched:
            attributes["watchlist"] = ",".join(kind for kind, _ in watched)
        if row.missing:
            attributes["partial"] = ",".join(row.missing)
        why = (
            "watchlist"
            if watched
            else "exploration pick"
            if explored
            else "score above the budget's threshold"
        )
        explanation = f"crossing {row.crossing.event_id} selected ({why}), score {score:.3f}: " + (
            "; ".join(reasons) or "no feature raised the score"
        )
        return Detection(LABEL, score, explanation=explanation, attributes=attributes)


def _reason(reason: Reason) -> str:
    """``feature=value (+contribution)``, categories by name."""
    return f"{reason.feature}={display_value(reason.feature, reason.value)} ({reason.contribution:+.2f})"
