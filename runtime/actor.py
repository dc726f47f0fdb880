"""The Ray actor that hosts one plugin: it loads the plugin, reads payloads, runs the batch hook."""

from __future__ import annotations

import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from smartcustoms.core.blobstore import BlobNotFound, BlobStore, open_blob_store
from smartcustoms.core.frames import FrameView
from smartcustoms.core.manager import new_plugin_manager, register
from smartcustoms.core.types import Assessment, Decision
from smartcustoms.v1 import frame_pb2, results_pb2


@dataclass(frozen=True)
class BatchOutcome:
    """What an actor sends back: serialized PluginResults, or why the whole batch failed."""

    results: tuple[bytes, ...]
    duration_s: float
    failure_reason: str = ""  # "error", "bad_result", "payload_missing"
    failure: str = ""


class PluginHost:
    """One plugin, alone in its own plugin manager, inside a Ray actor (or a test)."""

    def __init__(self, import_path: str, settings: Mapping[str, Any], store: Mapping[str, Any]) -> None:
        self.pm = new_plugin_manager()
        self.info = register(self.pm, import_path)
        self.pm.hook.smartcustoms_configure(settings=dict(settings))
        self.store: BlobStore = open_blob_store(**store)

    def process(self, frames: list[bytes]) -> BatchOutcome:
        started = time.perf_counter()
        try:
            views = [self._view(frame_pb2.Frame.FromString(raw)) for raw in frames]
            assessments = self.pm.hook.smartcustoms_process_batch(frames=views)
            results = self._results(views, assessments)
        except BlobNotFound as error:
            return BatchOutcome((), time.perf_counter() - started, "payload_missing", str(error))
        except _BadResult as error:
            return BatchOutcome((), time.perf_counter() - started, "bad_result", str(error))
        except Exception as error:
            detail = "".join(traceback.format_exception_only(error)).strip()
            return BatchOutcome((), time.perf_counter() - started, "error", detail)
        duration = time.perf_counter() - started
        return BatchOutcome(tuple(r.SerializeToString() for r in results), duration)

    def shutdown(self) -> None:
        self.pm.hook.smartcustoms_shutdown()
        self.store.close()

    def _view(self, frame: frame_pb2.Frame) -> FrameView:
        if frame.HasField("blob"):
            ref = frame.blob
            return FrameView(frame, lambda: self.store.read(ref))
        return FrameView(frame, lambda: memoryview(frame.payload))

    def _results(self, views: list[FrameView], assessments: object) -> list[results_pb2.PluginResult]:
        if not isinstance(assessments, list | tuple) or len(assessments) != len(views):
            count = len(assessments) if isinstance(assessments, list | tuple) else type(assessments).__name__
            raise _BadResult(f"expected {len(views)} assessments, got {count}")
        spec = self.info.spec
        results = []
        for assessment in assessments:
            if not isinstance(assessment, Assessment):
                raise _BadResult(f"expected Assessment, got {type(assessment).__name__}")
            result = results_pb2.PluginResult(
                plugin=spec.name,
                plugin_version=spec.version,
                decision=assessment.decision.to_proto(),  # type: ignore[arg-type]  # protoc types enum arguments as the enum class; numbers are what it holds
                risk_score=assessment.risk_score,
            )
            result.detections.extend(d.to_proto(spec.name, spec.version) for d in assessment.detections)
            results.append(result)
        return results


class _BadResult(Exception):
    pass


def failed_result(plugin: str, version: str, reason: str, detail: str) -> results_pb2.PluginResult:
    """The result recorded for a frame whose plugin batch failed: it sends the frame to an officer."""
    return results_pb2.PluginResult(
        plugin=plugin,
        plugin_version=version,
        decision=Decision.MANUAL_INSPECTION.to_proto(),  # type: ignore[arg-type]  # protoc types enum arguments as the enum class; numbers are what it holds
        error=f"{reason}: {detail}"[:2000],
    )
