"""PluginHost in-process (no Ray): one plugin, its payloads, and every way a batch can fail."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from smartcustoms.core import artefacts
from smartcustoms.core.blobstore import MemoryBlobStore
from smartcustoms.core.frames import array_frame
from smartcustoms.core.manager import TRACE_ENV, PluginLoadError
from smartcustoms.core.types import Modality
from smartcustoms.runtime.actor import ActorSpec, BatchOutcome, PluginHost, failed_result
from smartcustoms.v1 import frame_pb2, results_pb2

STORE = {"kind": "memory", "namespace": "t"}
PLUGINS = "_plugins_for_actor"


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The helper module of test plugins, importable by its bare name."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    monkeypatch.delenv(TRACE_ENV, raising=False)
    return importlib.import_module(PLUGINS)


def host(name: str, threshold: int = 100, **settings: object) -> PluginHost:
    return PluginHost(ActorSpec(f"{PLUGINS}:{name}", {"threshold": threshold, **settings}, STORE))


def image(peak: int) -> np.ndarray:
    data = np.full((4, 4), 10, dtype=np.uint16)
    data[1, 2] = peak
    return data


def inline(frame_id: str, peak: int) -> bytes:
    frame = array_frame(
        image(peak), modality=Modality.XRAY, source_id="lane-1", sequence=1, frame_id=frame_id
    )
    return frame.SerializeToString()


def in_store(store: MemoryBlobStore, frame_id: str, peak: int) -> bytes:
    """A frame whose payload waits in the host's blob store, as the gateway leaves it."""
    frame = array_frame(
        image(peak), modality=Modality.XRAY, source_id="lane-1", sequence=2, frame_id=frame_id
    )
    with store.open_writer(f"blob-{frame_id}", len(frame.payload)) as writer:
        writer.write(frame.payload)
        ref = writer.commit()
    frame.ClearField("payload")
    frame.blob.CopyFrom(ref)
    return frame.SerializeToString()


def results(outcome: BatchOutcome) -> list[results_pb2.PluginResult]:
    return [results_pb2.PluginResult.FromString(raw) for raw in outcome.results]


def test_host_loads_and_configures_its_plugin(plugins: ModuleType) -> None:
    plugin_host = host("bright", threshold=123)
    assert plugin_host.info.spec.name == "bright"
    assert plugin_host.info.processes_frames
    assert plugin_host.pm.get_plugins() == {plugins.bright}  # alone in its plugin manager
    assert plugins.bright.settings == {"threshold": 123}
    assert isinstance(plugin_host.store, MemoryBlobStore)


@pytest.mark.usefixtures("plugins")
def test_good_batch_inline_and_blob() -> None:
    plugin_host = host("bright")
    store = plugin_host.store
    assert isinstance(store, MemoryBlobStore)
    outcome = plugin_host.process([inline("f-1", peak=50), in_store(store, "f-2", peak=4000)])
    assert outcome.failure_reason == "" and outcome.failure == ""
    assert outcome.duration_s >= 0.0
    clear, alarm = results(outcome)
    assert (clear.plugin, clear.plugin_version, clear.decision, clear.error) == (
        "bright",
        "3.1.4",
        results_pb2.DECISION_CLEAR,
        "",
    )
    assert not clear.detections
    assert alarm.decision == results_pb2.DECISION_ALARM
    assert alarm.risk_score == pytest.approx(0.25)
    [detection] = alarm.detections
    assert (detection.label, detection.plugin, detection.plugin_version) == ("bright", "bright", "3.1.4")
    assert dict(detection.attributes) == {"peak": "4000"}
    assert detection.WhichOneof("region") == "box" and detection.box.x_max == 2.0


@pytest.mark.usefixtures("plugins")
def test_empty_batch() -> None:
    outcome = host("bright").process([])
    assert (outcome.results, outcome.failure_reason) == ((), "")


@pytest.mark.usefixtures("plugins")
def test_tuple_of_assessments_is_accepted() -> None:
    outcome = host("tuple_result").process([inline("f-1", 1), inline("f-2", 2)])
    assert outcome.failure_reason == ""
    assert [r.decision for r in results(outcome)] == [results_pb2.DECISION_CLEAR] * 2


@pytest.mark.usefixtures("plugins")
def test_plugin_raising_is_error() -> None:
    outcome = host("raising").process([inline("f-1", 1), inline("f-2", 2)])
    assert outcome.results == ()
    assert outcome.failure_reason == "error"
    assert outcome.failure == "ValueError: detector crashed"


@pytest.mark.parametrize(
    ("name", "failure"),
    [
        ("short", "expected 2 assessments, got 1"),
        ("not_assessments", "expected Assessment, got str"),
        ("abstains", "expected 2 assessments, got NoneType"),
    ],
)
@pytest.mark.usefixtures("plugins")
def test_wrong_result_is_bad_result(name: str, failure: str) -> None:
    outcome = host(name).process([inline("f-1", 1), inline("f-2", 2)])
    assert outcome.results == ()
    assert (outcome.failure_reason, outcome.failure) == ("bad_result", failure)


@pytest.mark.usefixtures("plugins")
def test_missing_blob_is_payload_missing() -> None:
    frame = frame_pb2.Frame.FromString(inline("f-1", 1))
    frame.ClearField("payload")
    frame.blob.CopyFrom(frame_pb2.BlobRef(store="memory", key="released-already", size_bytes=32))
    outcome = host("bright").process([inline("f-0", 1), frame.SerializeToString()])
    assert outcome.results == ()
    assert outcome.failure_reason == "payload_missing"
    assert "released-already" in outcome.failure


@pytest.mark.usefixtures("plugins")
def test_undecodable_frame_is_error() -> None:
    outcome = host("bright").process([b"\xff\xff not a frame"])
    assert outcome.failure_reason == "error"
    assert outcome.results == ()


def test_shutdown_calls_the_hook(plugins: ModuleType) -> None:
    plugin_host = host("bright")
    before = plugins.bright.shutdowns
    plugin_host.shutdown()
    assert plugins.bright.shutdowns == before + 1


@pytest.mark.usefixtures("plugins")
def test_unknown_plugin_path() -> None:
    with pytest.raises(PluginLoadError, match="cannot import plugin"):
        host("no_such_plugin")


def test_failed_result() -> None:
    result = failed_result("dense_region", "1.0.0", "timeout", "no answer within 30.0 s")
    assert (result.plugin, result.plugin_version) == ("dense_region", "1.0.0")
    assert result.decision == results_pb2.DECISION_MANUAL_INSPECTION
    assert result.error == "timeout: no answer within 30.0 s"
    assert result.failure_reason == "timeout"
    assert not result.detections


def test_failed_result_error_is_bounded() -> None:
    assert len(failed_result("p", "1", "error", "x" * 5000).error) == 2000


def test_a_plugin_class_is_built_warmed_and_reports_its_reference_data(
    plugins: ModuleType, tmp_path: Path
) -> None:
    built = artefacts.build(
        tmp_path / "bright-reference",
        name="bright-reference",
        version="v7",
        source="written by the test",
        write=lambda folder: (folder / "levels.txt").write_text("100\n"),
    )
    plugin_host = host("Warm", reference_dir=str(built.path))
    plugin = plugin_host.pm.get_plugin("warm")
    assert isinstance(plugin, plugins.Warm) and plugin.warmed == 1  # warm before the first frame
    report = plugin_host.ready()
    assert (report.plugin, report.version) == ("warm", "2.0.0")
    assert report.artefacts == (
        {"name": "bright-reference", "version": "v7", "content_hash": built.content_hash},
    )
    assert report.warm_up_s >= 0 and report.build_s >= report.warm_up_s
    (result,) = results(plugin_host.process([inline("f-1", 150)]))
    assert [(r.name, r.version, r.content_hash) for r in result.reference_data] == [
        ("bright-reference", "v7", built.content_hash)
    ]
    assert result.decision == results_pb2.DECISION_ALARM  # the level came from the artefact


@pytest.mark.usefixtures("plugins")
def test_a_plugin_whose_reference_data_is_missing_fails_to_build(tmp_path: Path) -> None:
    with pytest.raises(artefacts.ArtefactError, match="no artefact at"):
        host("Warm", reference_dir=str(tmp_path / "nothing-here"))
