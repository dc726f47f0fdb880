"""Only registered devices send: an unknown source is refused, a device added is taken within the
registry's refresh, a revoked one is refused again; the CLI answers bad input in one line."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import grpc
import pytest

from smartcustoms.core.config import Config
from smartcustoms.hardware.sdk.client import OK, send_all
from smartcustoms.hardware.sim.rfid import to_frame as rfid_to_frame
from smartcustoms.runtime.cli import parser
from smartcustoms.runtime.process import wait_for
from smartcustoms.runtime.stack import Stack
from smartcustoms.v1 import frame_pb2

pytestmark = pytest.mark.integration

DENIED = grpc.StatusCode.PERMISSION_DENIED.value[0]


def test_registered_devices_only(
    runtime_config: Config, start_stack: Callable[..., Stack], capsys: pytest.CaptureFixture[str]
) -> None:
    runtime_config.gateway.device_registry = True
    stack = start_stack(runtime_config, worker=False)
    config_file = str(stack.run_dir / "config.json")
    sequence = iter(range(1, 1000))

    def send(source: str) -> tuple[int, str]:
        frame = rfid_to_frame(
            frame_pb2.RfidReadBatch(reader_id=source), source_id=source, sequence=next(sequence)
        )
        (ack,) = asyncio.run(send_all(stack.gateway_target, [frame]))
        return ack.code, ack.message

    def devices(*argv: str) -> int:
        args = parser().parse_args(["--config", config_file, "devices", *argv])
        return int(args.handler(args))

    code, message = send("lane-1-rfid")
    assert code == DENIED and "belongs to no registered device" in message

    assert devices("add", "lane-1", "--note", "baggage lane 1") == 0
    wait_for(lambda: send("lane-1-rfid")[0] == OK, 10, 0.2, "the added device to be taken")
    assert send("lane-10-rfid")[0] == DENIED  # another device's name that merely starts alike

    assert devices("revoke", "lane-1") == 0
    wait_for(lambda: send("lane-1-rfid")[0] == DENIED, 10, 0.2, "the revoked device to be refused")
    capsys.readouterr()
    assert devices("list") == 0
    assert "lane-1" in (listed := capsys.readouterr().out) and "revoked" in listed

    assert devices("add", "lane 2") == 2
    assert devices("revoke", "nobody") == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and "printable ASCII without spaces" in errors[0] and "nobody" in errors[1]
