"""``smartcustoms eval vehicle --generator alt``: the cross-simulator check on the independent generator
(``hardware.sim.vehicle_alt``), its references enrolled as a site enrols its own, scored as labelled scans
from outside are."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from smartcustoms.hardware.sim import vehicle_alt
from smartcustoms.plugins.vehicle.tools import cli, evaluate, labelled

SEED = 5001
COUNT = 3


def _run(*argv: str) -> int:
    top = argparse.ArgumentParser(prog="smartcustoms")
    kinds = top.add_subparsers(dest="command").add_parser("eval").add_subparsers(dest="kind")
    build = argparse.ArgumentParser().add_subparsers(dest="target")
    cli.add_tools(kinds, build)
    args = top.parse_args(["eval", *argv])
    code: int = args.handler(args)
    return code


def _figure_lines(report_text: str) -> list[str]:
    lines = report_text.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("class"))
    return [line for line in lines[start:] if not line.startswith("time per frame")]


def test_the_generators_evaluation_is_the_labelled_evaluation_of_its_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The figures printed are those of ``eval vehicle --data`` on the folder the generator writes for
    the same seed and count, with its references enrolled into a library of their own."""
    assert _run("vehicle", "--generator", "alt", "--seed", str(SEED), "--count", str(COUNT)) == 0
    printed = capsys.readouterr().out
    header = printed.splitlines()[0]
    assert header.startswith("vehicle evaluation on the independent generator (alt")
    assert f"{COUNT} frames of seed {SEED}" in header
    data = vehicle_alt.write_folder(tmp_path / "data", SEED, COUNT)
    labelled.enrol_references(data, tmp_path / "refs")
    report = evaluate.evaluate_data(data, settings={"reference_dir": str(tmp_path / "refs")})
    assert report["count"] == COUNT
    assert _figure_lines(printed) == _figure_lines(evaluate.format_report(report))


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--seed", "4999"], "5000"),
        (["--count", "0"], "at least 1"),
        (["--variations", "levels"], "do not apply"),
        (["--models", "van-1"], "do not apply"),
        (["--references", "refs"], "do not apply"),
        (["--data", "somewhere"], "do not apply"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    assert _run("vehicle", "--generator", "alt", *argv) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("smartcustoms eval vehicle: ") and says in error
