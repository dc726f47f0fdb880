"""Frame header checks, FrameView and array_frame."""

from __future__ import annotations

import numpy as np
import pytest

from smartcustoms.core.frames import (
    FrameError,
    FrameView,
    array_frame,
    check_header,
    identifier_problem,
    inline_view,
    scoped_frame_id,
    scoping_problem,
)
from smartcustoms.core.types import Modality
from smartcustoms.v1 import frame_pb2


def header(**fields: object) -> frame_pb2.Frame:
    values: dict[str, object] = {
        "frame_id": "f-1",
        "source_id": "lane-1-xray",
        "modality": frame_pb2.MODALITY_XRAY,
        "shape": [4, 8],
        "dtype": frame_pb2.DTYPE_UINT16,
        "encoding": "raw",
    }
    values.update(fields)
    return frame_pb2.Frame(**values)  # type: ignore[arg-type]  # protobuf kwargs are untyped


# ---------------------------------------------------------------------------------------------------
# check_header: accepted frames
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "payload_bytes", "modality"),
    [
        (header(), 4 * 8 * 2, Modality.XRAY),
        (header(shape=[2, 4, 8]), 2 * 4 * 8 * 2, Modality.XRAY),
        (
            header(modality=frame_pb2.MODALITY_CT, shape=[3, 4, 5], dtype=frame_pb2.DTYPE_FLOAT32),
            240,
            Modality.CT,
        ),
        (
            header(modality=frame_pb2.MODALITY_CAMERA, shape=[4, 8, 3], dtype=frame_pb2.DTYPE_UINT8),
            96,
            Modality.CAMERA,
        ),
        (
            header(modality=frame_pb2.MODALITY_CAMERA, shape=[480, 640, 3], dtype=0, encoding="jpeg"),
            1234,
            Modality.CAMERA,
        ),
        (header(modality=frame_pb2.MODALITY_CAMERA, shape=[], dtype=0, encoding="jpeg"), 10, Modality.CAMERA),
        (header(modality=frame_pb2.MODALITY_RFID, shape=[], dtype=0, encoding="protobuf"), 50, Modality.RFID),
        (header(modality=frame_pb2.MODALITY_RECORD, shape=[], dtype=0, encoding=""), 0, Modality.RECORD),
    ],
)
def test_check_header_accepts(frame: frame_pb2.Frame, payload_bytes: int, modality: Modality) -> None:
    assert check_header(frame, payload_bytes) is modality


@pytest.mark.parametrize("dtype", sorted(set(frame_pb2.DType.values()) - {frame_pb2.DTYPE_UNSPECIFIED}))
def test_check_header_every_dtype(dtype: int) -> None:
    itemsize = {1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 8}[dtype]
    assert check_header(header(dtype=dtype), 32 * itemsize) is Modality.XRAY


# ---------------------------------------------------------------------------------------------------
# check_header: every failure class
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "payload_bytes", "message"),
    [
        (header(modality=frame_pb2.MODALITY_UNSPECIFIED), 64, "unknown modality 0"),
        (header(modality=42), 64, "unknown modality 42"),
        (header(source_id=""), 64, "source_id is required"),
        (header(dtype=0), 64, "xray frames need a dtype and a shape"),
        (
            header(modality=frame_pb2.MODALITY_CT, dtype=0, shape=[2, 2, 2]),
            8,
            "ct frames need a dtype and a shape",
        ),
        (header(modality=frame_pb2.MODALITY_CAMERA, dtype=0, encoding=""), 64, "camera frames need a dtype"),
        (header(shape=[64]), 128, r"xray shape \[64\] must have rank \(2, 3\)"),
        (header(shape=[1, 2, 4, 8]), 128, r"must have rank \(2, 3\)"),
        (
            header(modality=frame_pb2.MODALITY_CT, shape=[4, 8]),
            64,
            r"ct shape \[4, 8\] must have rank \(3,\)",
        ),
        (header(shape=[]), 0, "must have rank"),
        (header(shape=[0, 8]), 0, "no zero size"),
        (header(shape=[2, 0, 8]), 0, "no zero size"),
        (header(), 63, r"shape \[4, 8\] x uint16 needs 64 bytes, payload has 63"),
        (header(), 65, "needs 64 bytes, payload has 65"),
        (header(dtype=99), 64, "unknown dtype 99"),
        (
            header(modality=frame_pb2.MODALITY_RFID, shape=[8], dtype=frame_pb2.DTYPE_UINT8),
            8,
            "rfid frames do not carry raw arrays",
        ),
    ],
)
def test_check_header_rejects(frame: frame_pb2.Frame, payload_bytes: int, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        check_header(frame, payload_bytes)


def test_frame_error_is_a_value_error() -> None:
    assert issubclass(FrameError, ValueError)


def test_check_header_rejects_shape_whose_size_overflows() -> None:
    frame = header(shape=[2**22, 2**21, 2**21], dtype=frame_pb2.DTYPE_UINT8)  # 2**64 elements
    with pytest.raises(FrameError):
        check_header(frame, 0)


# ---------------------------------------------------------------------------------------------------
# FrameView
# ---------------------------------------------------------------------------------------------------


def test_frame_view_properties() -> None:
    frame = header(metadata={"energy_kev": "160"}, shape=[2, 3, 4])
    view = inline_view(frame)
    assert (view.frame_id, view.source_id, view.modality) == ("f-1", "lane-1-xray", Modality.XRAY)
    assert view.shape == (2, 3, 4)
    assert dict(view.metadata) == {"energy_kev": "160"}
    assert view.frame is frame


def test_frame_view_array_is_a_read_only_view_without_copy() -> None:
    data = np.arange(32, dtype="<u2").reshape(4, 8)
    buffer = data.tobytes()
    view = FrameView(header(), lambda: memoryview(buffer))
    array = view.array()
    assert array.shape == (4, 8) and array.dtype == np.dtype("<u2")
    np.testing.assert_array_equal(array, data)
    assert np.shares_memory(array, np.frombuffer(buffer, dtype=np.uint8))
    assert not array.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        array[0, 0] = 1


def test_frame_view_loads_payload_once_and_lazily() -> None:
    loads: list[int] = []

    def load() -> memoryview:
        loads.append(1)
        return memoryview(bytes(64))

    view = FrameView(header(), load)
    assert view.frame_id == "f-1" and loads == []  # the header alone does not load the payload
    view.array()
    view.array()
    assert len(view.payload) == 64
    assert loads == [1]


def test_frame_view_array_without_dtype() -> None:
    view = inline_view(
        header(modality=frame_pb2.MODALITY_CAMERA, dtype=0, encoding="jpeg", payload=b"\xff\xd8")
    )
    with pytest.raises(FrameError, match="frame f-1 has no array payload"):
        view.array()


def test_frame_view_rfid_reads_and_records() -> None:
    reads = frame_pb2.RfidReadBatch(reader_id="r", reads=[frame_pb2.RfidRead(epc_hex="30AB", antenna_id=2)])
    records = frame_pb2.RecordBatch(records=[frame_pb2.Record(record_id="d-1", fields={"k": "v"})])
    rfid = inline_view(header(modality=frame_pb2.MODALITY_RFID, payload=reads.SerializeToString()))
    record = inline_view(header(modality=frame_pb2.MODALITY_RECORD, payload=records.SerializeToString()))
    assert rfid.rfid_reads() == reads
    assert record.records() == records


# ---------------------------------------------------------------------------------------------------
# array_frame
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["<u1", "<u2", "<i2", "<u4", "<i4", "<f4", "<f8", ">u2", ">f8"])
def test_array_frame_round_trip(dtype: str) -> None:
    array = (np.arange(24) % 7).astype(dtype).reshape(2, 3, 4)
    frame = array_frame(
        array, modality=Modality.XRAY, source_id="lane-2", sequence=5, frame_id="f-9", conveyance_id="ABC123"
    )
    assert (frame.frame_id, frame.source_id, frame.sequence, frame.conveyance_id) == (
        "f-9",
        "lane-2",
        5,
        "ABC123",
    )
    assert list(frame.shape) == [2, 3, 4]
    assert frame.encoding == "raw"
    assert frame.payload_bytes == len(frame.payload) == array.nbytes
    assert frame.HasField("capture_time")
    assert check_header(frame, frame.payload_bytes) is Modality.XRAY
    restored = inline_view(frame).array()
    assert restored.dtype == np.dtype(dtype).newbyteorder("<")
    np.testing.assert_array_equal(restored, array)


def test_array_frame_non_contiguous_input() -> None:
    array = np.arange(64, dtype=np.uint16).reshape(8, 8)[:, ::2]
    restored = inline_view(array_frame(array, modality=Modality.XRAY, source_id="s", sequence=0)).array()
    np.testing.assert_array_equal(restored, array)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("lane-3-xray", None),
        ("llrp:10.0.0.7:5084/ant#2", None),
        ("x" * 128, None),
        ("x" * 129, "frame_id has 129 characters, more than the 128 allowed"),
        ("bag 77", "frame_id must be printable ASCII without spaces"),
        ("\u05e9\u05e2\u05e8", "frame_id must be printable ASCII without spaces"),
        ("tab\there", "frame_id must be printable ASCII without spaces"),
    ],
)
def test_identifier_problem(value: str, problem: str | None) -> None:
    assert identifier_problem(value, "frame_id") == problem


@pytest.mark.parametrize(
    ("frame_id", "source_id", "problem"),
    [
        ("bag-7", "lane-1", None),
        ("lane-1/bag-7", "lane-1", None),  # a source may name its frames in its own scope
        ("lane-2/bag-7", "lane-1", "must begin with its own source id"),  # not in another's
        ("2026/12/03-7", "lane-1", "must begin with its own source id"),
        ("bag-7", "lane/1", "source_id may not contain '/'"),
    ],
)
def test_frame_ids_with_a_slash_are_their_own_source_s_scope(
    frame_id: str, source_id: str, problem: str | None
) -> None:
    found = scoping_problem(frame_id, source_id)
    assert (found is None) if problem is None else (found is not None and problem in found)
    if problem is None:
        assert scoping_problem(scoped_frame_id(source_id, frame_id), source_id) is None
