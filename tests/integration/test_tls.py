"""TLS on ingest and the review pages; devices under mutual TLS send only as their own sources."""

from __future__ import annotations

import asyncio
import ssl
import urllib.request
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from smartcustoms.core.config import Config
from smartcustoms.hardware.sdk.client import OK, VendorClient, send_all
from smartcustoms.hardware.sdk.retry import RetryPolicy
from smartcustoms.hardware.sdk.stream import IngestError
from smartcustoms.hardware.sim.rfid import to_frame as rfid_to_frame
from smartcustoms.runtime import certs_cli
from smartcustoms.runtime.cli import parser
from smartcustoms.runtime.stack import Stack, gateway_serving
from smartcustoms.runtime.tls import client_credentials
from smartcustoms.v1 import frame_pb2, ingest_pb2

pytestmark = pytest.mark.integration

DENIED = grpc.StatusCode.PERMISSION_DENIED.value[0]


def _frame(source_id: str, number: int) -> frame_pb2.Frame:
    frame = rfid_to_frame(frame_pb2.RfidReadBatch(reader_id=source_id), source_id=source_id, sequence=number)
    frame.frame_id = f"{source_id}-{number}"
    return frame


def _certs(directory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["certs", "init", str(directory)],
        ["certs", "device", str(directory), "lane-1"],
        ["certs", "device", str(directory), "feed"],
    ):
        args = parser().parse_args(argv)
        assert args.handler(args) == 0
    capsys.readouterr()
    args = parser().parse_args(["certs", "device", str(directory), "lane 2"])
    assert certs_cli.cmd_device(args) == 2
    assert "printable ASCII without spaces" in capsys.readouterr().err
    server_cert = (directory / "gateway.pem").read_bytes()
    args = parser().parse_args(["certs", "device", str(directory), "gateway"])
    assert certs_cli.cmd_device(args) == 2, "a device named like the site's own certificate is refused"
    assert "names the site's own certificate" in capsys.readouterr().err
    assert (directory / "gateway.pem").read_bytes() == server_cert


def test_devices_send_over_mutual_tls_as_their_own_sources_only(
    runtime_config: Config,
    start_stack: Callable[..., Stack],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    certs = tmp_path / "certs"
    _certs(certs, capsys)
    gateway = runtime_config.gateway
    gateway.tls_cert, gateway.tls_key = str(certs / "gateway.pem"), str(certs / "gateway.key")
    gateway.tls_client_ca = gateway.tls_ca = str(certs / "ca.pem")
    gateway.tls_tools_cert, gateway.tls_tools_key = (
        str(certs / "smartcustoms-tools.pem"),
        str(certs / "smartcustoms-tools.key"),
    )
    stack = start_stack(runtime_config, worker=False)  # ready means its tools' TLS health check passed
    target = stack.gateway_target

    lane_1 = client_credentials(str(certs / "ca.pem"), str(certs / "lane-1.pem"), str(certs / "lane-1.key"))

    async def as_lane_1(frames: list[frame_pb2.Frame]) -> list[ingest_pb2.IngestAck]:
        retry = RetryPolicy(max_attempts=1)
        async with VendorClient(target, credentials=lane_1, retry=retry) as client:
            futures = [await client.send(frame) for frame in frames]
            return [await future for future in futures]

    own, other, squat = asyncio.run(
        as_lane_1([_frame("lane-1-rfid", 1), _frame("lane-1", 2), _frame("lane-2-rfid", 1)])
    )
    assert (own.code, other.code) == (OK, OK)
    assert squat.code == DENIED and "may send as 'lane-1' or lane-1-*" in squat.message

    with pytest.raises((grpc.aio.AioRpcError, IngestError)):  # plaintext to a TLS port: refused
        asyncio.run(send_all(target, [_frame("lane-1-rfid", 3)]))
    anonymous = client_credentials(str(certs / "ca.pem"))  # TLS, but no client certificate
    assert gateway_serving(target, credentials=anonymous) is False
    assert gateway_serving(target, credentials=lane_1) is True

    # the runtime's own command-line tools reach the TLS gateway with the tools' certificate
    config = ["--config", str(stack.run_dir / "config.json")]
    args = parser().parse_args([*config, "alerts"])
    assert args.handler(args) == 0
    # a sender command shows its device certificate: the feed connector is the device "feed"
    listings = tmp_path / "listings.jsonl"
    listings.write_text('{"id": "1", "title": "Velox watch", "price": 80}\n', encoding="utf-8")
    feeds = [*config, "feeds", "--jsonl", str(listings), "--no-images"]
    mine = ["--tls-cert", str(certs / "feed.pem"), "--tls-key", str(certs / "feed.key")]
    capsys.readouterr()
    args = parser().parse_args([*feeds, *mine])
    assert args.handler(args) == 0, capsys.readouterr().err
    assert "feed jsonl-listings: 1 records" in capsys.readouterr().out
    lane = ["--tls-cert", str(certs / "lane-1.pem"), "--tls-key", str(certs / "lane-1.key")]
    args = parser().parse_args([*feeds, *lane])
    assert args.handler(args) == 1, "lane-1's certificate may not send as feed-jsonl-listings"
    assert "may send as 'lane-1' or lane-1-*" in capsys.readouterr().err
    args = parser().parse_args([*feeds, "--tls-cert", str(certs / "feed.pem")])
    assert args.handler(args) == 2 and "go together" in capsys.readouterr().err

    trusting = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    assert stack.review_url.startswith("https://")
    with urllib.request.urlopen(stack.review_url, context=trusting, timeout=5) as page:
        assert page.status == 200
