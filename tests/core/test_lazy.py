"""Modules imported on first use (core.lazy): a stand-in imports its module when an attribute is read, and
finding the built-in plugins, as the stream worker and the gateway do, loads none of the engines that
only the processes running the detectors need."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from smartcustoms.core.lazy import LazyModule, lazy

# Engines of the detectors (numba brings SciPy): each is tens of MiB in every process that imports it.
ENGINES = ("numba", "scipy", "cv2", "onnxruntime", "rapidocr_onnxruntime", "lightgbm")


def loaded_after(code: str) -> dict[str, list[str]]:
    """Run ``code`` in a fresh interpreter; which of ``ENGINES`` (and of any names it puts in the list
    ``watch``) are imported at its end."""
    script = textwrap.dedent(code) + textwrap.dedent(
        f"""
        import json, sys
        names = {ENGINES!r} + tuple(globals().get("watch", ()))
        print(json.dumps({{"loaded": sorted(n for n in names if n in sys.modules)}}))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, list[str]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_a_stand_in_imports_its_module_when_an_attribute_is_read() -> None:
    before = loaded_after(
        """
        from smartcustoms.core.lazy import lazy
        wave = lazy("wave")
        hasattr(wave, "__wrapped__"), hasattr(wave, "__file__")  # probes of dunders import nothing
        watch = ["wave"]
        """
    )
    after = loaded_after(
        """
        from smartcustoms.core.lazy import lazy
        import importlib
        wave = lazy("wave")
        assert wave.open is importlib.import_module("wave").open
        watch = ["wave"]
        """
    )
    assert "wave" not in before["loaded"]
    assert "wave" in after["loaded"]


def test_a_stand_in_keeps_what_it_read_and_reports_a_missing_attribute() -> None:
    stand_in = lazy("json")
    assert isinstance(stand_in, LazyModule)
    assert stand_in.dumps({"a": 1}) == '{"a": 1}'
    assert vars(stand_in)["loads"] is json.loads  # taken once: later reads skip the import machinery
    with pytest.raises(AttributeError):
        stand_in.no_such_function  # noqa: B018  (the read is the test)


def test_the_gateways_enquiry_desk_has_what_its_first_question_needs_once_warmed_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The encoder's activation reads scipy.special through a stand-in: the gateway's warm-up answers
    one question, so no traveller's question imports it. The knowledge base's vectors are cached (in a
    cache of the test's own, built first as a gateway's earlier start would have), so building the
    desk encodes nothing."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # the subprocesses' embedding cache
    build = """
        import asyncio
        from smartcustoms.plugins.enquiry.assistant import EnquiryAssistant
        from smartcustoms.runtime.enquiry import EnquiryDesk
        from smartcustoms.runtime.record_sink import MemoryRecordSink
        desk = EnquiryDesk(EnquiryAssistant, MemoryRecordSink())
        asyncio.run(desk.assistant())
        """
    loaded_after(build)  # a first start: the knowledge base encoded and cached
    found = loaded_after(
        build
        + """
        watch = ["scipy.special"]
        import sys
        built = "scipy.special" in sys.modules
        asyncio.run(desk.warm_up())
        assert not built, "built alone already imports it: this test no longer tests the warm-up"
        """
    )
    assert "scipy.special" in found["loaded"]


def test_a_stand_in_is_pickled_as_its_name() -> None:
    """Ray pickles a function by value with the modules it refers to: a stand-in comes back a stand-in."""
    import pickle

    copy = pickle.loads(pickle.dumps(lazy("json")))
    assert isinstance(copy, LazyModule) and copy.__name__ == "json"
    assert copy.loads("[1]") == [1]


def test_a_stand_in_for_a_missing_module_fails_where_it_is_used() -> None:
    absent = lazy("smartcustoms_no_such_module")
    with pytest.raises(ModuleNotFoundError):
        absent.anything  # noqa: B018


def test_finding_the_built_in_plugins_loads_no_engine() -> None:
    """The stream worker discovers every plugin to read its spec; the detectors run in Ray actors."""
    found = loaded_after(
        """
        from smartcustoms.core.manager import discover_plugins
        assert len(discover_plugins(entry_points=False)) >= 19
        """
    )
    assert found["loaded"] == []


def test_the_gateway_loads_no_engine() -> None:
    found = loaded_after("import smartcustoms.runtime.gateway\nimport smartcustoms.runtime.worker\n")
    assert found["loaded"] == []


def test_a_plugin_built_where_it_runs_has_its_engine_before_its_first_frame() -> None:
    """A Ray actor's host builds and warms up its plugin before it reports ready: the CT detector's
    numba kernels are loaded then, not on the first frame."""
    found = loaded_after(
        """
        from smartcustoms.core.manager import discover, settings_for
        from smartcustoms.runtime.actor import ActorSpec, PluginHost
        path = "smartcustoms.plugins.ct:CtDetectorPlugin"
        store = {"kind": "memory", "namespace": "test"}
        PluginHost(ActorSpec(path, settings_for(discover(path), {}), store)).ready()
        """
    )
    assert "numba" in found["loaded"]
