"""The ``smartcustoms`` command's offline subcommands."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartcustoms.runtime.cli import main


def test_plugins_lists_every_plugin_with_version_state_and_hooks(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[plugins.noop]\nenabled = true\n[plugins.dense_region]\nenabled = false\n")
    with pytest.raises(SystemExit) as done:
        main(["--config", str(config), "plugins"])
    assert done.value.code == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[1:]}
    assert set(rows) >= {"dense_region", "rfid_epc_check", "noop", "alert_log"}
    assert rows["noop"][1:3] == ["1.0.0", "yes"]
    assert rows["dense_region"][2] == "no"
    assert rows["dense_region"][3] == "xray"
    assert "process_batch" in " ".join(rows["rfid_epc_check"])
    assert "alert," in " ".join(rows["alert_log"])


def test_an_unknown_setting_is_reported_plainly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[gateway]\nportt = 1\n")
    with pytest.raises(SystemExit) as done:
        main(["--config", str(config), "plugins"])
    assert done.value.code == 2
    assert "configuration error: unknown setting(s) in gateway: portt" in capsys.readouterr().err
