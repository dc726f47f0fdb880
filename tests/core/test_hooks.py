"""The hook contract, one test per hook (datasette style), and the contract's own guards.

Each ``test_hook_<name>`` registers a small plugin on a fresh plugin manager and checks the call
behaves as the hook's docstring in core/hookspecs.py says. The last tests fail when a hook is added
without a test here, or without its signature in docs/plugins.md.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pluggy
import pytest

from smartcustoms.core import hookspecs, verdicts
from smartcustoms.core.frames import FrameView, inline_view
from smartcustoms.core.hookspecs import hookimpl
from smartcustoms.core.manager import TRACE_ENV, new_plugin_manager
from smartcustoms.core.types import Assessment, Detection, Modality, PluginSpec
from smartcustoms.v1 import frame_pb2, results_pb2

DOCS = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


@pytest.fixture
def pm(monkeypatch: pytest.MonkeyPatch) -> pluggy.PluginManager:
    """A fresh plugin manager holding no plugin: no entry points, no tracing."""
    monkeypatch.delenv(TRACE_ENV, raising=False)
    return new_plugin_manager()


def hook_names() -> list[str]:
    """Every hook the contract declares, found by pluggy's spec marker."""
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    return sorted(name for name, obj in vars(hookspecs).items() if hasattr(obj, marker))


def hook_arguments(name: str) -> list[str]:
    return list(inspect.signature(getattr(hookspecs, name)).parameters)


def rfid_frame(frame_id: str) -> frame_pb2.Frame:
    batch = frame_pb2.RfidReadBatch(reader_id="r1", reads=[frame_pb2.RfidRead(epc_hex="00")])
    return frame_pb2.Frame(
        frame_id=frame_id,
        source_id="gate-1-rfid",
        modality=frame_pb2.MODALITY_RFID,
        encoding="protobuf",
        payload=batch.SerializeToString(),
    )


def views(*frame_ids: str) -> list[FrameView]:
    return [inline_view(rfid_frame(frame_id)) for frame_id in frame_ids]


def alarm_verdict() -> results_pb2.Verdict:
    result = results_pb2.PluginResult(plugin="p", plugin_version="1", decision=verdicts.ALARM)
    result.detections.append(Detection("dense_object", 0.9).to_proto("p", "1"))
    return verdicts.combine(rfid_frame("f-1"), [result])


# ---------------------------------------------------------------------------------------------------
# Registration and configuration
# ---------------------------------------------------------------------------------------------------


def test_hook_smartcustoms_plugin_spec(pm: pluggy.PluginManager) -> None:
    class First:
        @hookimpl
        def smartcustoms_plugin_spec(self) -> PluginSpec:
            return PluginSpec("first", "1.0", consumes=frozenset({Modality.XRAY}))

    class Second:
        @hookimpl
        def smartcustoms_plugin_spec(self) -> PluginSpec:
            return PluginSpec("second", "2.0")

    pm.register(First(), name="first")
    pm.register(Second(), name="second")
    specs = pm.hook.smartcustoms_plugin_spec()
    # not firstresult: every plugin answers, the last registered first
    assert [spec.name for spec in specs] == ["second", "first"]
    assert specs[1].consumes == frozenset({Modality.XRAY})
    assert specs[0].consumes == frozenset()  # consumes nothing: acts on results only


def test_hook_smartcustoms_configure(pm: pluggy.PluginManager) -> None:
    received: list[Mapping[str, Any]] = []
    bare_calls: list[None] = []

    class Configurable:
        @hookimpl
        def smartcustoms_configure(self, settings: Mapping[str, Any]) -> None:
            received.append(settings)

    class TakesNothing:
        """An implementation may accept only the arguments it needs, here none."""

        @hookimpl
        def smartcustoms_configure(self) -> None:
            bare_calls.append(None)

    pm.register(Configurable(), name="configurable")
    pm.register(TakesNothing(), name="takes_nothing")
    assert pm.hook.smartcustoms_configure(settings={"threshold": 0.5}) == []
    assert received == [{"threshold": 0.5}]
    assert bare_calls == [None]


def test_hook_smartcustoms_configure_rejects_unknown_argument(pm: pluggy.PluginManager) -> None:
    class Wrong:
        @hookimpl
        def smartcustoms_configure(self, settings: Mapping[str, Any], colour: str) -> None:
            raise AssertionError("never called")

    with pytest.raises(pluggy.PluginValidationError, match="colour"):
        pm.register(Wrong(), name="wrong")


def test_hook_smartcustoms_runtime_started(pm: pluggy.PluginManager) -> None:
    calls: list[tuple[str, Mapping[str, Any]]] = []

    class Watcher:
        def __init__(self, name: str) -> None:
            self.name = name

        @hookimpl
        def smartcustoms_runtime_started(self, config: Mapping[str, Any]) -> None:
            calls.append((self.name, config))

    pm.register(Watcher("early"), name="early")
    config = {"namespace": "t1"}
    pm.hook.smartcustoms_runtime_started.call_historic(kwargs={"config": config})
    assert calls == [("early", config)]

    pm.register(Watcher("late"), name="late")  # historic: replayed on registration
    assert calls == [("early", config), ("late", config)]


def test_hook_smartcustoms_runtime_started_cannot_be_called_directly(pm: pluggy.PluginManager) -> None:
    with pytest.raises(AssertionError, match="historic"):
        pm.hook.smartcustoms_runtime_started(config={})


# ---------------------------------------------------------------------------------------------------
# Processing
# ---------------------------------------------------------------------------------------------------


def test_hook_smartcustoms_process_batch(pm: pluggy.PluginManager) -> None:
    seen: list[list[str]] = []

    class Detector:
        @hookimpl
        def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> list[Assessment]:
            seen.append([frame.frame_id for frame in frames])
            alarm = Assessment.alarm(Detection("foreign_tag", 1.0))
            return [alarm if frame.frame_id == "f-2" else Assessment.clear() for frame in frames]

    pm.register(Detector(), name="detector")
    assessments = pm.hook.smartcustoms_process_batch(frames=views("f-1", "f-2"))
    # firstresult: the bare result, not a list of results; one assessment per frame, in order
    assert seen == [["f-1", "f-2"]]
    assert [a.decision.value for a in assessments] == ["clear", "alarm"]


def test_hook_smartcustoms_process_batch_first_non_none_wins(pm: pluggy.PluginManager) -> None:
    calls: list[str] = []

    class Answers:
        @hookimpl
        def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> list[Assessment]:
            calls.append("answers")
            return [Assessment.clear() for _ in frames]

    class Abstains:
        @hookimpl
        def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> None:
            calls.append("abstains")

    class AlsoAnswers:
        @hookimpl
        def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> list[Assessment]:
            calls.append("also_answers")
            return [Assessment.alarm() for _ in frames]

    pm.register(AlsoAnswers(), name="also_answers")
    pm.register(Answers(), name="answers")
    pm.register(Abstains(), name="abstains")
    result = pm.hook.smartcustoms_process_batch(frames=views("f-1"))
    # last registered runs first; None passes on, the first list stops the call
    assert calls == ["abstains", "answers"]
    assert [a.decision.value for a in result] == ["clear"]


def test_hook_smartcustoms_process_batch_no_answer_is_none(pm: pluggy.PluginManager) -> None:
    assert pm.hook.smartcustoms_process_batch(frames=views("f-1")) is None


def test_hook_smartcustoms_process_batch_exception_propagates(pm: pluggy.PluginManager) -> None:
    class Broken:
        @hookimpl
        def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> list[Assessment]:
            raise RuntimeError("detector crashed")

    pm.register(Broken(), name="broken")
    with pytest.raises(RuntimeError, match="detector crashed"):
        pm.hook.smartcustoms_process_batch(frames=views("f-1"))


# ---------------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------------


def test_hook_smartcustoms_verdict(pm: pluggy.PluginManager) -> None:
    stored: list[tuple[str, str, int]] = []

    class Indexer:
        def __init__(self, name: str) -> None:
            self.name = name

        @hookimpl
        def smartcustoms_verdict(self, verdict: results_pb2.Verdict) -> None:
            stored.append((self.name, verdict.frame_id, verdict.decision))

    pm.register(Indexer("a"), name="a")
    pm.register(Indexer("b"), name="b")
    assert pm.hook.smartcustoms_verdict(verdict=alarm_verdict()) == []
    # not firstresult: every plugin acts on the verdict
    assert sorted(stored) == [("a", "f-1", verdicts.ALARM), ("b", "f-1", verdicts.ALARM)]


def test_hook_smartcustoms_alert(pm: pluggy.PluginManager) -> None:
    alerts: list[results_pb2.Alert] = []

    class Notifier:
        @hookimpl
        def smartcustoms_alert(self, alert: results_pb2.Alert) -> None:
            alerts.append(alert)

    pm.register(Notifier(), name="notifier")
    alert = verdicts.alert_for(alarm_verdict())
    assert alert is not None
    pm.hook.smartcustoms_alert(alert=alert)
    assert [a.alert_id for a in alerts] == ["alert-f-1"]
    assert alerts[0].decision == verdicts.ALARM
    assert [d.label for d in alerts[0].detections] == ["dense_object"]


# ---------------------------------------------------------------------------------------------------
# Lifecycle
# ---------------------------------------------------------------------------------------------------


def test_hook_smartcustoms_warm_up(pm: pluggy.PluginManager) -> None:
    class Detector:
        def __init__(self) -> None:
            self.compiled = False

        @hookimpl
        def smartcustoms_warm_up(self) -> None:
            self.compiled = True

    class Lazy:
        @hookimpl
        def smartcustoms_warm_up(self) -> None:
            raise RuntimeError("reference data missing")

    detector = Detector()
    pm.register(detector, name="detector")
    assert pm.hook.smartcustoms_warm_up() == [] and detector.compiled
    pm.register(Lazy(), name="lazy")
    with pytest.raises(RuntimeError, match="reference data missing"):  # the pool then reports it failed
        pm.hook.smartcustoms_warm_up()


def test_hook_smartcustoms_shutdown(pm: pluggy.PluginManager) -> None:
    released: list[str] = []

    class Holder:
        def __init__(self, name: str) -> None:
            self.name = name

        @hookimpl
        def smartcustoms_shutdown(self) -> None:
            released.append(self.name)

    pm.register(Holder("a"), name="a")
    pm.register(Holder("b"), name="b")
    assert pm.hook.smartcustoms_shutdown() == []
    assert sorted(released) == ["a", "b"]


# ---------------------------------------------------------------------------------------------------
# The contract's guards
# ---------------------------------------------------------------------------------------------------


def test_hook_list_matches_plugin_manager(pm: pluggy.PluginManager) -> None:
    declared = sorted(name for name in vars(pm.hook) if name.startswith("smartcustoms_"))
    assert hook_names() == declared
    assert "smartcustoms_process_batch" in declared  # the introspection found something real


def test_every_hook_has_a_test() -> None:
    module = globals()
    missing = [name for name in hook_names() if f"test_hook_{name}" not in module]
    assert not missing, f"hooks without a test_hook_<name> test in {__file__}: {missing}"


def test_hook_options_match_docstrings() -> None:
    firstresult = {n for n in hook_names() if getattr(hookspecs, n).smartcustoms_spec["firstresult"]}
    historic = {n for n in hook_names() if getattr(hookspecs, n).smartcustoms_spec["historic"]}
    assert firstresult == {"smartcustoms_process_batch"}
    assert historic == {"smartcustoms_runtime_started"}
    for name in hook_names():
        assert inspect.getdoc(getattr(hookspecs, name)), f"{name} has no docstring"


@pytest.mark.parametrize("name", hook_names())
def test_hook_signature_is_documented(name: str) -> None:
    signature = f"{name}({', '.join(hook_arguments(name))})"
    assert signature in DOCS.read_text(), f"docs/plugins.md does not show {signature}"


def test_docs_name_no_hook_that_does_not_exist() -> None:
    documented = set(re.findall(r"\bsmartcustoms_[a-z_]+(?=\()", DOCS.read_text()))
    assert documented <= set(hook_names()), f"docs mention unknown hooks: {documented - set(hook_names())}"
