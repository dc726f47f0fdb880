"""``smartcustoms feeds`` without a gateway: its sources, its per-source lines and its exit code."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from smartcustoms.hardware.sdk import client as sdk_client
from smartcustoms.runtime import cli
from smartcustoms.v1 import frame_pb2, ingest_pb2


class FakeClient:
    """The SDK client's surface: every frame acknowledged OK, or refused if its feed is 'refused'."""

    frames: list[frame_pb2.Frame] = []

    def __init__(self, target: str, **_: object) -> None:
        self.target = target

    async def start(self) -> None:
        return None

    async def send(
        self, frame: frame_pb2.Frame, payload: bytes | memoryview | None = None
    ) -> asyncio.Future[ingest_pb2.IngestAck]:
        FakeClient.frames.append(frame)
        done: asyncio.Future[ingest_pb2.IngestAck] = asyncio.get_running_loop().create_future()
        refused = frame.metadata.get("feed") == "jsonl-refused"
        done.set_result(ingest_pb2.IngestAck(frame_id=frame.frame_id, code=3 if refused else 0, message="no"))
        return done

    async def close(self, timeout_s: float = 30.0) -> None:
        return None

    async def abort(self) -> None:
        return None


def test_feeds_streams_every_source_and_says_what_each_did(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sdk_client, "VendorClient", FakeClient)
    FakeClient.frames = []
    listings = tmp_path / "listings.jsonl"
    listings.write_text('{"id": "1", "title": "Velox"}\nnot json\n{"id": "2"}\n', encoding="utf-8")
    feed = tmp_path / "news.xml"
    feed.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        "<item><guid>n1</guid><title>Fake Aurelia bags seized</title></item></channel></rss>",
        encoding="utf-8",
    )
    args = ["feeds", "--jsonl", str(listings), "--rss", str(feed), "--no-images", "--gateway", "x:1"]
    with pytest.raises(SystemExit) as stopped:
        cli.main(args)
    out = capsys.readouterr().out
    assert stopped.value.code == 0, out
    assert "feed jsonl-listings: 2 records, 0 pages, 1 malformed" in out
    assert "feed rss0: 1 records, 1 pages, 0 malformed" in out
    assert sorted(f.metadata["feed"] for f in FakeClient.frames) == ["jsonl-listings", "rss0"]

    refused = tmp_path / "refused.jsonl"
    refused.write_text('{"id": "3"}\n', encoding="utf-8")
    with pytest.raises(SystemExit) as stopped:
        cli.main(["feeds", "--jsonl", str(refused), "--no-images", "--gateway", "x:1"])
    assert stopped.value.code == 1
    assert "smartcustoms feeds: frame " in capsys.readouterr().err  # the refusal, on its own line
