"""Records from outside: CSV or Parquet exports of customs data, mapped column by column onto records.

A column mapping (TOML, ``load_mapping``) says which record kind the rows become, which column holds the
record id and which column feeds each record field, with a scale for numbers (a currency conversion)
and a format for dates::

    kind = "cargo_declaration"
    id = "SGD.NUMBER"
    [fields]
    hs_code = "TARIFF.CODE"
    declared_at = { column = "SGD.DATE", format = "%d-%b-%y", utc_offset_hours = 1 }
    declared_value_hkd = { column = "CIF.VALUE", scale = 0.052 }
    [labels]
    illicit = "illicit"
    [constants]
    route = ""

``read_records`` streams the file as ``frame_pb2.Record`` messages, or a ``RowError`` for a row that
cannot become one (an unparsable number, date or flag, an empty or repeated id, a row cut short): the
rest go on. A mapped column missing from the header is a ``MappingError`` for the whole file. An empty
cell means the field is absent. Numbers are written as plain decimal strings, dates as ISO 8601 with
their UTC offset. Labels (ground truth) go into the record's fields too: evaluation reads them, and
risk plugins must ignore every field in ``LABEL_FIELDS``.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import enum
import importlib
import math
import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from difflib import get_close_matches
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from smartcustoms.v1 import frame_pb2

CARGO_KIND = "cargo_declaration"
CROSSING_KIND = "vehicle_crossing"


class FieldType(enum.Enum):
    TEXT = "text"  # kept as it is (surrounding spaces removed)
    NUMBER = "number"  # a decimal number, times the mapping's scale, written as a plain decimal string
    DATE = "date"  # ISO 8601 with UTC offset
    FLAG = "flag"  # "1" or "0" (from 1/0, true/false, yes/no, y/n, t/f)


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """One field of a record kind: ``Record.fields[name]``, a string of this type."""

    name: str
    type: FieldType
    description: str
    label: bool = False  # ground truth: for evaluation only, never a model input


_TEXT, _NUMBER, _DATE, _FLAG = FieldType.TEXT, FieldType.NUMBER, FieldType.DATE, FieldType.FLAG

_GROUND_TRUTH = (
    FieldInfo("illicit", _FLAG, "the inspection found an offence: 1, else 0", label=True),
    FieldInfo("illicit_pattern", _TEXT, "what kind of offence (free text)", label=True),
    FieldInfo("duty_at_stake_hkd", _NUMBER, "duty the record evades, in HK$ (0 when honest)", label=True),
)

CARGO_FIELDS: tuple[FieldInfo, ...] = (
    FieldInfo("declared_at", _DATE, "when the declaration was lodged"),
    FieldInfo("hs_code", _TEXT, "tariff code of the declared goods (HS, any number of digits)"),
    FieldInfo("description", _TEXT, "goods description as declared"),
    FieldInfo("declared_value_hkd", _NUMBER, "declared value in HK$"),
    FieldInfo("weight_kg", _NUMBER, "gross weight in kg"),
    FieldInfo("quantity", _NUMBER, "declared quantity, in unit"),
    FieldInfo("unit", _TEXT, "unit of the quantity (piece, kg, carton, ...)"),
    FieldInfo("origin", _TEXT, "country of origin (ISO 3166 alpha-2, or any code)"),
    FieldInfo("importer", _TEXT, "importer (name or tax id)"),
    FieldInfo("declarant", _TEXT, "declarant or customs broker"),
    FieldInfo("route", _TEXT, "legs joined by '>', e.g. VN-SGN>SG-SIN>HK-KWC"),
    FieldInfo("office", _TEXT, "customs office of the declaration (optional)"),
    *_GROUND_TRUTH,
)
"""The fields of a ``cargo_declaration`` record."""

CROSSING_FIELDS: tuple[FieldInfo, ...] = (
    FieldInfo("timestamp", _DATE, "when the car crossed"),
    FieldInfo("plate_hk", _TEXT, "Hong Kong plate"),
    FieldInfo("plate_mainland", _TEXT, "Guangdong plate"),
    FieldInfo("vehicle_model", _TEXT, "make and model"),
    FieldInfo("portal_model", _TEXT, "vehicle X-ray reference model it looks like"),
    FieldInfo("owner_type", _TEXT, "company or individual"),
    FieldInfo("driver_id_hash", _TEXT, "hash of the driver's identity document"),
    FieldInfo("crossing_point", _TEXT, "boundary control point"),
    FieldInfo("direction", _TEXT, "inbound or outbound"),
    FieldInfo("occupants", _NUMBER, "people in the car"),
    FieldInfo("crossings_30d", _NUMBER, "crossings of the car in the last 30 days"),
    FieldInfo("crossings_365d", _NUMBER, "crossings of the car in the last 365 days"),
    FieldInfo("distinct_drivers_90d", _NUMBER, "drivers of the car in the last 90 days"),
    FieldInfo("same_day_returns_30d", _NUMBER, "same-day returns in the last 30 days"),
    FieldInfo("mean_hours_across_30d", _NUMBER, "mean hours across the boundary per trip, last 30 days"),
    FieldInfo("vehicle_registered_days", _NUMBER, "days since the cross-boundary permit was issued"),
    FieldInfo("prior_inspections_365d", _NUMBER, "inspections of the car in the last 365 days"),
    FieldInfo("prior_seizures_365d", _NUMBER, "seizures from the car in the last 365 days"),
    *_GROUND_TRUTH,
)
"""The fields of a ``vehicle_crossing`` record."""

SCHEMAS: Mapping[str, tuple[FieldInfo, ...]] = {CARGO_KIND: CARGO_FIELDS, CROSSING_KIND: CROSSING_FIELDS}
TIME_FIELDS: Mapping[str, str] = {CARGO_KIND: "declared_at", CROSSING_KIND: "timestamp"}
LABEL_FIELDS = frozenset(info.name for info in _GROUND_TRUTH)
"""Ground truth fields: evaluation reads them; a plugin must never use them."""

_STRPTIME_DIRECTIVES = frozenset("aAbBcdfGHIjmMpSuUVwWxXyYzZ%")
_FLAGS = {"1": "1", "0": "0", "true": "1", "false": "0", "yes": "1", "no": "0"}
_FLAGS |= {"y": "1", "n": "0", "t": "1", "f": "0", "1.0": "1", "0.0": "0"}
_TOP_KEYS = ("kind", "id", "delimiter", "encoding", "fields", "labels", "constants")
_SPEC_KEYS = ("column", "scale", "format", "utc_offset_hours")
_PARQUET_SUFFIXES = (".parquet", ".pq")


class RecordsError(ValueError):
    """A file of records that cannot be read at all; the message is one line saying why."""


class MappingError(RecordsError):
    """A column mapping that is wrong, or that does not fit the file's header; the message names the key."""


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """Record field ``field`` from column ``column``."""

    field: str
    column: str
    type: FieldType
    key: str  # where the mapping says so, e.g. "fields.declared_at"
    scale: Decimal | None = None  # numbers: value * scale
    date_format: str = "iso"  # dates: "iso" or a strptime format
    utc_offset: timezone = UTC  # dates without an offset of their own are in this zone


@dataclass(frozen=True, slots=True)
class ColumnMapping:
    """Rows of a file to records of ``kind``: what ``load_mapping`` returns."""

    kind: str
    id_column: str  # "" : the record id is "row-<line>"
    columns: tuple[ColumnSpec, ...]
    constants: Mapping[str, str] = field(default_factory=dict)  # fields every record gets
    delimiter: str = ","
    encoding: str = "utf-8-sig"

    @property
    def required_columns(self) -> dict[str, str]:
        """Every column the file must have, with the mapping key that names it."""
        required = {spec.column: spec.key for spec in self.columns}
        return {self.id_column: "id", **required} if self.id_column else required


@dataclass(frozen=True, slots=True)
class RowError:
    """A row that did not become a record: its line in the file (the header is line 1) and why."""

    line: int
    record_id: str
    message: str
    cells: tuple[str, ...] = ()  # the row as it was read


# --------------------------------------------------------------------------- the mapping


def load_mapping(path: str | Path) -> ColumnMapping:
    """Read and check a column mapping; MappingError names the first key that is wrong."""
    try:
        values = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise MappingError(f"{path}: not valid TOML: {error}") from None
    except UnicodeDecodeError:
        raise MappingError(f"{path}: not UTF-8 text") from None
    try:
        return mapping_from_dict(values)
    except MappingError as error:
        raise MappingError(f"{path}: {error}") from None


def mapping_from_dict(values: Mapping[str, Any]) -> ColumnMapping:
    """A mapping from parsed TOML (see ``load_mapping``)."""
    _no_unknown_keys(values, _TOP_KEYS, "")
    kind = values.get("kind")
    if not isinstance(kind, str) or kind not in SCHEMAS:
        given = "missing" if kind is None else f"{kind!r} is not a record kind"
        raise MappingError(f"kind: {given}; one of {', '.join(SCHEMAS)}")
    schema = {info.name: info for info in SCHEMAS[kind]}
    columns = [
        _column_spec(section, name, value, schema)
        for section in ("fields", "labels")
        for name, value in _table(values, section).items()
    ]
    if not any(spec.key.startswith("fields.") for spec in columns):
        raise MappingError("fields: map at least one record field to a column")
    mapped = {spec.field for spec in columns}
    constants = {
        name: _constant(name, value, schema, mapped) for name, value in _table(values, "constants").items()
    }
    constants = {name: value for name, value in constants.items() if value}  # "" : absent, like a cell
    return ColumnMapping(
        kind=kind,
        id_column=_text_option(values, "id", "") if "id" in values else "",
        columns=tuple(columns),
        constants=constants,
        delimiter=_delimiter(values),
        encoding=_encoding(values),
    )


def _no_unknown_keys(values: Mapping[str, Any], known: Sequence[str], prefix: str) -> None:
    for key in values:
        if key not in known:
            raise MappingError(f"{prefix}{key}: unknown key; known keys are {', '.join(known)}")


def _table(values: Mapping[str, Any], section: str) -> Mapping[str, Any]:
    table = values.get(section, {})
    if not isinstance(table, dict):
        raise MappingError(f"{section}: must be a table ([{section}])")
    return table


def _text_option(values: Mapping[str, Any], key: str, prefix: str) -> str:
    value = values[key]
    if not isinstance(value, str) or not value.strip():
        raise MappingError(f"{prefix}{key}: must be a column name (a non-empty string), got {value!r}")
    return value.strip()


def _column_spec(section: str, name: str, value: Any, schema: Mapping[str, FieldInfo]) -> ColumnSpec:
    key = f"{section}.{name}"
    info = schema.get(name)
    if info is None or info.label != (section == "labels"):
        wanted = sorted(n for n, i in schema.items() if i.label == (section == "labels"))
        where = " (a label: put it under [labels])" if info is not None and info.label else ""
        raise MappingError(f"{key}: not a {section[:-1]} of this kind{where}; known: {', '.join(wanted)}")
    if isinstance(value, str):
        value = {"column": value}
    if not isinstance(value, dict):
        raise MappingError(f"{key}: must be a column name or a table with column = ...")
    _no_unknown_keys(value, _SPEC_KEYS, f"{key}.")
    if "column" not in value:
        raise MappingError(f"{key}.column: missing (the column this field comes from)")
    column = _text_option(value, "column", f"{key}.")
    options: dict[str, Any] = {}
    if "scale" in value:
        options["scale"] = _scale(value["scale"], info, key)
    if "format" in value:
        options["date_format"] = _date_format(value["format"], info, key)
    if "utc_offset_hours" in value:
        options["utc_offset"] = _utc_offset(value["utc_offset_hours"], info, key)
    return ColumnSpec(name, column, info.type, key, **options)


def _scale(value: Any, info: FieldInfo, key: str) -> Decimal:
    if info.type is not _NUMBER:
        raise MappingError(f"{key}.scale: {info.name} is not a number field")
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise MappingError(f"{key}.scale: must be a positive number, got {value!r}")
    return Decimal(str(value))


def _date_format(value: Any, info: FieldInfo, key: str) -> str:
    if info.type is not _DATE:
        raise MappingError(f"{key}.format: {info.name} is not a date field")
    if not isinstance(value, str) or not value:
        raise MappingError(f'{key}.format: must be "iso" or a strptime format, got {value!r}')
    if value == "iso":
        return value
    directives = re.findall(r"%(.?)", value.replace("%%", ""))
    unknown = [d for d in directives if d not in _STRPTIME_DIRECTIVES]
    if unknown:
        raise MappingError(f"{key}.format: unknown directive %{unknown[0]} in {value!r}")
    if not directives:
        raise MappingError(f'{key}.format: {value!r} has no % directive ("iso", or e.g. "%d/%m/%Y")')
    return value


def _utc_offset(value: Any, info: FieldInfo, key: str) -> timezone:
    if info.type is not _DATE:
        raise MappingError(f"{key}.utc_offset_hours: {info.name} is not a date field")
    if isinstance(value, bool) or not isinstance(value, int | float) or not -14 <= value <= 14:
        raise MappingError(f"{key}.utc_offset_hours: must be a number from -14 to 14, got {value!r}")
    return timezone(timedelta(hours=value))


def _constant(name: str, value: Any, schema: Mapping[str, FieldInfo], mapped: set[str]) -> str:
    key = f"constants.{name}"
    if name not in schema:
        raise MappingError(f"{key}: not a field of this kind; known: {', '.join(schema)}")
    if name in mapped:
        raise MappingError(f"{key}: the field is also mapped to a column")
    if not isinstance(value, str):
        raise MappingError(f"{key}: must be a string, got {value!r}")
    try:
        return convert(ColumnSpec(name, "", schema[name].type, key), value) if value else ""
    except ValueError as error:
        raise MappingError(f"{key}: {error}") from None


def _delimiter(values: Mapping[str, Any]) -> str:
    delimiter = values.get("delimiter", ",")
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in '"\r\n':
        raise MappingError(f"delimiter: must be one character (not a quote or newline), got {delimiter!r}")
    return delimiter


def _encoding(values: Mapping[str, Any]) -> str:
    encoding = values.get("encoding", "utf-8-sig")
    try:
        codecs.lookup(encoding)
    except (LookupError, TypeError):
        raise MappingError(f"encoding: {encoding!r} is not a text encoding Python knows") from None
    return str(encoding)


# --------------------------------------------------------------------------- one cell


def convert(spec: ColumnSpec, value: object) -> str:
    """A non-empty cell as the field's string; ValueError saying why it cannot be one."""
    if spec.type is _NUMBER:
        return _number(value, spec.scale)
    if spec.type is _DATE:
        return _date(value, spec.date_format, spec.utc_offset)
    if spec.type is _FLAG:
        flag = _FLAGS.get(_text(value).lower())
        if flag is None:
            raise ValueError(f"not a flag (1/0, true/false, yes/no): {_text(value)!r}")
        return flag
    return _text(value)


def _text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a code read as a float from Parquet: 85171300.0 -> "85171300"
    return str(value).strip()


def _number(value: object, scale: Decimal | None) -> str:
    try:
        number = Decimal(str(value).strip()) if not isinstance(value, bool) else Decimal("nan")
    except InvalidOperation:
        number = Decimal("nan")
    if not number.is_finite():
        raise ValueError(f"not a number: {_text(value)!r}")
    if scale is not None:
        number *= scale
    return _plain(number)


def _plain(number: Decimal) -> str:
    """A decimal as digits and at most one point: no exponent, no trailing zeros, no "-0"."""
    if number.is_zero():
        return "0"
    return format(number.normalize(), "f")


def _date(value: object, date_format: str, utc_offset: timezone) -> str:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        text = str(value).strip()
        try:
            moment = (
                datetime.fromisoformat(text) if date_format == "iso" else datetime.strptime(text, date_format)
            )
        except ValueError:
            wanted = "ISO 8601" if date_format == "iso" else repr(date_format)
            raise ValueError(f"not a date in {wanted}: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=utc_offset)
    return moment.isoformat()


def record_time_s(record: frame_pb2.Record) -> float | None:
    """Seconds since the epoch of a record's own time (``declared_at``, or ``timestamp`` of a
    vehicle crossing); None when the kind has none or the field is absent or not ISO 8601. A time
    without a UTC offset is taken as UTC."""
    name = TIME_FIELDS.get(record.kind, "declared_at")
    text = record.fields.get(name, "")
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


# --------------------------------------------------------------------------- a file


class RecordReader:
    """The records of one file, in file order (an ``Iterator[Record | RowError]``); ``columns`` is
    the file's header, ``line`` the line of the row last read. Close it, or use it as a context
    manager, to release the file early."""

    def __init__(self, path: str | Path, mapping: ColumnMapping) -> None:
        self.path = Path(path)
        self.mapping = mapping
        self._file: IO[str] | None = None
        if self.path.suffix.lower() in _PARQUET_SUFFIXES:
            self.columns, rows = _parquet_rows(self.path)
        else:
            self._file = self.path.open(encoding=mapping.encoding, newline="")
            try:
                self.columns, rows = _csv_rows(self._file, self.path, mapping.delimiter)
            except BaseException:
                self.close()
                raise
        try:
            self._indices = _column_indices(self.columns, mapping, self.path)
        except MappingError:
            self.close()
            raise
        self.line = 1  # of the row last read (the header is line 1)
        self._items = self._convert_rows(rows)

    def __iter__(self) -> RecordReader:
        return self

    def __next__(self) -> frame_pb2.Record | RowError:
        return next(self._items)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def __enter__(self) -> RecordReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _convert_rows(
        self, rows: Iterator[tuple[int, list[object]]]
    ) -> Iterator[frame_pb2.Record | RowError]:
        first_line_of: dict[str, int] = {}
        try:
            for line, cells in rows:
                self.line = line
                yield self._row(line, cells, first_line_of)
        finally:
            self.close()

    def _row(
        self, line: int, cells: list[object], first_line_of: dict[str, int]
    ) -> frame_pb2.Record | RowError:
        mapping, width = self.mapping, len(self.columns)
        record_id = f"row-{line}"
        if mapping.id_column:
            record_id = _cell_text(cells, self._indices[mapping.id_column])
        original = tuple(_original(c) for c in cells)
        if len(cells) < width or any(_cell_text(cells, i) for i in range(width, len(cells))):
            return RowError(line, record_id, f"{len(cells)} cells where the header has {width}", original)
        problems = []
        if not record_id:
            problems.append(f"empty id (column {mapping.id_column!r})")
        elif record_id in first_line_of:
            problems.append(f"id {record_id!r} repeats line {first_line_of[record_id]}")
        fields = dict(mapping.constants)
        for spec in mapping.columns:
            value = cells[self._indices[spec.column]]
            if _is_empty(value):
                continue
            try:
                fields[spec.field] = convert(spec, value)
            except ValueError as error:
                problems.append(f"column {spec.column!r} ({spec.field}): {error}")
        if problems:
            return RowError(line, record_id, "; ".join(problems), original)
        first_line_of[record_id] = line
        return frame_pb2.Record(record_id=record_id, kind=mapping.kind, fields=fields)


def read_records(path: str | Path, mapping: ColumnMapping) -> RecordReader:
    """Stream a CSV (or, by suffix .parquet/.pq and with pyarrow installed, a Parquet) file as records.

    Opens the file and checks its header at once: OSError if it cannot be opened, MappingError if a
    mapped column is missing, RecordsError if it is not a readable file of that format. Iterating
    yields a ``Record`` or a ``RowError`` per row (RecordsError if the text turns unreadable midway).
    """
    return RecordReader(path, mapping)


def _column_indices(columns: Sequence[str], mapping: ColumnMapping, path: Path) -> dict[str, int]:
    missing = [
        f"{column!r} ({key}{_close_match(column, columns)})"
        for column, key in mapping.required_columns.items()
        if column not in columns
    ]
    if missing:
        raise MappingError(f"{path}: not in the header: {', '.join(missing)}")
    for column in mapping.required_columns:
        if columns.count(column) > 1:
            raise MappingError(
                f"{path}: column {column!r} appears {columns.count(column)} times in the header"
            )
    return {column: columns.index(column) for column in mapping.required_columns}


def _close_match(column: str, columns: Sequence[str]) -> str:
    close = get_close_matches(column, columns, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _csv_rows(
    file: IO[str], path: Path, delimiter: str
) -> tuple[tuple[str, ...], Iterator[tuple[int, list[object]]]]:
    reader = csv.reader(file, delimiter=delimiter)
    header: list[str] | None = None
    with _unreadable_text(path, reader):
        header = next(reader, None)
    if not header:
        raise RecordsError(f"{path}: no header row")

    def rows() -> Iterator[tuple[int, list[object]]]:
        with _unreadable_text(path, reader):
            line = reader.line_num + 1
            for cells in reader:
                if cells:  # a blank line
                    yield line, list(cells)
                line = reader.line_num + 1

    return tuple(name.strip() for name in header), rows()


@contextlib.contextmanager
def _unreadable_text(path: Path, reader: Any) -> Iterator[None]:
    """Text that is not in the mapping's encoding, or a broken CSV structure: a RecordsError."""
    try:
        yield
    except UnicodeDecodeError as error:
        raise RecordsError(f"{path}: after line {reader.line_num}: not {error.encoding} text") from None
    except csv.Error as error:
        raise RecordsError(f"{path}: line {reader.line_num}: {error}") from None


def _parquet_rows(path: Path) -> tuple[tuple[str, ...], Iterator[tuple[int, list[object]]]]:
    """Rows numbered as in a CSV export of the same table: the first row is line 2."""
    if not path.is_file():
        raise FileNotFoundError(2, "No such file", str(path))
    try:
        parquet: Any = importlib.import_module("pyarrow.parquet")
    except ImportError:
        raise RecordsError(f"{path}: reading Parquet needs pyarrow: pip install pyarrow") from None
    arrow_error = importlib.import_module("pyarrow").ArrowException
    try:
        table_file = parquet.ParquetFile(path)
    except arrow_error as error:
        raise RecordsError(f"{path}: not a readable Parquet file: {error}") from None
    columns = tuple(str(name).strip() for name in table_file.schema_arrow.names)

    def rows() -> Iterator[tuple[int, list[object]]]:
        line = 2
        try:
            for batch in table_file.iter_batches(batch_size=4096):
                for values in zip(*(column.to_pylist() for column in batch.columns), strict=True):
                    yield line, list(values)
                    line += 1
        except arrow_error as error:
            raise RecordsError(f"{path}: near line {line}: {error}") from None

    return columns, rows()


def _is_empty(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, str) and not value.strip()


def _cell_text(cells: Sequence[object], index: int) -> str:
    if index >= len(cells) or _is_empty(cells[index]):
        return ""
    return _text(cells[index])


def _original(value: object) -> str:
    return "" if value is None else str(value)
