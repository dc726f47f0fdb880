"""GS1 EPC Tag Data Standard: the 96-bit binary encodings of SGTIN, GRAI and GIAI.

An EPC Gen2 tag reports its EPC as bits; the Tag Data Standard (TDS) says how those bits carry a GS1
key. The three 96-bit schemes evidence stores use share one layout: an 8-bit header naming the
scheme, a 3-bit filter, a 3-bit partition that splits the next bits between the GS1 company prefix
and the scheme's reference, and (SGTIN, GRAI) a 38-bit serial number:

    SGTIN-96  0x30  filter 3  partition 3  company prefix + item reference (with indicator) 44  serial 38
    GRAI-96   0x33  filter 3  partition 3  company prefix + asset type 44                     serial 38
    GIAI-96   0x34  filter 3  partition 3  company prefix + individual asset reference 82

Partition tables as in the GS1 Tag Data Translation files (ref.gs1.org/standards/tdt/2.0.0/
SGTIN-96.xml, GRAI-96.xml, GIAI-96.xml). This is the one EPC-96 codec of the project: device adapters,
simulators and plugins all use it.

``decode_epc96`` turns 24 hex digits into an ``Epc96`` with its pure-identity URI (urn:epc:id:sgtin:...)
and tag URI (urn:epc:tag:sgtin-96:...), strictly: anything the TDS decoding procedure rejects raises
``EpcError`` (a ValueError) saying why, and ``epc96_problem`` returns that reason as text ("" for an
accepted EPC). The ``encode_*`` functions and ``encode_tag_uri`` go the other way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

EPC96_HEX_DIGITS = 24
SERIAL_BITS = 38
_PREFIX_DIGITS_BY_PARTITION = (12, 11, 10, 9, 8, 7, 6)
_PREFIX_BITS_BY_PARTITION = (40, 37, 34, 30, 27, 24, 20)
_HEX_DIGITS = re.compile(r"[0-9A-Fa-f]*")  # only ASCII hex: no sign, 0x prefix, underscores or other scripts


class EpcError(ValueError):
    """Text that is not an accepted EPC-96, or values that do not encode as one; the message says why."""


@dataclass(frozen=True)
class Scheme:
    """One EPC-96 scheme: its header, names and partition table."""

    name: str  # tag-URI name, e.g. "sgtin-96"
    header: int
    uri_name: str  # pure-identity URI name, e.g. "sgtin"
    reference_bits: tuple[int, ...]  # by partition value
    reference_digits: tuple[int, ...]  # by partition value
    serialised: bool  # SGTIN and GRAI carry a 38-bit serial; GIAI does not

    def partition_for(self, company_prefix: str) -> int:
        digits = company_prefix.isascii() and company_prefix.isdigit()
        if not digits or len(company_prefix) not in _PREFIX_DIGITS_BY_PARTITION:
            raise EpcError(f"a GS1 company prefix has 6 to 12 digits, got {company_prefix!r}")
        return _PREFIX_DIGITS_BY_PARTITION.index(len(company_prefix))


SGTIN96 = Scheme("sgtin-96", 0x30, "sgtin", (4, 7, 10, 14, 17, 20, 24), (1, 2, 3, 4, 5, 6, 7), True)
GRAI96 = Scheme("grai-96", 0x33, "grai", (4, 7, 10, 14, 17, 20, 24), (0, 1, 2, 3, 4, 5, 6), True)
GIAI96 = Scheme("giai-96", 0x34, "giai", (42, 45, 48, 52, 55, 58, 62), (13, 14, 15, 16, 17, 18, 19), False)
SCHEMES: dict[int, Scheme] = {s.header: s for s in (SGTIN96, GRAI96, GIAI96)}
_SCHEMES_BY_NAME = {s.name: s for s in SCHEMES.values()}


@dataclass(frozen=True)
class Epc96:
    """A decoded EPC-96: ``reference`` is the item reference with its indicator digit (SGTIN), the asset
    type (GRAI) or the individual asset reference (GIAI); ``serial`` is None for GIAI."""

    scheme: Scheme
    filter: int
    partition: int
    company_prefix: str
    reference: str
    serial: int | None

    @property
    def hex(self) -> str:
        return _encode(self.scheme, self.filter, self.company_prefix, self.reference, self.serial)

    @property
    def pure_identity_uri(self) -> str:
        fields = [self.company_prefix, self.reference]
        if self.serial is not None:
            fields.append(str(self.serial))
        return f"urn:epc:id:{self.scheme.uri_name}:{'.'.join(fields)}"

    @property
    def tag_uri(self) -> str:
        return self.pure_identity_uri.replace(
            f"urn:epc:id:{self.scheme.uri_name}:", f"urn:epc:tag:{self.scheme.name}:{self.filter}.", 1
        )

    @property
    def gtin(self) -> str:
        """GTIN-14 of an SGTIN: indicator, company prefix, item reference, check digit."""
        if self.scheme is not SGTIN96:
            raise EpcError(f"{self.scheme.name} identifies no trade item")
        digits = self.reference[0] + self.company_prefix + self.reference[1:]
        return digits + str(gs1_check_digit(digits))


def gs1_check_digit(digits: str) -> int:
    """GS1 mod-10 check digit: weights 3, 1, 3 ... from the rightmost data digit."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return (10 - total % 10) % 10


# --------------------------------------------------------------------------- decoding


def decode_epc96(epc_hex: str) -> Epc96:
    """Decode 24 hex digits of an SGTIN-96, GRAI-96 or GIAI-96 EPC (TDS decoding procedure).

    Either case; surrounding whitespace is ignored. Raises ``EpcError`` saying why for a wrong
    length, non-hex text, an unknown header, a reserved partition, or a company prefix or reference
    with more digits than its partition allows.
    """
    scheme, filter_value, partition, prefix_value, reference_value, serial = _fields(epc_hex)
    reference_digits = scheme.reference_digits[partition]
    if scheme.serialised:
        reference = f"{reference_value:0{reference_digits}d}" if reference_digits else ""
    else:
        reference = str(reference_value)  # GIAI-96: a number, no leading zeros
    prefix = f"{prefix_value:0{_PREFIX_DIGITS_BY_PARTITION[partition]}d}"
    return Epc96(scheme, filter_value, partition, prefix, reference, serial)


def _fields(epc_hex: str) -> tuple[Scheme, int, int, int, int, int | None]:
    """Scheme, filter, partition, company prefix, reference and serial (None for GIAI) as numbers,
    each checked: the whole of the strict decoding, which ``decode_epc96`` only formats."""
    value = _epc96_value(epc_hex)
    header = value >> 88
    scheme = SCHEMES.get(header)
    if scheme is None:
        raise EpcError(f"header 0x{header:02X} is not SGTIN-96 (0x30), GRAI-96 (0x33) or GIAI-96 (0x34)")
    filter_value = (value >> 85) & 0b111
    partition = (value >> 82) & 0b111
    if partition > 6:
        raise EpcError(f"partition value {partition} is reserved")
    serial_bits = SERIAL_BITS if scheme.serialised else 0
    reference_bits, reference_digits = scheme.reference_bits[partition], scheme.reference_digits[partition]
    prefix_bits, prefix_digits = _PREFIX_BITS_BY_PARTITION[partition], _PREFIX_DIGITS_BY_PARTITION[partition]
    prefix_value = (value >> (serial_bits + reference_bits)) & ((1 << prefix_bits) - 1)
    reference_value = (value >> serial_bits) & ((1 << reference_bits) - 1)
    if prefix_value >= 10**prefix_digits:
        raise EpcError(f"company prefix {prefix_value} has more than {prefix_digits} digits")
    if reference_value >= 10**reference_digits:
        raise EpcError(f"{scheme.name} reference {reference_value} has more than {reference_digits} digits")
    serial = value & ((1 << SERIAL_BITS) - 1) if scheme.serialised else None
    return scheme, filter_value, partition, prefix_value, reference_value, serial


def epc96_problem(epc_hex: str) -> str:
    """Why ``epc_hex`` is not an accepted EPC-96 (SGTIN-96, GRAI-96, GIAI-96), or "" when it is one.

    The reason is the one ``decode_epc96`` gives, e.g. "header 0xE2 is not SGTIN-96 (0x30), ...".
    """
    try:
        _fields(epc_hex)
    except EpcError as error:
        return str(error)
    return ""


def is_gs1_epc96(epc_hex: str) -> bool:
    """True when ``epc_hex`` decodes as an SGTIN-96, GRAI-96 or GIAI-96."""
    return not epc96_problem(epc_hex)


def _epc96_value(epc_hex: str) -> int:
    text = epc_hex.strip()
    if len(text) != EPC96_HEX_DIGITS:
        raise EpcError(f"an EPC-96 has {EPC96_HEX_DIGITS} hex digits, got {len(text)}")
    if not _HEX_DIGITS.fullmatch(text):
        raise EpcError(f"not hexadecimal: {text!r}")
    return int(text, 16)


# --------------------------------------------------------------------------- encoding


def encode_sgtin96(company_prefix: str, item_reference: str, serial: int, *, filter_value: int = 1) -> str:
    """SGTIN-96 hex; ``item_reference`` is the indicator digit and item reference, 13 - prefix digits long.
    Filter 1 is a point-of-sale trade item, 3 a full case (TDS filter table)."""
    return _encode(SGTIN96, filter_value, company_prefix, item_reference, serial)


def encode_grai96(company_prefix: str, asset_type: str, serial: int, *, filter_value: int = 0) -> str:
    """GRAI-96 hex; ``asset_type`` has 12 - prefix digits (none for a 12-digit prefix)."""
    return _encode(GRAI96, filter_value, company_prefix, asset_type, serial)


def encode_giai96(company_prefix: str, asset_reference: str, *, filter_value: int = 0) -> str:
    """GIAI-96 hex; the 96-bit form takes a numeric asset reference without leading zeros."""
    return _encode(GIAI96, filter_value, company_prefix, asset_reference, None)


_TAG_URI = re.compile(r"urn:epc:tag:(sgtin-96|grai-96|giai-96):([0-7])\.(\d+)\.(\d*)(?:\.(\d+))?", re.ASCII)


def encode_tag_uri(tag_uri: str) -> str:
    """Hex of an EPC tag URI such as urn:epc:tag:sgtin-96:3.0614141.812345.6789."""
    match = _TAG_URI.fullmatch(tag_uri.strip())
    if match is None:
        raise EpcError(f"not an SGTIN-96, GRAI-96 or GIAI-96 tag URI: {tag_uri!r}")
    name, filter_text, prefix, reference, serial = match.groups()
    scheme = _SCHEMES_BY_NAME[name]
    if scheme.serialised != (serial is not None):
        raise EpcError(f"a {name} tag URI has {4 if scheme.serialised else 3} fields: {tag_uri!r}")
    return _encode(scheme, int(filter_text), prefix, reference, None if serial is None else _serial(serial))


def _serial(text: str) -> int:
    if len(text) > 1 and text.startswith("0"):
        raise EpcError(f"a 96-bit serial is a number without leading zeros, got {text!r}")
    return int(text)


def _encode(
    scheme: Scheme, filter_value: int, company_prefix: str, reference: str, serial: int | None
) -> str:
    partition = scheme.partition_for(company_prefix)
    reference_bits, reference_digits = scheme.reference_bits[partition], scheme.reference_digits[partition]
    if not 0 <= filter_value <= 7:
        raise EpcError(f"filter value must be 0 to 7, got {filter_value}")
    reference_value = _reference_value(scheme, reference, reference_digits, reference_bits)
    value = (scheme.header << 3 | filter_value) << 3 | partition
    value = (value << _PREFIX_BITS_BY_PARTITION[partition]) | int(company_prefix)
    value = (value << reference_bits) | reference_value
    if scheme.serialised:
        if serial is None or not 0 <= serial < 2**SERIAL_BITS:
            raise EpcError(f"{scheme.name} serial must be 0 to 2^38 - 1, got {serial}")
        value = (value << SERIAL_BITS) | serial
    return f"{value:0{EPC96_HEX_DIGITS}X}"


def _reference_value(scheme: Scheme, reference: str, digits: int, bits: int) -> int:
    if reference and not (reference.isascii() and reference.isdigit()):
        raise EpcError(f"{scheme.name} reference must be digits, got {reference!r}")
    if scheme.serialised:
        if len(reference) != digits:
            raise EpcError(f"{scheme.name} reference must have {digits} digits for this prefix length")
        return int(reference) if reference else 0
    if not reference or (len(reference) > 1 and reference.startswith("0")):
        raise EpcError(f"GIAI-96 asset reference must be a number without leading zeros, got {reference!r}")
    if len(reference) > digits or int(reference) >= 2**bits:
        raise EpcError(f"GIAI-96 asset reference {reference} does not fit in {bits} bits")
    return int(reference)
