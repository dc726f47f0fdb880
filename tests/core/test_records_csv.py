"""Records from CSV and Parquet exports through a column mapping: conversions, bad rows, bad mappings."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from smartcustoms.core.records_csv import (
    CARGO_FIELDS,
    CROSSING_FIELDS,
    LABEL_FIELDS,
    ColumnMapping,
    MappingError,
    RecordsError,
    RowError,
    load_mapping,
    read_records,
    record_time_s,
)
from smartcustoms.v1 import frame_pb2

MAPPING = """
kind = "cargo_declaration"
id = "SGD.NUMBER"
[fields]
hs_code = "TARIFF.CODE"
declared_at = { column = "SGD.DATE", format = "%d-%b-%y", utc_offset_hours = 1 }
declared_value_hkd = { column = "CIF.VALUE", scale = 0.052 }
weight_kg = "GROSS.WEIGHT"
description = "DESC"
[labels]
illicit = "illicit"
duty_at_stake_hkd = { column = "RAISED_TAX_AMOUNT", scale = 0.052 }
[constants]
origin = "NG"
route = ""
"""
HEADER = "SGD.NUMBER,SGD.DATE,TARIFF.CODE,CIF.VALUE,GROSS.WEIGHT,DESC,illicit,RAISED_TAX_AMOUNT"


def _mapping(tmp_path: Path, text: str = MAPPING) -> ColumnMapping:
    path = tmp_path / "map.toml"
    path.write_text(text)
    return load_mapping(path)


def _read(tmp_path: Path, rows: list[str], *, mapping: str = MAPPING, bom: bool = False) -> list[object]:
    path = tmp_path / "data.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + "\n".join([HEADER, *rows, ""]).encode())
    with read_records(path, _mapping(tmp_path, mapping)) as reader:
        return list(reader)


def _records(items: list[object]) -> dict[str, dict[str, str]]:
    return {r.record_id: dict(r.fields) for r in items if isinstance(r, frame_pb2.Record)}


def _errors(items: list[object]) -> list[RowError]:
    return [r for r in items if isinstance(r, RowError)]


# --------------------------------------------------------------------------- good rows


def test_good_rows_become_records_with_converted_fields(tmp_path: Path) -> None:
    items = _read(
        tmp_path, ["A1,05-Jan-13,85171300,1000,12.50,phones,1,250", "A2,06-Feb-13,0306,2e3,7,,no,0"]
    )
    assert _errors(items) == []
    assert all(r.kind == "cargo_declaration" for r in items if isinstance(r, frame_pb2.Record))
    assert _records(items) == {
        "A1": {
            "declared_at": "2013-01-05T00:00:00+01:00",
            "hs_code": "85171300",
            "declared_value_hkd": "52",  # 1000 * 0.052, a plain decimal
            "weight_kg": "12.5",
            "description": "phones",
            "illicit": "1",
            "duty_at_stake_hkd": "13",
            "origin": "NG",  # a constant; the empty route constant leaves route absent
        },
        "A2": {
            "declared_at": "2013-02-06T00:00:00+01:00",
            "hs_code": "0306",  # text stays text: the leading zero is kept
            "declared_value_hkd": "104",  # 2e3 * 0.052: no exponent
            "weight_kg": "7",
            "illicit": "0",
            "duty_at_stake_hkd": "0",
            "origin": "NG",
        },  # the empty DESC cell: description absent, not ""
    }


def test_a_header_with_a_byte_order_mark_and_quoted_commas_and_newlines(tmp_path: Path) -> None:
    rows = ['A1,05-Jan-13,1,1,1,"phones, used",0,0', 'A2,05-Jan-13,1,1,1,"two\nlines",0,0', "A3,x,1,1,1,,0,0"]
    items = _read(tmp_path, rows, bom=True)
    records = _records(items)
    assert records["A1"]["description"] == "phones, used"
    assert records["A2"]["description"] == "two\nlines"
    (error,) = _errors(items)
    assert error.line == 5  # A2 spans lines 3 and 4


def test_iso_dates_keep_their_offset_and_naive_ones_take_the_mapping_offset(tmp_path: Path) -> None:
    mapping = MAPPING.replace('format = "%d-%b-%y", utc_offset_hours = 1', 'format = "iso"')
    rows = ["A1,2024-03-01T10:00:00+08:00,1,1,1,,0,0", "A2,2024-03-01T10:00:00Z,1,1,1,,0,0"]
    rows += ["A3,2024-03-01 10:00,1,1,1,,0,0", "A4,2024-03-01,1,1,1,,0,0"]
    records = _records(_read(tmp_path, rows, mapping=mapping))
    assert [records[f"A{i}"]["declared_at"] for i in (1, 2, 3, 4)] == [
        "2024-03-01T10:00:00+08:00",
        "2024-03-01T10:00:00+00:00",
        "2024-03-01T10:00:00+00:00",  # no offset of its own, none in the mapping: UTC
        "2024-03-01T00:00:00+00:00",
    ]


def test_without_an_id_column_records_are_named_by_their_line(tmp_path: Path) -> None:
    mapping = MAPPING.replace('id = "SGD.NUMBER"\n', "")
    records = _records(_read(tmp_path, [",05-Jan-13,1,1,1,,0,0", ",05-Jan-13,2,1,1,,0,0"], mapping=mapping))
    assert list(records) == ["row-2", "row-3"]


def test_other_delimiters_and_encodings_come_from_the_mapping(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes("ID;DESC\nA1;Caf\xe9 cr\xe8me\n".encode("latin-1"))
    mapping = 'kind = "cargo_declaration"\nid = "ID"\ndelimiter = ";"\nencoding = "latin-1"\n'
    records = _records(
        list(read_records(path, _mapping(tmp_path, mapping + '[fields]\ndescription = "DESC"')))
    )
    assert records == {"A1": {"description": "Café crème"}}


# --------------------------------------------------------------------------- bad rows


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("A9,05-Jan-13,1,12.5.1,1,,0,0", "column 'CIF.VALUE' (declared_value_hkd): not a number: '12.5.1'"),
        ("A9,05-Jan-13,1,1,NaN,,0,0", "column 'GROSS.WEIGHT' (weight_kg): not a number: 'NaN'"),
        (
            "A9,2013-01-05,1,1,1,,0,0",
            "column 'SGD.DATE' (declared_at): not a date in '%d-%b-%y': '2013-01-05'",
        ),
        (
            "A9,05-Jan-13,1,1,1,,maybe,0",
            "column 'illicit' (illicit): not a flag (1/0, true/false, yes/no): 'maybe'",
        ),
        (" ,05-Jan-13,1,1,1,,0,0", "empty id (column 'SGD.NUMBER')"),
        ("A1,05-Jan-13,1,1,1,,0,0", "id 'A1' repeats line 2"),
        ("A9,05-Jan-13,1,1", "4 cells where the header has 8"),
        ("A9,05-Jan-13,1,1,1,,0,0,surplus", "9 cells where the header has 8"),
    ],
)
def test_a_bad_row_is_an_error_naming_its_line_id_and_reason(tmp_path: Path, row: str, message: str) -> None:
    items = _read(tmp_path, ["A1,05-Jan-13,1,1,1,,0,0", row, "A8,05-Jan-13,1,1,1,,0,0"])
    assert list(_records(items)) == ["A1", "A8"]  # the rows around it go through
    (error,) = _errors(items)
    assert (error.line, error.record_id.strip(), error.message) == (3, row.split(",")[0].strip(), message)
    assert error.cells == tuple(row.split(","))  # the row as it was, for the rejects file


def test_every_problem_of_a_row_is_named_and_trailing_empty_cells_are_fine(tmp_path: Path) -> None:
    items = _read(tmp_path, ["A1,bad,1,x,1,,0,0", "A2,05-Jan-13,1,1,1,,0,0,,"])
    (error,) = _errors(items)
    assert error.message.count(";") == 1 and "SGD.DATE" in error.message and "CIF.VALUE" in error.message
    assert list(_records(items)) == ["A2"]


def test_an_id_that_was_rejected_may_come_again(tmp_path: Path) -> None:
    items = _read(tmp_path, ["A1,05-Jan-13,1,x,1,,0,0", "A1,05-Jan-13,1,1,1,,0,0"])
    assert [e.line for e in _errors(items)] == [2]
    assert list(_records(items)) == ["A1"]


def test_a_mapped_column_missing_from_the_header_rejects_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("SGD.NUMBER,SGD.DATE,TARIF.CODE,CIF.VALUE,GROSS.WEIGHT,DESC,illicit\nA1,1,1,1,1,1,1\n")
    with pytest.raises(MappingError) as caught:
        read_records(path, _mapping(tmp_path))
    message = str(caught.value)
    assert "\n" not in message
    assert "'TARIFF.CODE' (fields.hs_code; did you mean 'TARIF.CODE'?)" in message
    assert "'RAISED_TAX_AMOUNT' (labels.duty_at_stake_hkd)" in message


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "no header row"),
        (HEADER.encode() + b"\nA1,\xff\xfe,1,1,1,,0,0\n", "not utf-8 text"),
    ],
)
def test_an_unreadable_file_is_one_records_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    with pytest.raises(RecordsError, match=message):
        list(read_records(path, _mapping(tmp_path)))


def test_a_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_records(tmp_path / "absent.csv", _mapping(tmp_path))


# --------------------------------------------------------------------------- mappings


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("", 'colour = "blue"\n'), "colour: unknown key"),
        (('kind = "cargo_declaration"', 'kind = "parcels"'), "kind: 'parcels' is not a record kind"),
        (('kind = "cargo_declaration"', ""), "kind: missing; one of cargo_declaration, vehicle_crossing"),
        (('hs_code = "TARIFF.CODE"', 'hscode = "TARIFF.CODE"'), "fields.hscode: not a field of this kind"),
        (('weight_kg = "GROSS.WEIGHT"', 'illicit_pattern = "X"'), "fields.illicit_pattern: not a field"),
        (('hs_code = "TARIFF.CODE"', "hs_code = { scale = 2 }"), "fields.hs_code.column: missing"),
        (('hs_code = "TARIFF.CODE"', 'hs_code = ""'), "fields.hs_code.column: must be a column name"),
        (('hs_code = "TARIFF.CODE"', "hs_code = 7"), "fields.hs_code: must be a column name or a table"),
        (
            ("scale = 0.052 }\nweight", 'scale = 0.052, unit = "x" }\nweight'),
            "declared_value_hkd.unit: unknown key",
        ),
        (('format = "%d-%b-%y"', 'format = "%d-%Q-%y"'), "fields.declared_at.format: unknown directive %Q"),
        (('format = "%d-%b-%y"', 'format = "day"'), "fields.declared_at.format: 'day' has no % directive"),
        (('format = "%d-%b-%y"', "format = 3"), "fields.declared_at.format: must be"),
        (
            ('hs_code = "TARIFF.CODE"', 'hs_code = { column = "T", format = "iso" }'),
            "hs_code.format: hs_code is not a date",
        ),
        (
            ('hs_code = "TARIFF.CODE"', 'hs_code = { column = "T", scale = 2 }'),
            "hs_code.scale: hs_code is not a number",
        ),
        (
            ("scale = 0.052 }\nweight", "scale = -1 }\nweight"),
            "declared_value_hkd.scale: must be a positive number",
        ),
        (
            ("scale = 0.052 }\nweight", 'scale = "2" }\nweight'),
            "declared_value_hkd.scale: must be a positive number",
        ),
        (
            ("utc_offset_hours = 1", "utc_offset_hours = 30"),
            "utc_offset_hours: must be a number from -14 to 14",
        ),
        (('origin = "NG"', "origin = 4"), "constants.origin: must be a string"),
        (('origin = "NG"', 'weight_kg = "heavy"'), "constants.weight_kg: the field is also mapped"),
        (('origin = "NG"', 'quantity = "many"'), "constants.quantity: not a number: 'many'"),
        (('origin = "NG"', 'colour = "x"'), "constants.colour: not a field of this kind"),
        (('id = "SGD.NUMBER"', 'id = ""'), "id: must be a column name"),
        (('id = "SGD.NUMBER"', 'delimiter = ";;"'), "delimiter: must be one character"),
        (('id = "SGD.NUMBER"', 'encoding = "klingon"'), "encoding: 'klingon' is not a text encoding"),
        (('kind = "cargo_declaration"', "kind = [\n"), "not valid TOML"),
    ],
)
def test_a_bad_mapping_is_one_line_naming_the_key(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    old, new = change
    text = new + MAPPING if not old else MAPPING.replace(old, new, 1)
    assert text != MAPPING
    with pytest.raises(MappingError) as caught:
        _mapping(tmp_path, text)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value) and str(caught.value).startswith(f"{tmp_path / 'map.toml'}: ")


def test_a_mapping_needs_a_table_of_fields(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="fields: map at least one record field"):
        _mapping(tmp_path, 'kind = "cargo_declaration"\n[labels]\nillicit = "x"\n')
    with pytest.raises(MappingError, match=r"fields: must be a table \(\[fields\]\)"):
        _mapping(tmp_path, 'kind = "cargo_declaration"\nfields = 3\n')


def test_a_crossing_mapping_reads_crossings(tmp_path: Path) -> None:
    path = tmp_path / "crossings.csv"
    path.write_text("plate,when,crossings\nAB123,2025-01-01T08:00:00+08:00,4\n")
    mapping = 'kind = "vehicle_crossing"\n[fields]\nplate_hk = "plate"\ntimestamp = "when"\n'
    (record,) = list(read_records(path, _mapping(tmp_path, mapping + 'crossings_30d = "crossings"\n')))
    assert isinstance(record, frame_pb2.Record)
    assert (record.kind, record.record_id, dict(record.fields)) == (
        "vehicle_crossing",
        "row-2",
        {"plate_hk": "AB123", "timestamp": "2025-01-01T08:00:00+08:00", "crossings_30d": "4"},
    )
    assert record_time_s(record) == datetime(2025, 1, 1, tzinfo=UTC).timestamp()


# --------------------------------------------------------------------------- schema and time


def test_the_schemas_cover_every_field_the_simulators_write() -> None:
    from smartcustoms.hardware.sim.records import CargoDeclarationSimulator, CrossingSimulator

    cargo = CargoDeclarationSimulator(seed=1).batch(0, size=20).records
    crossings = CrossingSimulator(seed=1).batch(0, size=20).records
    assert {name for r in cargo for name in r.fields} <= {info.name for info in CARGO_FIELDS}
    assert {name for r in crossings for name in r.fields} <= {info.name for info in CROSSING_FIELDS}
    assert {"illicit", "illicit_pattern", "duty_at_stake_hkd"} == LABEL_FIELDS
    assert (
        {i.name for i in CARGO_FIELDS if i.label}
        == {i.name for i in CROSSING_FIELDS if i.label}
        == LABEL_FIELDS
    )


def test_record_time_reads_the_declaration_time() -> None:
    def record(**fields: str) -> frame_pb2.Record:
        return frame_pb2.Record(record_id="r", kind="cargo_declaration", fields=fields)

    assert record_time_s(record(declared_at="2025-01-01T08:00:00+08:00")) == 1_735_689_600.0
    assert record_time_s(record(declared_at="2025-01-01T00:00:00")) == 1_735_689_600.0  # naive: UTC
    assert record_time_s(record()) is None
    assert record_time_s(record(declared_at="yesterday")) is None


# --------------------------------------------------------------------------- Parquet


def test_parquet_rows_are_read_typed_and_numbered_like_a_csv(tmp_path: Path) -> None:
    import pyarrow as pa  # in the test extras: Parquet support is optional at run time
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "SGD.NUMBER": ["A1", "A2", "A3"],
            "SGD.DATE": [datetime(2013, 1, 5), datetime(2013, 1, 6, 12, 30), datetime(2013, 1, 7)],
            "TARIFF.CODE": ["85171300", "0306", "1"],
            "CIF.VALUE": [1000.0, None, 3.0],
            "GROSS.WEIGHT": ["12.5", "7", "x"],
            "DESC": ["phones, used", "", "z"],
            "illicit": [True, False, False],
            "RAISED_TAX_AMOUNT": [250, 0, 0],
        }
    )
    path = tmp_path / "data.parquet"
    pq.write_table(table, path)
    with read_records(path, _mapping(tmp_path)) as reader:
        assert reader.columns[0] == "SGD.NUMBER"
        items = list(reader)
    records = _records(items)
    assert records["A1"]["declared_at"] == "2013-01-05T00:00:00+01:00"  # a timestamp column: no format needed
    assert records["A1"]["declared_value_hkd"] == "52"
    assert records["A1"]["illicit"] == "1"
    assert records["A1"]["description"] == "phones, used"
    assert "declared_value_hkd" not in records["A2"] and "description" not in records["A2"]  # null, ""
    (error,) = _errors(items)
    assert (error.line, error.record_id) == (4, "A3")
    assert "'GROSS.WEIGHT' (weight_kg): not a number: 'x'" in error.message


def test_parquet_without_pyarrow_says_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "data.parquet"
    path.write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(RecordsError, match=r"reading Parquet needs pyarrow: pip install pyarrow$"):
        read_records(path, _mapping(tmp_path))


def test_a_broken_parquet_file_is_one_records_error(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(RecordsError, match="not a readable Parquet file"):
        read_records(path, _mapping(tmp_path))


def test_the_mapping_in_the_documentation_loads(tmp_path: Path) -> None:
    docs = (Path(__file__).parents[2] / "docs" / "formats.md").read_text()
    section = docs[docs.index("### The column mapping") :]
    example = section[section.index("```toml\n") + 8 : section.index("```\n", section.index("```toml"))]
    mapping = _mapping(tmp_path, example)
    assert mapping.kind == "cargo_declaration" and mapping.id_column == "SGD.NUMBER"
    assert mapping.constants == {"unit": "piece"}
    assert {spec.field for spec in mapping.columns} >= {"declared_at", "declared_value_hkd", "illicit"}
