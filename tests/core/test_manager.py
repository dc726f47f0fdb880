"""The plugin manager: loading by import path, registration checks, entry points, tracing."""

from __future__ import annotations

import importlib.metadata
import logging
import re
import sys
import types
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pluggy
import pytest

from smartcustoms.core import manager
from smartcustoms.core.frames import FrameView, inline_view
from smartcustoms.core.hookspecs import hookimpl
from smartcustoms.core.manager import (
    ENTRY_POINT_GROUP,
    TRACE_ENV,
    PluginInfo,
    PluginLoadError,
    discover,
    discover_plugins,
    entry_point_plugins,
    host,
    load_object,
    load_plugins,
    new_plugin_manager,
    register,
)
from smartcustoms.core.plugin import Plugin, PluginContext, Role
from smartcustoms.core.types import Assessment, Modality, PluginSpec
from smartcustoms.plugins import DEFAULT_PLUGINS
from smartcustoms.v1 import frame_pb2

DOCS = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
NOOP = "smartcustoms.plugins.noop:NoopPlugin"


@pytest.fixture
def pm(monkeypatch: pytest.MonkeyPatch) -> pluggy.PluginManager:
    monkeypatch.delenv(TRACE_ENV, raising=False)
    return new_plugin_manager()


@pytest.fixture
def no_entry_points(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Installed distributions stay out of unit tests; records the groups asked for."""
    groups: list[str] = []

    def entry_points(*, group: str) -> list[Any]:
        groups.append(group)
        return []

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    return groups


def fake_module(monkeypatch: pytest.MonkeyPatch, name: str, **attributes: Any) -> types.ModuleType:
    """An importable module made of ``attributes``, gone after the test."""
    module = types.ModuleType(name)
    for key, value in attributes.items():
        setattr(module, key, value)
    monkeypatch.setitem(sys.modules, name, module)
    return module


def spec_hook(spec: Any) -> Any:
    @hookimpl
    def smartcustoms_plugin_spec() -> Any:
        return spec

    return smartcustoms_plugin_spec


@hookimpl
def _process_batch(frames: Sequence[FrameView]) -> list[Assessment]:
    return [Assessment.clear() for _ in frames]


# ---------------------------------------------------------------------------------------------------
# load_object
# ---------------------------------------------------------------------------------------------------


def test_load_object_module() -> None:
    assert load_object("smartcustoms.plugins.noop") is sys.modules["smartcustoms.plugins.noop"]


def test_load_object_attribute_and_dotted_attribute(monkeypatch: pytest.MonkeyPatch) -> None:
    holder = types.SimpleNamespace(plugin=object())
    fake_module(monkeypatch, "sc_test_holder", holder=holder)
    assert load_object("sc_test_holder:holder") is holder
    assert load_object("sc_test_holder:holder.plugin") is holder.plugin


@pytest.mark.parametrize(
    "import_path",
    ["sc_test_no_such_module", "smartcustoms.plugins.no_such_plugin", "smartcustoms.plugins.noop:missing"],
)
def test_load_object_errors(import_path: str) -> None:
    with pytest.raises(PluginLoadError, match=re.escape(f"cannot import plugin {import_path!r}")):
        load_object(import_path)


def test_load_object_error_keeps_cause() -> None:
    with pytest.raises(PluginLoadError) as caught:
        load_object("smartcustoms.plugins.noop:Missing")
    assert isinstance(caught.value.__cause__, AttributeError)


# ---------------------------------------------------------------------------------------------------
# register
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("import_path", "name", "hooks", "processes_frames", "handles_results"),
    [
        (
            "smartcustoms.plugins.xray:DenseRegionPlugin",
            "dense_region",
            ("smartcustoms_plugin_spec", "smartcustoms_process_batch", "smartcustoms_warm_up"),
            True,
            False,
        ),
        (
            "smartcustoms.plugins.noop:NoopPlugin",
            "noop",
            ("smartcustoms_plugin_spec", "smartcustoms_process_batch"),
            True,
            False,
        ),
        (
            "smartcustoms.plugins.alert_log:AlertLogPlugin",
            "alert_log",
            ("smartcustoms_alert", "smartcustoms_plugin_spec"),
            False,
            True,
        ),
    ],
)
def test_register_builtin(
    pm: pluggy.PluginManager,
    import_path: str,
    name: str,
    hooks: tuple[str, ...],
    processes_frames: bool,
    handles_results: bool,
) -> None:
    info = register(pm, import_path)
    assert info == PluginInfo(info.spec, import_path, "builtin", hooks)
    assert info.spec.name == name
    assert info.processes_frames is processes_frames
    assert info.handles_results is handles_results
    assert isinstance(pm.get_plugin(name), load_object(import_path))  # an instance, built by the host


def test_default_plugins_are_built_in_classes_with_distinct_names() -> None:
    infos = [discover(path) for path in DEFAULT_PLUGINS]
    assert all(path.startswith("smartcustoms.plugins.") for path in DEFAULT_PLUGINS)
    assert all(info.style == "class" for info in infos)
    names = [info.spec.name for info in infos]
    assert len(set(names)) == len(names)
    assert {"xray_detector", "dense_region", "rfid_epc_check", "noop", "alert_log"} <= set(names)


def test_register_records_origin(pm: pluggy.PluginManager) -> None:
    assert register(pm, NOOP, origin="config").origin == "config"


def test_register_object_plugin(pm: pluggy.PluginManager, monkeypatch: pytest.MonkeyPatch) -> None:
    class Plugin:
        @hookimpl
        def smartcustoms_plugin_spec(self) -> PluginSpec:
            return PluginSpec("object_plugin", "1.0")

        @hookimpl
        def smartcustoms_shutdown(self) -> None:
            pass

    plugin = Plugin()
    fake_module(monkeypatch, "sc_test_objects", plugin=plugin)
    info = register(pm, "sc_test_objects:plugin")
    assert pm.get_plugin("object_plugin") is plugin
    assert info.hooks == ("smartcustoms_plugin_spec", "smartcustoms_shutdown")


def test_processes_frames_needs_consumed_modalities(
    pm: pluggy.PluginManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_module(
        monkeypatch,
        "sc_test_consumes_nothing",
        smartcustoms_plugin_spec=spec_hook(PluginSpec("consumes_nothing", "1.0")),
        smartcustoms_process_batch=_process_batch,
    )
    info = register(pm, "sc_test_consumes_nothing")
    assert "smartcustoms_process_batch" in info.hooks
    assert info.processes_frames is False


def test_register_duplicate_name_rejected(pm: pluggy.PluginManager, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_module(
        monkeypatch, "sc_test_impostor", smartcustoms_plugin_spec=spec_hook(PluginSpec("noop", "9.9"))
    )
    register(pm, NOOP)
    with pytest.raises(
        PluginLoadError, match="two plugins are named 'noop' \\(second from 'sc_test_impostor'\\)"
    ):
        register(pm, "sc_test_impostor")
    assert isinstance(pm.get_plugin("noop"), load_object(NOOP))


def test_register_same_plugin_twice_rejected(pm: pluggy.PluginManager) -> None:
    register(pm, NOOP)
    with pytest.raises(PluginLoadError, match="two plugins are named 'noop'"):
        register(pm, NOOP)


def test_register_missing_spec_rejected(pm: pluggy.PluginManager, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_module(monkeypatch, "sc_test_no_spec", smartcustoms_process_batch=_process_batch)
    with pytest.raises(PluginLoadError, match="does not implement smartcustoms_plugin_spec"):
        register(pm, "sc_test_no_spec")
    assert pm.get_plugins() == set()


def test_register_spec_of_wrong_type_rejected(
    pm: pluggy.PluginManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_module(monkeypatch, "sc_test_bad_spec", smartcustoms_plugin_spec=spec_hook({"name": "bad"}))
    with pytest.raises(PluginLoadError, match="returned dict, not a PluginSpec"):
        register(pm, "sc_test_bad_spec")


def test_register_unimportable_plugin(pm: pluggy.PluginManager) -> None:
    with pytest.raises(PluginLoadError, match="cannot import plugin"):
        register(pm, "sc_test_not_installed")


def test_register_invalid_hook_arguments_rejected(
    pm: pluggy.PluginManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    @hookimpl
    def smartcustoms_configure(settings: Mapping[str, Any], nonsense: int) -> None:
        raise AssertionError("never called")

    fake_module(
        monkeypatch,
        "sc_test_bad_args",
        smartcustoms_plugin_spec=spec_hook(PluginSpec("bad_args", "1.0")),
        smartcustoms_configure=smartcustoms_configure,
    )
    with pytest.raises(pluggy.PluginValidationError):
        register(pm, "sc_test_bad_args")


def test_plugin_spec_name_must_be_simple() -> None:
    assert PluginSpec("dense-region_2", "1").name == "dense-region_2"
    for bad in ("", "two words", "dotted.name", "slash/name"):
        with pytest.raises(ValueError, match="simple identifier"):
            PluginSpec(bad, "1")


# ---------------------------------------------------------------------------------------------------
# entry points and load_plugins
# ---------------------------------------------------------------------------------------------------


def fake_entry_points(monkeypatch: pytest.MonkeyPatch, entries: list[Any]) -> list[str]:
    groups: list[str] = []

    def entry_points(*, group: str) -> list[Any]:
        groups.append(group)
        return entries if group == ENTRY_POINT_GROUP else []

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    return groups


def test_entry_point_plugins_discovery(monkeypatch: pytest.MonkeyPatch) -> None:
    with_dist = importlib.metadata.EntryPoint("acme", "acme_customs.declared_value", ENTRY_POINT_GROUP)
    entries = [
        types.SimpleNamespace(
            name=with_dist.name, value=with_dist.value, dist=types.SimpleNamespace(name="acme-customs")
        ),
        importlib.metadata.EntryPoint("loose", "loose_plugin:plugin", ENTRY_POINT_GROUP),  # no distribution
    ]
    groups = fake_entry_points(monkeypatch, entries)
    assert entry_point_plugins() == [
        ("acme_customs.declared_value", "entry point acme (acme-customs)"),
        ("loose_plugin:plugin", "entry point loose (unknown)"),
    ]
    assert groups == ["smartcustoms"]


def test_load_plugins_builtins_only(pm: pluggy.PluginManager, no_entry_points: list[str]) -> None:
    infos = load_plugins(
        pm, builtins=[NOOP, "smartcustoms.plugins.alert_log:AlertLogPlugin"], entry_points=False
    )
    expected = ["noop", "alert_log"]
    assert [info.spec.name for info in infos] == expected
    assert {info.origin for info in infos} == {"builtin"}
    assert no_entry_points == []  # entry points were not even looked up


def test_load_plugins_all_sources_in_order(pm: pluggy.PluginManager, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_module(monkeypatch, "sc_test_extra", smartcustoms_plugin_spec=spec_hook(PluginSpec("extra", "1.0")))
    fake_module(monkeypatch, "sc_test_third", smartcustoms_plugin_spec=spec_hook(PluginSpec("third", "1.0")))
    entry = types.SimpleNamespace(
        name="third", value="sc_test_third", dist=types.SimpleNamespace(name="third-dist")
    )
    fake_entry_points(monkeypatch, [entry])
    infos = load_plugins(pm, builtins=[NOOP], extra=["sc_test_extra"])
    assert [(i.spec.name, i.origin) for i in infos] == [
        ("noop", "builtin"),
        ("extra", "config"),
        ("third", "entry point third (third-dist)"),
    ]
    assert {pm.get_name(p) for p in pm.get_plugins()} == {"noop", "extra", "third"}


def test_load_plugins_third_party_name_clash(
    pm: pluggy.PluginManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_module(monkeypatch, "sc_test_clash", smartcustoms_plugin_spec=spec_hook(PluginSpec("noop", "2.0")))
    fake_entry_points(monkeypatch, [types.SimpleNamespace(name="clash", value="sc_test_clash", dist=None)])
    with pytest.raises(PluginLoadError, match="two plugins are named 'noop'"):
        load_plugins(pm, builtins=[NOOP])


# ---------------------------------------------------------------------------------------------------
# tracing
# ---------------------------------------------------------------------------------------------------


def noop_batch(pm: pluggy.PluginManager) -> None:
    register(pm, NOOP)
    frame = frame_pb2.Frame(frame_id="f-1", source_id="s", modality=frame_pb2.MODALITY_RECORD)
    pm.hook.smartcustoms_process_batch(frames=[inline_view(frame)])


def test_tracing_env_var_enables_tracing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(TRACE_ENV, "1")
    with caplog.at_level(logging.WARNING, logger=manager.__name__):
        noop_batch(new_plugin_manager())
    traces = [r.getMessage() for r in caplog.records if r.name == manager.__name__]
    assert any(m.startswith("plugin trace:") and "smartcustoms_process_batch" in m for m in traces)
    assert any("finish smartcustoms_process_batch" in m for m in traces)


def test_tracing_off_by_default(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv(TRACE_ENV, raising=False)
    with caplog.at_level(logging.DEBUG):
        noop_batch(new_plugin_manager())
    assert not [r for r in caplog.records if "plugin trace" in r.getMessage()]


def test_tracing_empty_value_is_off(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(TRACE_ENV, "")
    with caplog.at_level(logging.DEBUG):
        noop_batch(new_plugin_manager())
    assert not [r for r in caplog.records if "plugin trace" in r.getMessage()]


# ---------------------------------------------------------------------------------------------------
# the example plugin of docs/plugins.md works as documented
# ---------------------------------------------------------------------------------------------------


@pytest.fixture
def docs_example_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    text = DOCS.read_text()
    found = re.search(r"<!-- example-plugin -->\n```python\n(.*?)```", text, re.DOTALL)
    assert found, "docs/plugins.md lost its marked example plugin"
    package = tmp_path / "acme_customs"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "declared_value.py").write_text(found.group(1))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in ("acme_customs.declared_value", "acme_customs"):
        sys.modules.pop(name, None)


@pytest.mark.usefixtures("docs_example_package")
def test_docs_example_plugin_runs_as_documented(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TRACE_ENV, raising=False)
    text = DOCS.read_text()
    snippet = re.search(r"Try it without the runtime.*?```python\n(.*?)```", text, re.DOTALL)
    assert snippet, "docs/plugins.md lost the snippet that tries the example plugin"
    exec(compile(snippet.group(1), "docs/plugins.md", "exec"), {})  # its own asserts check the result
    info = discover("acme_customs.declared_value:DeclaredValue")
    assert info.spec.consumes == frozenset({Modality.RECORD})
    assert info.processes_frames and info.style == "class"


# ---------------------------------------------------------------------------------------------------
# plugins as objects
# ---------------------------------------------------------------------------------------------------


class Counting(Plugin):
    """Counts how often it is built: discovery must not build it."""

    spec = PluginSpec("counting", "1.0", consumes=frozenset({Modality.RECORD}), default_settings={"limit": 3})
    built: list[tuple[dict[str, Any], PluginContext]] = []

    def __init__(self, settings: Mapping[str, Any], context: PluginContext) -> None:
        type(self).built.append((dict(settings), context))
        self.limit = int(settings["limit"])

    @hookimpl
    def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> list[Assessment]:
        return [Assessment.clear() for _ in frames[: self.limit]]


class SettingsOnly(Plugin):
    spec = PluginSpec("settings_only", "1.0")

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.settings = dict(settings)

    @hookimpl
    def smartcustoms_verdict(self, verdict: Any) -> None:
        pass


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> type[Counting]:
    monkeypatch.setattr(Counting, "built", [])
    fake_module(monkeypatch, "sc_test_classes", Counting=Counting, SettingsOnly=SettingsOnly)
    return Counting


def test_discovery_reads_a_class_without_building_it(counting: type[Counting]) -> None:
    info = discover("sc_test_classes:Counting")
    assert info.spec.name == "counting" and info.factory is Counting
    assert info.hooks == ("smartcustoms_plugin_spec", "smartcustoms_process_batch")
    assert info.processes_frames and not info.handles_results
    assert counting.built == []


def test_each_host_builds_its_own_instance_with_settings_and_context(
    pm: pluggy.PluginManager, counting: type[Counting]
) -> None:
    info = discover("sc_test_classes:Counting")
    context = PluginContext("counting", Role.FRAMES, namespace="lok-ma-chau")
    first = host(pm, info, {"limit": 1}, context)
    other_pm = new_plugin_manager()
    second = host(other_pm, info, {"limit": 2}, PluginContext("counting"))
    assert first is not second and pm.get_plugin("counting") is first
    assert [(s["limit"], c.role) for s, c in counting.built] == [(1, Role.FRAMES), (2, Role.TOOL)]
    frames = [inline_view(frame_pb2.Frame(frame_id=f"f{i}")) for i in range(3)]
    assert len(pm.hook.smartcustoms_process_batch(frames=frames)) == 1
    assert len(other_pm.hook.smartcustoms_process_batch(frames=frames)) == 2


def test_a_constructor_takes_only_what_it_names(pm: pluggy.PluginManager, counting: type[Counting]) -> None:
    register(pm, "sc_test_classes:SettingsOnly", settings={"colour": "red"})
    plugin = pm.get_plugin("settings_only")
    assert isinstance(plugin, SettingsOnly) and plugin.settings == {"colour": "red"}
    assert discover("sc_test_classes:SettingsOnly").handles_results


def test_a_constructor_asking_for_more_is_refused(
    pm: pluggy.PluginManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Greedy(Plugin):
        spec = PluginSpec("greedy", "1.0")

        def __init__(self, settings: Mapping[str, Any], database: object) -> None:
            raise AssertionError("never built")

    fake_module(monkeypatch, "sc_test_greedy", Greedy=Greedy)
    with pytest.raises(PluginLoadError, match="asks for database"):
        register(pm, "sc_test_greedy:Greedy")


def test_a_class_without_spec_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    class Nameless:
        @hookimpl
        def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> list[Assessment]:
            return []

    fake_module(monkeypatch, "sc_test_nameless", Nameless=Nameless)
    with pytest.raises(PluginLoadError, match="needs a class attribute `spec = PluginSpec"):
        discover("sc_test_nameless:Nameless")


def test_a_class_with_a_hook_of_unknown_arguments_is_refused_before_it_is_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Wrong(Plugin):
        spec = PluginSpec("wrong", "1.0")

        @hookimpl
        def smartcustoms_verdict(self, verdict: Any, colour: str) -> None:
            pass

    fake_module(monkeypatch, "sc_test_wrong", Wrong=Wrong)
    with pytest.raises(pluggy.PluginValidationError):
        discover("sc_test_wrong:Wrong")


def test_a_module_plugin_of_the_first_contract_keeps_working(
    pm: pluggy.PluginManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    received: list[dict[str, Any]] = []

    @hookimpl
    def smartcustoms_configure(settings: Mapping[str, Any]) -> None:
        received.append(dict(settings))

    fake_module(
        monkeypatch,
        "sc_test_old_style",
        smartcustoms_plugin_spec=spec_hook(PluginSpec("old_style", "0.9", default_settings={"a": 1})),
        smartcustoms_configure=smartcustoms_configure,
        smartcustoms_process_batch=_process_batch,
    )
    info = discover("sc_test_old_style")
    assert info.style == "module" and info.factory is None
    host(pm, info, {"a": 1, "b": 2}, PluginContext("old_style"))
    assert received == [{"a": 1, "b": 2}]
    assert pm.get_plugin("old_style") is sys.modules["sc_test_old_style"]


def test_discover_plugins_refuses_two_of_one_name(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_module(monkeypatch, "sc_test_twin", smartcustoms_plugin_spec=spec_hook(PluginSpec("noop", "2.0")))
    with pytest.raises(PluginLoadError, match="two plugins are named 'noop'"):
        discover_plugins(builtins=[NOOP], extra=["sc_test_twin"], entry_points=False)
