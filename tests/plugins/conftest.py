"""Fixtures of the plugin tests: reference data artefacts, built once per session into a temporary
artefact root. Nothing global is set: tests hand the root to the plugin through its context."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartcustoms.core.artefacts import ArtefactInfo


@pytest.fixture(scope="session")
def artefact_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An artefact root of the session, holding what the fixtures below build."""
    return tmp_path_factory.mktemp("artefacts")


@pytest.fixture(scope="session")
def xray_library(artefact_root: Path) -> ArtefactInfo:
    """The ``xray-library`` artefact built from the simulator at ``<artefact_root>/xray-library``
    (a few seconds, once)."""
    from smartcustoms.plugins.xray.tools.build import build_from_simulator

    return build_from_simulator(artefact_root / "xray-library")
