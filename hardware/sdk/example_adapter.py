"""A complete vendor adapter: watch the folder a dual-energy X-ray scanner writes its raw images to, and
stream every scan to the gateway exactly once.

The scanner writes each scan as two files: ``<name>.raw`` (little-endian uint16, shape [2, height, width],
the high-energy image then the low-energy one), then ``<name>.json``::

    {"scan_number": 1042, "height": 1024, "width": 2048, "conveyance_id": "bag-77",
     "energies_kev": [160, 80], "pixel_size_mm": 1.0}

The .json comes last (``write_scan`` writes it atomically), so a scan is complete once it is there. Each
scan becomes one MODALITY_XRAY frame whose sequence is the scanner's scan number and whose frame id is
``<source id>-<scan number>``: a scan sent again, say after the adapter crashed before it could file it,
is acknowledged with ``duplicate`` set and never processed twice. Acknowledged scans move to ``done/``;
refused ones to ``rejected/``, with the gateway's reason in ``<name>.reason.txt``.

    python -m smartcustoms.hardware.sdk.example_adapter --target gateway:50051 \\
        --watch /data/scans --source-id lane-3-xray [--once]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import grpc
import numpy as np

from smartcustoms.hardware.sdk.client import OK, IngestError, SyncVendorClient
from smartcustoms.v1 import frame_pb2, ingest_pb2

CHANNELS = 2  # high and low energy
CLOSE_TIMEOUT_S = 60.0
CODE_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}


@dataclass(frozen=True)
class Scan:
    """One complete scan in the watched folder: its two files and what its sidecar says."""

    name: str
    raw_path: Path
    meta_path: Path
    scan_number: int
    height: int
    width: int
    conveyance_id: str = ""
    energies_kev: tuple[int, ...] = ()

    @classmethod
    def read(cls, meta_path: Path) -> Scan:
        """Parse a sidecar; ValueError if it is not what the scanner promises."""
        try:
            meta = json.loads(meta_path.read_text())
            return cls(
                name=meta_path.stem,
                raw_path=meta_path.with_suffix(".raw"),
                meta_path=meta_path,
                scan_number=int(meta["scan_number"]),
                height=int(meta["height"]),
                width=int(meta["width"]),
                conveyance_id=str(meta.get("conveyance_id", "")),
                energies_kev=tuple(int(e) for e in meta.get("energies_kev", ())),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"sidecar {meta_path.name}: {error!r}") from None

    def __post_init__(self) -> None:
        if self.scan_number <= 0:  # the sequence of the frame: what makes a resend safe
            raise ValueError(f"sidecar {self.meta_path.name}: scan_number must be positive")


def write_scan(
    folder: Path,
    name: str,
    image: np.ndarray,
    *,
    scan_number: int,
    conveyance_id: str = "",
    energies_kev: tuple[int, int] = (160, 80),
) -> Scan:
    """The scanner's side: write ``image`` ([2, H, W] uint16) as ``name.raw``, then ``name.json``."""
    if image.ndim != 3 or image.shape[0] != CHANNELS:
        raise ValueError(f"a dual-energy image has shape [2, height, width], not {list(image.shape)}")
    raw_path, meta_path = folder / f"{name}.raw", folder / f"{name}.json"
    np.ascontiguousarray(image, dtype="<u2").tofile(raw_path)
    meta = {
        "scan_number": scan_number,
        "height": image.shape[1],
        "width": image.shape[2],
        "conveyance_id": conveyance_id,
        "energies_kev": list(energies_kev),
    }
    partial = folder / f"{name}.json.partial"
    partial.write_text(json.dumps(meta))
    os.replace(partial, meta_path)  # atomic: the adapter never sees half a sidecar
    return Scan.read(meta_path)


def complete_scans(folder: Path) -> list[Path]:
    """The sidecars of every complete scan (its .raw is there too), in name order."""
    return sorted(path for path in folder.glob("*.json") if path.with_suffix(".raw").exists())


def scan_frame(scan: Scan, source_id: str) -> tuple[frame_pb2.Frame, bytes]:
    """The frame for a scan (the header) and its payload, the raw file's bytes as they are."""
    frame = frame_pb2.Frame(
        frame_id=f"{source_id}-{scan.scan_number}",
        source_id=source_id,
        modality=frame_pb2.MODALITY_XRAY,
        sequence=scan.scan_number,
        conveyance_id=scan.conveyance_id,
        shape=[CHANNELS, scan.height, scan.width],
        dtype=frame_pb2.DTYPE_UINT16,
        encoding="raw",
        metadata={
            "file": scan.raw_path.name,
            "channels": "high,low",
            "energies_kev": ",".join(map(str, scan.energies_kev)),
        },
    )
    frame.capture_time.FromNanoseconds(scan.meta_path.stat().st_mtime_ns)
    return frame, scan.raw_path.read_bytes()


class FolderAdapter:
    """Sends each complete scan once, files it when its answer comes."""

    def __init__(self, client: SyncVendorClient, folder: Path, source_id: str) -> None:
        self.client = client
        self.folder = folder
        self.source_id = source_id
        self.in_flight: dict[str, tuple[Scan, concurrent.futures.Future[ingest_pb2.IngestAck]]] = {}
        self.accepted = 0
        self.rejected = 0
        self.unanswered = 0
        for outcome in ("done", "rejected"):
            (folder / outcome).mkdir(exist_ok=True)

    def poll(self) -> None:
        """Send the scans not sent yet (blocks while the window is full); file the answered ones."""
        self.file_answered()
        for meta_path in complete_scans(self.folder):
            if meta_path.stem in self.in_flight:
                continue
            try:
                scan = Scan.read(meta_path)
            except ValueError as error:  # a sidecar the scanner got wrong: nothing to send
                self._file(meta_path.stem, "rejected", f"unreadable: {error}")
                continue
            frame, payload = scan_frame(scan, self.source_id)
            self.in_flight[scan.name] = (scan, self.client.send(frame, payload))
        self.file_answered()

    def file_answered(self) -> None:
        for name, (scan, future) in list(self.in_flight.items()):
            if future.done():
                del self.in_flight[name]
                self._file_answer(scan, future)

    def drain(self) -> None:
        """After the client closed: file every answer (a scan without one stays for the next run)."""
        for scan, future in self.in_flight.values():
            concurrent.futures.wait([future])
            self._file_answer(scan, future)
        self.in_flight.clear()

    def _file_answer(self, scan: Scan, future: concurrent.futures.Future[ingest_pb2.IngestAck]) -> None:
        try:
            ack = future.result()
        except IngestError as error:  # the client gave up (closing deadline): the scan stays to retry
            print(f"{scan.name}: not acknowledged ({error}); left for the next run", flush=True)
            self.unanswered += 1
            return
        if ack.code == OK:
            print(f"{scan.name}: accepted{' (duplicate)' if ack.duplicate else ''}", flush=True)
            self._file(scan.name, "done")
        else:
            self._file(scan.name, "rejected", f"{CODE_NAMES.get(ack.code, ack.code)}: {ack.message}")

    def _file(self, name: str, outcome: str, reason: str = "") -> None:
        if reason:
            print(f"{name}: rejected, {reason}", flush=True)
            (self.folder / outcome / f"{name}.reason.txt").write_text(reason + "\n")
        for suffix in (".json", ".raw"):  # the sidecar first: without it the scan is no longer pending
            os.replace(self.folder / f"{name}{suffix}", self.folder / outcome / f"{name}{suffix}")
        self.accepted += outcome == "done"
        self.rejected += outcome == "rejected"


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--target", required=True, help="HOST:PORT of the ingest gateway")
    top.add_argument("--watch", required=True, type=Path, help="folder the scanner writes to")
    top.add_argument("--source-id", required=True, help="this scanner's device id, e.g. lane-3-xray")
    top.add_argument("--once", action="store_true", help="send what is there, wait for the answers, exit")
    top.add_argument("--poll-s", type=float, default=0.2, help="how often to look for new scans")
    top.add_argument("--window-frames", type=int, default=8, help="scans on their way at once")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, request_stop)
    client = SyncVendorClient(args.target, window_frames=args.window_frames)
    adapter = FolderAdapter(client, args.watch, args.source_id)
    try:
        adapter.poll()
        while not args.once and not stop.wait(args.poll_s):
            adapter.poll()
        client.close(CLOSE_TIMEOUT_S)
    except IngestError as error:
        print(f"example_adapter: {error}", file=sys.stderr, flush=True)
    adapter.drain()
    print(f"{adapter.accepted} scans accepted, {adapter.rejected} rejected", flush=True)
    return 1 if adapter.rejected or adapter.unanswered else 0


if __name__ == "__main__":
    sys.exit(main())
