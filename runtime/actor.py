"""The Ray actor that hosts one plugin: it builds and warms the plugin, reads payloads, runs its hook."""

from __future__ import annotations

import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from smartcustoms.core.artefacts import ArtefactInfo, resolve_root
from smartcustoms.core.blobstore import BlobNotFound, BlobStore, open_blob_store
from smartcustoms.core.frames import FrameView
from smartcustoms.core.keys import plugin_state_prefix
from smartcustoms.core.manager import discover, host, new_plugin_manager
from smartcustoms.core.plugin import PluginContext, Role
from smartcustoms.core.state import PluginState, open_state
from smartcustoms.core.types import Assessment, Decision
from smartcustoms.v1 import frame_pb2, results_pb2


@dataclass(frozen=True)
class BatchOutcome:
    """What an actor sends back: serialized PluginResults, or why the whole batch failed."""

    results: tuple[bytes, ...]
    duration_s: float
    failure_reason: str = ""  # "error", "bad_result", "payload_missing"
    failure: str = ""


@dataclass(frozen=True)
class ActorSpec:
    """Everything an actor needs to host its plugin, as plain values (sent to Ray)."""

    import_path: str
    settings: Mapping[str, Any]
    store: Mapping[str, Any]
    namespace: str = "smartcustoms"
    redis_url: str = ""  # "" : no keyed state (tests without Redis)
    artefact_root: str = ""


@dataclass(frozen=True)
class ReadyReport:
    """An actor's answer once its plugin is built and warmed up."""

    plugin: str
    version: str
    artefacts: tuple[dict[str, str], ...]
    build_s: float
    warm_up_s: float


class PluginHost:
    """One plugin, alone in its own plugin manager, inside a Ray actor (or a test).

    The plugin is built here and nowhere else in the frame path: its reference data is loaded and its
    kernels compiled (``smartcustoms_warm_up``) before ``ready`` answers, so no frame waits on a cold
    start.
    """

    def __init__(self, spec: ActorSpec) -> None:
        started = time.perf_counter()
        self.pm = new_plugin_manager()
        self.info = discover(spec.import_path)
        self.state: PluginState | None = (
            open_state(spec.redis_url, plugin_state_prefix(spec.namespace, self.info.spec.state_name))
            if spec.redis_url
            else None
        )
        context = PluginContext(
            self.info.spec.name,
            Role.FRAMES,
            spec.namespace,
            resolve_root(spec.artefact_root),
            self.state,
        )
        self.plugin = host(self.pm, self.info, spec.settings, context)
        self.reference_data = tuple(_reference_data(self.plugin))
        self.store: BlobStore = open_blob_store(**spec.store)
        self.build_s = time.perf_counter() - started
        warm_started = time.perf_counter()
        self.pm.hook.smartcustoms_warm_up()
        self.warm_up_s = time.perf_counter() - warm_started

    def ready(self) -> ReadyReport:
        """Answered once the constructor finished: the plugin is built and warm."""
        return ReadyReport(
            self.info.spec.name,
            self.info.spec.version,
            tuple(
                {"name": r.name, "version": r.version, "content_hash": r.content_hash}
                for r in self.reference_data
            ),
            self.build_s,
            self.warm_up_s,
        )

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
        if self.state is not None:
            self.state.close()

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
            result.reference_data.extend(self.reference_data)
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
        failure_reason=reason,
    )


def _reference_data(plugin: object) -> list[results_pb2.ReferenceData]:
    """The artefacts a plugin says it loaded (``Plugin.artefacts``), as carried on every result."""
    found = []
    for artefact in getattr(plugin, "artefacts", ()) or ():
        if not isinstance(artefact, ArtefactInfo):
            raise TypeError(f"plugin artefacts must be ArtefactInfo, got {type(artefact).__name__}")
        found.append(
            results_pb2.ReferenceData(
                name=artefact.name, version=artefact.version, content_hash=artefact.content_hash
            )
        )
    return found
