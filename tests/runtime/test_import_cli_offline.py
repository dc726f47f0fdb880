"""``smartcustoms import``: bad input in one line, and the batching of records into frames (fake sink;
the real gateway path is tests/integration/test_import_cli.py)."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path

import grpc
import pytest

from smartcustoms.core.records_csv import load_mapping, read_records
from smartcustoms.runtime.cli import main
from smartcustoms.runtime.import_cli import ImportPlan, ImportStats, send_records
from smartcustoms.v1 import frame_pb2, ingest_pb2

MAPPING = 'kind = "cargo_declaration"\nid = "ID"\n[fields]\nweight_kg = "KG"\n'


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    data = tmp_path / "data.csv"
    data.write_text("ID,KG\n" + "".join(f"d{i},{i}\n" for i in range(7)) + "bad,heavy\n")
    mapping = tmp_path / "map.toml"
    mapping.write_text(MAPPING)
    return data, mapping


def _exit_code(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert isinstance(done.value.code, int)
    return done.value.code


@pytest.mark.parametrize(
    ("what", "change", "message"),
    [
        ("declarations", "no file", "absent.csv: No such file or directory"),
        ("declarations", "no mapping", "absent.toml: No such file or directory"),
        (
            "declarations",
            'kind = "cargo_declaration"\nid = 3\n[fields]\nweight_kg = "KG"\n',
            "map.toml: id: must be a column name",
        ),
        (
            "declarations",
            'kind = "cargo_declaration"\n[fields]\nweight_kg = "WEIGHT"\n',
            "'WEIGHT' (fields.w",
        ),
        (
            "crossings",
            "",
            "kind is cargo_declaration, and `smartcustoms import crossings` takes vehicle_cros",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str], what: str, change: str, message: str
) -> None:
    data, mapping = files
    if change == "no file":
        data = data.with_name("absent.csv")
    elif change == "no mapping":
        mapping = mapping.with_name("absent.toml")
    elif change:
        mapping.write_text(change)
    argv = ["import", what, str(data), "--mapping", str(mapping), "--gateway", "127.0.0.1:1"]
    assert _exit_code([*argv, "--rejects", str(data.with_name("r.csv"))]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"smartcustoms import {what}: ") and err.count("\n") == 1
    assert message in err


class FakeGateway:
    """Accepts frames of up to ``max_records`` records, refuses larger ones with RESOURCE_EXHAUSTED."""

    def __init__(self, max_records: int) -> None:
        self.max_records = max_records
        self.frames: list[frame_pb2.Frame] = []

    async def send(
        self, frame: frame_pb2.Frame, payload: bytes | memoryview | None = None
    ) -> asyncio.Future[ingest_pb2.IngestAck]:
        self.frames.append(frame)
        future: asyncio.Future[ingest_pb2.IngestAck] = asyncio.get_running_loop().create_future()
        count = len(frame_pb2.RecordBatch.FromString(frame.payload).records)
        code = grpc.StatusCode.OK if count <= self.max_records else grpc.StatusCode.RESOURCE_EXHAUSTED
        future.set_result(
            ingest_pb2.IngestAck(frame_id=frame.frame_id, code=code.value[0], message="too big")
        )
        return future


def test_records_travel_in_batches_and_bad_rows_go_to_the_rejects(files: tuple[Path, Path]) -> None:
    data, mapping = files
    gateway, stats, rejects = FakeGateway(max_records=2), ImportStats(), io.StringIO()

    async def run() -> str:
        with read_records(data, load_mapping(mapping)) as reader:
            unreadable = await send_records(
                reader, gateway, ImportPlan("import-data", 3, "data.csv"), csv.writer(rejects), stats
            )
        await asyncio.sleep(0)  # the answers' callbacks
        return unreadable

    assert asyncio.run(run()) == ""
    batches = [frame_pb2.RecordBatch.FromString(f.payload).records for f in gateway.frames]
    assert [[r.record_id for r in batch] for batch in batches] == [
        ["d0", "d1", "d2"],
        ["d3", "d4", "d5"],
        ["d6"],
    ]
    assert [dict(f.metadata) for f in gateway.frames][2] == {
        "record_kind": "cargo_declaration",
        "record_count": "1",
        "import_file": "data.csv",
        "import_lines": "8-8",
    }
    assert {f.source_id for f in gateway.frames} == {"import-data"}
    assert (stats.rows, stats.rejected, stats.frames, stats.records_sent) == (8, 1, 3, 1)
    assert [line.split(": ", 1)[1] for line in stats.refused] == ["refused RESOURCE_EXHAUSTED: too big"] * 2
    assert "(lines 2-4, 3 records)" in stats.refused[0]
    assert rejects.getvalue() == "9,bad,column 'KG' (weight_kg): not a number: 'heavy',bad,heavy\r\n"
