"""The ``smartcustoms`` command's offline subcommands."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from smartcustoms.runtime.cli import main


def test_plugins_lists_every_plugin_with_version_state_mode_and_hooks(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        "[plugins.noop]\nenabled = true\n[plugins.dense_region]\nenabled = false\n"
        '[plugins.ct_detector]\nmode = "shadow"\n'
    )
    with pytest.raises(SystemExit) as done:
        main(["--config", str(config), "plugins"])
    assert done.value.code == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    rows = {line.split()[0]: line.split() for line in lines if not line.startswith(" ")}
    assert set(rows) >= {"dense_region", "rfid_epc_check", "noop", "alert_log", "xray_detector"}
    assert rows["noop"][1:4] == ["1.1.0", "yes", "live"]
    assert rows["dense_region"][2:5] == ["no", "live", "xray"]
    assert rows["ct_detector"][3] == "shadow"
    assert rows["xray_detector"][6] == "class"
    assert "process_batch" in " ".join(rows["rfid_epc_check"])
    assert "alert," in " ".join(rows["alert_log"])


def test_plugins_shows_the_reference_data_each_plugin_loads(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from smartcustoms.core.artefacts import read

    root = Path(os.environ["SMARTCUSTOMS_ARTEFACTS_DIR"])  # built for the session by tests/conftest.py
    library = read(root / "xray-library", verify=False)
    empty = tmp_path / "c.toml"
    empty.write_text(f'artefacts_dir = "{tmp_path / "nothing"}"\n')
    for config, expected in (
        (None, f"xray-library {library.version} sha256:{library.content_hash[:16]} at {library.path}"),
        (empty, "xray-library: MISSING (no artefact at"),
    ):
        with pytest.raises(SystemExit):
            main([*(["--config", str(config)] if config else []), "plugins"])
        shown = [line.strip() for line in capsys.readouterr().out.splitlines() if "reference data:" in line]
        assert any(expected in line for line in shown), shown


def test_an_unknown_setting_is_reported_plainly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[gateway]\nportt = 1\n")
    with pytest.raises(SystemExit) as done:
        main(["--config", str(config), "plugins"])
    assert done.value.code == 2
    assert "configuration error: unknown setting(s) in gateway: portt" in capsys.readouterr().err


def test_a_plugin_that_cannot_start_is_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from smartcustoms.runtime import cli
    from smartcustoms.runtime.readiness import PipelineError

    def failing(args: object) -> int:
        raise PipelineError("the stream worker cannot decide frames: plugin pools failed: xray_detector: x")

    monkeypatch.setattr(cli, "cmd_up", failing)
    with pytest.raises(SystemExit) as done:
        main(["up"])
    assert done.value.code == 1
    assert capsys.readouterr().err.splitlines() == [
        "smartcustoms: the stream worker cannot decide frames: plugin pools failed: xray_detector: x"
    ]
