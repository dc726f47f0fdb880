"""The conformance kit against the real gateway: every requirement passes, from Python and from the
``vendor-check`` command."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from smartcustoms.core.config import Config
from smartcustoms.hardware.sdk import cli
from smartcustoms.hardware.sdk.conformance import CHECKS, run_checks
from smartcustoms.runtime.stack import Stack

pytestmark = pytest.mark.integration

MAX_FRAME_BYTES = 96 * 1024 * 1024


@pytest.fixture
def gateway(runtime_config: Config, start_stack: Callable[..., Stack]) -> Stack:
    runtime_config.gateway.max_frame_bytes = MAX_FRAME_BYTES
    return start_stack(runtime_config, worker=False)


def test_the_gateway_meets_every_requirement(gateway: Stack) -> None:
    results = run_checks(gateway.gateway_target, max_frame_bytes=MAX_FRAME_BYTES)
    assert [r.requirement for r in results] == [requirement for requirement, _ in CHECKS]
    assert [r for r in results if not r.passed] == []
    large = results[-1]
    assert "67108864 bytes in 32 chunks" in large.detail


def test_vendor_check_exits_zero_against_the_gateway(
    gateway: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["vendor-check", "--target", gateway.gateway_target, "--max-frame-bytes", str(MAX_FRAME_BYTES)]
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*argv, "--large-frame-bytes", str(4 * 1024 * 1024)])
    assert exit_info.value.code == 0
    table = capsys.readouterr().out
    assert "FAIL" not in table
    assert table.rstrip().endswith(f"{len(CHECKS)} of {len(CHECKS)} requirements pass")
