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
    entry_point_plugins,
    load_object,
    load_plugins,
    new_plugin_manager,
    register,
)
from smartcustoms.core.types import Assessment, Modality, PluginSpec
from smartcustoms.plugins import DEFAULT_PLUGINS
from smartcustoms.v1 import frame_pb2

DOCS = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


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
        load_object("smartcustoms.plugins.noop:missing")
    assert isinstance(caught.value.__cause__, AttributeError)


# ---------------------------------------------------------------------------------------------------
# register
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("import_path", "name", "hooks", "processes_frames"),
    [
        (
            "smartcustoms.plugins.dense_region",
            "dense_region",
            ("smartcustoms_configure", "smartcustoms_plugin_spec", "smartcustoms_process_batch"),
            True,
        ),
        (
            "smartcustoms.plugins.rfid_epc_check",
            "rfid_epc_check",
            ("smartcustoms_plugin_spec", "smartcustoms_process_batch"),
            True,
        ),
        (
            "smartcustoms.plugins.noop",
            "noop",
            ("smartcustoms_plugin_spec", "smartcustoms_process_batch"),
            True,
        ),
        (
            "smartcustoms.plugins.alert_log",
            "alert_log",
            ("smartcustoms_alert", "smartcustoms_plugin_spec"),
            False,
        ),
    ],
)
def test_register_builtin(
    pm: pluggy.PluginManager, import_path: str, name: str, hooks: tuple[str, ...], processes_frames: bool
) -> None:
    info = register(pm, import_path)
    assert info == PluginInfo(info.spec, import_path, "builtin", hooks)
    assert info.spec.name == name
    assert info.processes_frames is processes_frames
    assert pm.get_plugin(name) is sys.modules[import_path]


def test_default_plugins_are_built_in_modules_with_distinct_names() -> None:
    assert all(path.startswith("smartcustoms.plugins.") for path in DEFAULT_PLUGINS)
    assert {"smartcustoms.plugins.dense_region", "smartcustoms.plugins.noop"} <= set(DEFAULT_PLUGINS)
    names = [load_object(path).smartcustoms_plugin_spec().name for path in DEFAULT_PLUGINS]
    assert len(set(names)) == len(names)


def test_register_records_origin(pm: pluggy.PluginManager) -> None:
    assert register(pm, "smartcustoms.plugins.noop", origin="config").origin == "config"


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
    register(pm, "smartcustoms.plugins.noop")
    with pytest.raises(
        PluginLoadError, match="two plugins are named 'noop' \\(second from 'sc_test_impostor'\\)"
    ):
        register(pm, "sc_test_impostor")
    assert pm.get_plugin("noop") is sys.modules["smartcustoms.plugins.noop"]


def test_register_same_plugin_twice_rejected(pm: pluggy.PluginManager) -> None:
    register(pm, "smartcustoms.plugins.noop")
    with pytest.raises(PluginLoadError, match="two plugins are named 'noop'"):
        register(pm, "smartcustoms.plugins.noop")


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
    infos = load_plugins(pm, entry_points=False)
    expected = [load_object(path).smartcustoms_plugin_spec().name for path in DEFAULT_PLUGINS]
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
    infos = load_plugins(pm, builtins=["smartcustoms.plugins.noop"], extra=["sc_test_extra"])
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
        load_plugins(pm, builtins=["smartcustoms.plugins.noop"])


# ---------------------------------------------------------------------------------------------------
# tracing
# ---------------------------------------------------------------------------------------------------


def noop_batch(pm: pluggy.PluginManager) -> None:
    register(pm, "smartcustoms.plugins.noop")
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
    pm = new_plugin_manager()
    info = register(pm, "acme_customs.declared_value")
    assert info.spec.consumes == frozenset({Modality.RECORD})
    assert info.processes_frames
