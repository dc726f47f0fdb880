"""The benchmark suite's own wiring, checked on every test run: a benchmark that cannot find what it
measures is skipped by ``make bench``, which is easy to miss in a long report."""

from __future__ import annotations

from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


@pytest.fixture(autouse=True)
def benchkit_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))


def test_every_kernel_case_names_a_plugin_that_imports() -> None:
    from benchkit.kernels import CASES, PLUGIN_PATHS, importable

    assert set(PLUGIN_PATHS) == set(CASES)
    assert {name: importable(path) for name, path in PLUGIN_PATHS.items()} == dict.fromkeys(CASES)
