"""``smartcustoms sim KIND --count N --seed S --out DIR``: write a reproducible simulated data set.

Every kind writes ``dataset.json`` (kind, seed, count, parameters) and ``manifest.jsonl`` (one line of
ground truth per item, naming its file), plus its data:

* xray, vehicle: ``images/NNNNNN.npy`` (uint16 [2, H, W]); vehicle also ``references/MODEL.npy``;
* xray-alt (the independent generator ``xray_alt``): ``images/NNNNNN.npy`` and the COCO-style
  ``annotations.json`` that ``smartcustoms eval xray --data DIR`` reads (docs/formats.md);
* ct: ``volumes/NNNNNN.npy`` (uint16 [depth, height, width], MHU);
* ct-alt (the independent generator ``ct_alt``): ``volumes/NNNNNN.npy`` and the COCO-style
  ``annotations.json`` of 3D boxes that ``smartcustoms eval ct --data DIR`` reads (docs/formats.md);
* liquor: ``images/NNNNNN.jpg`` or ``.png``, the reference labels ``labels/ID.png`` and ``catalogue.json``;
* rfid: ``reports.jsonl`` (one RfidReadBatch per line);
* warehouse: ``reports.jsonl`` (every zone's report per tick, COUNT ticks), ``work_orders.jsonl`` and
  the ground-truth ``events.jsonl``;
* declarations, crossings: ``records.jsonl`` (COUNT records, ground-truth fields included);
* plates: ``images/NNNNNN.jpg`` (lane camera frames, each at its own JPEG quality); the manifest holds
  each frame's plates (text, region, corners) and light; ``--crossings`` shows the cars of
  ``CrossingSimulator(seed)``'s feed in order, each frame naming its crossing.

``smartcustoms sim export-declarations OUT.csv --rows N --seed S`` writes instead one CSV of BACUDA-style
import declarations with fraud ground truth, from the independent generator ``customs_export``.

``--frames`` also writes each item's ``smartcustoms.v1.Frame`` to ``frames/NNNNNN.pb`` (records: one
frame per batch), with frame ids and capture times derived from seed and index, so two runs with the same
arguments write identical bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp

from smartcustoms.core.evaluation import ANNOTATIONS_FILE
from smartcustoms.v1 import frame_pb2

FRAME_EPOCH_S = 1_735_689_600  # capture time of item 0 in written frames: 2025-01-01T00:00:00Z
KINDS = (
    "xray",
    "xray-alt",
    "vehicle",
    "ct",
    "ct-alt",
    "liquor",
    "plates",
    "rfid",
    "warehouse",
    "declarations",
    "crossings",
)


class _DataSet:
    """An output directory: the manifest, optional frames, and the data files of one kind."""

    def __init__(self, args: argparse.Namespace, parameters: dict[str, Any]) -> None:
        self.out: Path = args.out
        self.kind, self.seed, self.count, self.frames = args.kind, args.seed, args.count, args.frames
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "manifest.jsonl").write_text("")
        description = {"kind": self.kind, "seed": self.seed, "count": self.count, "parameters": parameters}
        _write_json(self.out / "dataset.json", description)

    def path(self, folder: str, name: str) -> Path:
        directory = self.out / folder
        directory.mkdir(exist_ok=True)
        return directory / name

    def record(self, entry: dict[str, Any]) -> None:
        with (self.out / "manifest.jsonl").open("a") as manifest:
            manifest.write(json.dumps(entry, sort_keys=True) + "\n")

    def frame(self, index: int, frame: frame_pb2.Frame) -> str | None:
        """Write a frame with reproducible id and capture time; its relative path, or None when off."""
        if not self.frames:
            return None
        frame.frame_id = f"{self.kind}-{self.seed}-{index}"
        frame.capture_time.CopyFrom(Timestamp(seconds=FRAME_EPOCH_S + index))
        name = f"{index:06d}.pb"
        self.path("frames", name).write_bytes(frame.SerializeToString(deterministic=True))
        return f"frames/{name}"


def _write_json(path: Path, value: object) -> None:
    path.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n")


def _jsonl(path: Path, lines: Iterator[dict[str, Any]]) -> None:
    with path.open("w") as out:
        for line in lines:
            out.write(json.dumps(line, sort_keys=True, ensure_ascii=False) + "\n")


def _message(message: Any) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def _with_frame(entry: dict[str, Any], frame_path: str | None) -> dict[str, Any]:
    return {**entry, "frame": frame_path} if frame_path else entry


# --------------------------------------------------------------------------- writers


def write_xray(args: argparse.Namespace) -> int:
    from smartcustoms.hardware.sim import xray

    data = _DataSet(args, {"height": args.height, "width": args.width, "threat_rate": args.threat_rate})
    simulator = xray.XraySimulator(args.seed, args.height, args.width, threat_rate=args.threat_rate)
    for index in range(args.count):
        scan = simulator.generate(index)
        np.save(data.path("images", f"{index:06d}.npy"), scan.image)
        truth = [{"label": t.label, "box": list(t.box), "rotation_deg": t.rotation_deg} for t in scan.truth]
        frame = data.frame(index, xray.to_frame(scan, source_id="sim-xray", sequence=index))
        data.record(_with_frame({"index": index, "file": f"images/{index:06d}.npy", "threats": truth}, frame))
    return 0


def write_xray_alt(args: argparse.Namespace) -> int:
    from smartcustoms.hardware.sim import xray_alt

    data = _DataSet(args, {"height": args.height, "width": args.width, "threat_rate": args.threat_rate})
    simulator = xray_alt.AltXraySimulator(args.seed, args.height, args.width, threat_rate=args.threat_rate)
    categories = {label: number for number, label in enumerate(xray_alt.THREAT_CLASSES, start=1)}
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for index in range(args.count):
        scan = simulator.generate(index)
        name = f"images/{index:06d}.npy"
        np.save(data.path("images", f"{index:06d}.npy"), scan.image)
        meta = scan.metadata()
        images.append(
            {
                "id": index,
                "file_name": name,
                "height": args.height,
                "width": args.width,
                "pixel_size_mm": round(scan.pixel_size_mm, 4),
                "tube_kvp": float(meta["tube_kvp"]),
                "energy_high_kev": float(meta["energy_high_kev"]),
                "energy_low_kev": float(meta["energy_low_kev"]),
            }
        )
        for truth in scan.truth:
            x0, y0, x1, y1 = truth.box
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": index,
                    "category_id": categories[truth.label],
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "area": (x1 - x0) * (y1 - y0),
                    "iscrowd": 0,
                    "rotation_deg": round(truth.rotation_deg, 1),
                    "design": truth.design,
                }
            )
        frame = data.frame(index, xray_alt.to_frame(scan, source_id="sim-xray-alt", sequence=index))
        _record_threats(data, index, name, frame, scan.truth)
    _write_coco(args, "xray_alt", images, annotations, categories)
    return 0


def write_vehicle(args: argparse.Namespace) -> int:
    from smartcustoms.hardware.sim import vehicle

    parameters = {"height": args.height, "width": args.width, "concealment_rate": args.concealment_rate}
    data = _DataSet(args, parameters)
    simulator = vehicle.VehicleSimulator(
        args.seed, args.height, args.width, concealment_rate=args.concealment_rate
    )
    for model in vehicle.MODEL_NAMES:
        np.save(data.path("references", f"{model}.npy"), simulator.reference(model).image)
    for index in range(args.count):
        scan = simulator.generate(index)
        np.save(data.path("images", f"{index:06d}.npy"), scan.image)
        frame = data.frame(index, vehicle.to_frame(scan, source_id="sim-portal", sequence=index))
        entry = {
            "index": index,
            "file": f"images/{index:06d}.npy",
            "reference": f"references/{scan.model}.npy",
        }
        data.record(_with_frame({**entry, **vehicle.truth_dict(scan)}, frame))
    return 0


def write_ct(args: argparse.Namespace) -> int:
    from smartcustoms.hardware.sim import ct

    shape = (args.depth, args.height, args.width)
    parameters = {"shape": list(shape), "voxel_mm": args.voxel_mm, "threat_rate": args.threat_rate}
    data = _DataSet(args, parameters)
    simulator = ct.CtSimulator(args.seed, shape, voxel_mm=args.voxel_mm, threat_rate=args.threat_rate)
    for index in range(args.count):
        scan = simulator.generate(index)
        np.save(data.path("volumes", f"{index:06d}.npy"), scan.volume)
        truth = [{"label": t.label, "box": list(t.box)} for t in scan.truth]
        frame = data.frame(index, ct.to_frame(scan, source_id="sim-ct", sequence=index))
        data.record(
            _with_frame({"index": index, "file": f"volumes/{index:06d}.npy", "threats": truth}, frame)
        )
    return 0


def write_ct_alt(args: argparse.Namespace) -> int:
    from smartcustoms.hardware.sim import ct_alt

    data = _DataSet(args, {"threat_rate": args.threat_rate})
    simulator = ct_alt.AltCtSimulator(args.seed, threat_rate=args.threat_rate)
    categories = {label: number for number, label in enumerate(ct_alt.THREAT_CLASSES, start=1)}
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for index in range(args.count):
        scan = simulator.generate(index)
        name = f"volumes/{index:06d}.npy"
        np.save(data.path("volumes", f"{index:06d}.npy"), scan.volume)
        depth, height, width = scan.volume.shape
        images.append(
            {
                "id": index,
                "file_name": name,
                "depth": depth,
                "height": height,
                "width": width,
                "voxel_size_mm": round(scan.voxel_size_mm, 4),
                "rescale_slope": 1,
                "rescale_intercept": -1000,
            }
        )
        for truth in scan.truth:
            z0, y0, x0, z1, y1, x1 = truth.box
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": index,
                    "category_id": categories[truth.label],
                    "bbox3d": [x0, y0, z0, x1 - x0, y1 - y0, z1 - z0],
                    "design": truth.design,
                }
            )
        frame = data.frame(index, ct_alt.to_frame(scan, source_id="sim-ct-alt", sequence=index))
        _record_threats(data, index, name, frame, scan.truth)
    _write_coco(args, "ct_alt", images, annotations, categories)
    return 0


def _record_threats(data: _DataSet, index: int, name: str, frame: Any, truth: Iterable[Any]) -> None:
    """The manifest line of an independent generator's item: its file and its threats."""
    threats = [{"label": t.label, "box": list(t.box), "design": t.design} for t in truth]
    data.record(_with_frame({"index": index, "file": name, "threats": threats}, frame))


def _write_coco(
    args: argparse.Namespace,
    generator: str,
    images: list[dict[str, Any]],
    annotations: list[dict[str, Any]],
    categories: dict[str, int],
) -> None:
    """``annotations.json``, COCO-style, as ``smartcustoms eval ... --data DIR`` reads it."""
    coco = {
        "info": {"description": f"{generator} seed {args.seed}, {args.count} bags", "version": "1"},
        "images": images,
        "annotations": annotations,
        "categories": [{"id": number, "name": label} for label, number in categories.items()],
    }
    _write_json(args.out / ANNOTATIONS_FILE, coco)


def write_liquor(args: argparse.Namespace) -> int:
    from smartcustoms.hardware.sim import liquor

    parameters = {
        "height": args.height,
        "width": args.width,
        "encoding": args.encoding,
        "quality": args.quality,
    }
    data = _DataSet(args, parameters)
    simulator = liquor.LiquorSimulator(args.seed, args.height, args.width)
    catalogue = []
    for item in liquor.CATALOGUE:
        label = liquor.encode(liquor.label_image(item), "png")
        data.path("labels", f"{item.catalogue_id}.png").write_bytes(label)
        catalogue.append({**liquor.product_dict(item), "label": f"labels/{item.catalogue_id}.png"})
    _write_json(data.out / "catalogue.json", catalogue)
    suffix = "jpg" if args.encoding == "jpeg" else "png"
    for index in range(args.count):
        shot = simulator.generate(index)
        name = f"{index:06d}.{suffix}"
        data.path("images", name).write_bytes(liquor.encode(shot.image, args.encoding, quality=args.quality))
        frame_message = liquor.to_frame(
            shot, source_id="sim-camera", sequence=index, encoding=args.encoding, quality=args.quality
        )
        frame = data.frame(index, frame_message)
        data.record(_with_frame({"index": index, "file": f"images/{name}", **liquor.truth_dict(shot)}, frame))
    return 0


def write_plates(args: argparse.Namespace) -> int:
    from smartcustoms.hardware.sim import plates, records

    parameters = {
        "height": args.height,
        "width": args.width,
        "light": args.light,
        "crossings": args.crossings,
    }
    data = _DataSet(args, parameters)
    simulator = plates.PlateSimulator(args.seed, args.height, args.width)
    feed = records.CrossingSimulator(args.seed) if args.crossings else None
    for index in range(args.count):
        crossing = feed.batch(index, 1).records[0] if feed is not None else None
        shown = plates.crossing_plates(crossing.fields) if crossing is not None else ()
        shot = simulator.generate(index, plates=shown, light=args.light or None)
        name = f"{index:06d}.jpg"
        data.path("images", name).write_bytes(plates.encode_jpeg(shot.image, shot.jpeg_quality))
        conveyance_id = crossing.record_id if crossing is not None else ""
        message = plates.to_frame(
            shot, source_id="sim-plate-camera", sequence=index, conveyance_id=conveyance_id
        )
        entry = {"index": index, "file": f"images/{name}", **plates.truth_dict(shot)}
        if crossing is not None:
            entry["crossing"] = crossing.record_id
        data.record(_with_frame(entry, data.frame(index, message)))
    return 0


def write_rfid(args: argparse.Namespace) -> int:
    from smartcustoms.hardware.sim import rfid

    data = _DataSet(args, {"tags": args.tags, "reads": args.reads})
    simulator = rfid.RfidSimulator(args.seed, tag_count=args.tags)
    reports = [simulator.report(index, args.reads) for index in range(args.count)]
    _jsonl(data.out / "reports.jsonl", (_message(report) for report in reports))
    for index, report in enumerate(reports):
        zone = index % len(simulator.zones)
        present = np.flatnonzero(simulator.zone_of_tags(index // len(simulator.zones)) == zone)
        frame = data.frame(index, rfid.to_frame(report, source_id=report.reader_id, sequence=index))
        entry = {
            "index": index,
            "reader_id": report.reader_id,
            "zone": report.zone,
            "reads": len(report.reads),
        }
        data.record(_with_frame({**entry, "tags_in_zone": [simulator.epcs[i] for i in present]}, frame))
    return 0


def write_warehouse(args: argparse.Namespace) -> int:
    from smartcustoms.hardware.sim import rfid, warehouse

    parameters = {"items": args.items, "anomaly_rate": args.anomaly_rate, "ticks": args.count}
    data = _DataSet(args, parameters)
    store = warehouse.EvidenceWarehouse(
        args.seed, item_count=args.items, horizon_ticks=max(args.count, 1), anomaly_rate=args.anomaly_rate
    )
    _jsonl(data.out / "events.jsonl", (warehouse.event_dict(e) for e in store.events))
    orders = store.work_orders(0, args.count).records
    _jsonl(data.out / "work_orders.jsonl", (_message(order) for order in orders))
    index = 0
    with (data.out / "reports.jsonl").open("w") as out:
        for tick in range(args.count):
            zones = store.zone_of_items(tick)
            for z, report in enumerate(store.tick_reports(tick)):
                out.write(json.dumps(_message(report), sort_keys=True) + "\n")
                frame = data.frame(index, rfid.to_frame(report, source_id=report.reader_id, sequence=index))
                present = [store.epcs[i] for i in np.flatnonzero(zones == z)]
                entry = {"index": index, "tick": tick, "zone": report.zone, "reads": len(report.reads)}
                data.record(_with_frame({**entry, "items_in_zone": present}, frame))
                index += 1
    return 0


def _write_records(args: argparse.Namespace, batches: Callable[[int, int], frame_pb2.RecordBatch]) -> int:
    """COUNT records in batches of --batch-size; truth fields go to the manifest too."""
    data = _DataSet(args, {"illicit_rate": args.illicit_rate, "batch_size": args.batch_size})
    with (data.out / "records.jsonl").open("w") as out:
        written, index = 0, 0
        while written < args.count:
            batch = batches(index, min(args.batch_size, args.count - written))
            frame_path = data.frame(index, _records_frame(batch, index))
            for record in batch.records:
                out.write(json.dumps(_message(record), sort_keys=True, ensure_ascii=False) + "\n")
                truth = {k: record.fields[k] for k in ("illicit", "illicit_pattern", "duty_at_stake_hkd")}
                data.record(_with_frame({"record_id": record.record_id, "batch": index, **truth}, frame_path))
            written, index = written + len(batch.records), index + 1
    return 0


def _records_frame(batch: frame_pb2.RecordBatch, index: int) -> frame_pb2.Frame:
    from smartcustoms.hardware.sim import records

    return records.to_frame(batch, "sim-records", index)


def write_declarations(args: argparse.Namespace) -> int:
    from smartcustoms.hardware.sim import records

    simulator = records.CargoDeclarationSimulator(args.seed, illicit_rate=args.illicit_rate)
    return _write_records(args, simulator.batch)


def write_crossings(args: argparse.Namespace) -> int:
    from smartcustoms.hardware.sim import records

    simulator = records.CrossingSimulator(args.seed, illicit_rate=args.illicit_rate)
    return _write_records(args, simulator.batch)


# --------------------------------------------------------------------------- parser


def _image_size(parser: argparse.ArgumentParser, height: int, width: int) -> None:
    parser.add_argument("--height", type=int, default=height, help=f"pixels (default {height})")
    parser.add_argument("--width", type=int, default=width, help=f"pixels (default {width})")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``sim`` and its kinds; each kind's handler writes the data set and returns 0."""
    sim = commands.add_parser("sim", help="write a reproducible simulated data set with its ground truth")
    kinds = sim.add_subparsers(dest="kind", required=True, metavar="KIND")
    parsers = {}
    helps = {
        "xray": "dual-energy baggage X-ray images with threat boxes",
        "xray-alt": "bags of the independent X-ray generator, with COCO-style annotations.json",
        "vehicle": "vehicle portal X-ray images with concealments, and per-model references",
        "ct": "CT baggage volumes with 3D threat boxes",
        "ct-alt": "volumes of the independent CT generator, with COCO-style annotations.json of 3D boxes",
        "liquor": "camera images of liquor bottles with catalogue ids",
        "rfid": "evidence-store RFID reader reports",
        "warehouse": "evidence-warehouse RFID reports, work orders and the event log (COUNT ticks)",
        "declarations": "cargo declarations, a few illicit, with duty at stake",
        "crossings": "cross-boundary private-car crossings, a few illicit, with duty at stake",
        "plates": "vehicle lane camera frames with Hong Kong and Guangdong licence plates",
    }
    for kind in KINDS:
        parser = kinds.add_parser(kind, help=helps[kind], description=helps[kind])
        parser.add_argument("--count", type=int, default=100, help="items to write (default 100)")
        parser.add_argument("--seed", type=int, default=0, help="simulator seed (default 0)")
        parser.add_argument("--out", type=Path, required=True, help="output directory")
        parser.add_argument("--frames", action="store_true", help="also write each frame as frames/*.pb")
        parsers[kind] = parser
    _image_size(parsers["xray"], 1024, 2048)
    parsers["xray"].add_argument("--threat-rate", type=float, default=0.3)
    _image_size(parsers["xray-alt"], 1024, 2048)
    parsers["xray-alt"].add_argument("--threat-rate", type=float, default=0.5)
    _image_size(parsers["vehicle"], 1024, 3072)
    parsers["vehicle"].add_argument("--concealment-rate", type=float, default=0.2)
    parsers["ct"].add_argument("--depth", type=int, default=256, help="voxels along the belt (default 256)")
    _image_size(parsers["ct"], 128, 192)
    parsers["ct"].add_argument("--voxel-mm", type=float, default=3.0)
    parsers["ct"].add_argument("--threat-rate", type=float, default=0.3)
    parsers["ct-alt"].add_argument("--threat-rate", type=float, default=0.8)
    _image_size(parsers["liquor"], 720, 960)
    _image_size(parsers["plates"], 480, 640)
    parsers["plates"].add_argument("--light", choices=("day", "dusk", "night", "night_ir"), default="")
    parsers["plates"].add_argument(
        "--crossings", action="store_true", help="show the cars of the crossing feed of the same seed"
    )
    parsers["liquor"].add_argument("--encoding", choices=("jpeg", "png"), default="jpeg")
    parsers["liquor"].add_argument("--quality", type=int, default=90, help="JPEG quality (default 90)")
    parsers["rfid"].add_argument("--tags", type=int, default=500)
    parsers["rfid"].add_argument("--reads", type=int, default=200, help="reads per report at most")
    parsers["warehouse"].add_argument("--items", type=int, default=300, help="items stored at tick 0")
    parsers["warehouse"].add_argument("--anomaly-rate", type=float, default=0.1)
    for kind in ("declarations", "crossings"):
        parsers[kind].add_argument("--illicit-rate", type=float, default=0.03)
        parsers[kind].add_argument("--batch-size", type=int, default=100, help="records per frame")
    writers: dict[str, Callable[[argparse.Namespace], int]] = {
        "xray": write_xray,
        "xray-alt": write_xray_alt,
        "vehicle": write_vehicle,
        "ct": write_ct,
        "ct-alt": write_ct_alt,
        "liquor": write_liquor,
        "rfid": write_rfid,
        "warehouse": write_warehouse,
        "declarations": write_declarations,
        "crossings": write_crossings,
        "plates": write_plates,
    }
    for kind, parser in parsers.items():
        parser.set_defaults(handler=_checked(writers[kind]))
    _add_export_declarations(kinds)


def _add_export_declarations(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``sim export-declarations OUT.csv``: BACUDA-style declarations from an independent generator."""
    about = "BACUDA-style import declarations (CSV, XOF) with fraud ground truth, for validating risk models"
    export = kinds.add_parser("export-declarations", help=about, description=about)
    export.add_argument("out", type=Path, metavar="OUT.csv", help="CSV file to write")
    export.add_argument("--rows", type=int, default=10_000, help="declarations to write (default 10000)")
    export.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    export.add_argument(
        "--illicit-rate", type=float, default=None, help="share of illicit rows (default 0.05)"
    )
    export.set_defaults(handler=_export_declarations)


def _export_declarations(args: argparse.Namespace) -> int:
    from smartcustoms.hardware.sim import customs_export

    rate = customs_export.DEFAULT_ILLICIT_RATE if args.illicit_rate is None else args.illicit_rate
    try:
        illicit = customs_export.export_declarations(args.out, args.rows, args.seed, illicit_rate=rate)
    except (ValueError, OSError) as error:
        print(f"smartcustoms sim export-declarations: {error}", file=sys.stderr)
        return 2
    print(f"wrote {args.rows} declarations ({illicit} illicit) to {args.out}")
    return 0


def _checked(writer: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Reject a negative count or seed with exit code 2 before writing anything."""

    def handler(args: argparse.Namespace) -> int:
        if args.count < 0 or args.seed < 0:
            print("smartcustoms sim: --count and --seed must be non-negative")
            return 2
        try:
            return writer(args)
        except ValueError as error:
            print(f"smartcustoms sim {args.kind}: {error}")
            return 2

    return handler
