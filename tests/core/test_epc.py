"""GS1 EPC-96 decoding and encoding (SGTIN-96, GRAI-96, GIAI-96) against published vectors, and the
strict reasons an EPC is not accepted."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

from smartcustoms.core import epc

# (hex, tag URI, pure-identity URI). The SGTIN is the TDS worked example (GTIN 80614141123458); the
# GRAI and GIAI are the TDS example identifiers urn:epc:id:grai:0614141.12345.400 and
# urn:epc:id:giai:0614141.12345400, their binary forms as in nedap/retail-epcpy's test vectors.
VECTORS = [
    (
        "3074257BF7194E4000001A85",
        "urn:epc:tag:sgtin-96:3.0614141.812345.6789",
        "urn:epc:id:sgtin:0614141.812345.6789",
    ),
    (
        "33B4257BF40C0E4000000190",
        "urn:epc:tag:grai-96:5.0614141.12345.400",
        "urn:epc:id:grai:0614141.12345.400",
    ),
    (
        "3434257BF400000000BC6038",
        "urn:epc:tag:giai-96:1.0614141.12345400",
        "urn:epc:id:giai:0614141.12345400",
    ),
    (  # 12-digit company prefix: a GRAI with an empty asset type, the largest 38-bit serial
        "3300393243FF743FFFFFFFFF",
        "urn:epc:tag:grai-96:0.061414113245..274877906943",
        "urn:epc:id:grai:061414113245..274877906943",
    ),
    ("3434257BF400000000000000", "urn:epc:tag:giai-96:1.0614141.0", "urn:epc:id:giai:0614141.0"),
]


@pytest.mark.parametrize(("epc_hex", "tag_uri", "pure_uri"), VECTORS)
def test_published_vectors_decode_and_encode(epc_hex: str, tag_uri: str, pure_uri: str) -> None:
    decoded = epc.decode_epc96(epc_hex)
    assert (decoded.tag_uri, decoded.pure_identity_uri) == (tag_uri, pure_uri)
    assert epc.encode_tag_uri(tag_uri) == epc_hex
    assert decoded.hex == epc_hex
    assert epc.decode_epc96(epc_hex.lower()) == decoded


def test_the_sgtin_example_fields() -> None:
    sgtin = epc.decode_epc96("3074257BF7194E4000001A85")
    assert sgtin.scheme is epc.SGTIN96
    assert (sgtin.filter, sgtin.partition) == (3, 5)
    assert (sgtin.company_prefix, sgtin.reference, sgtin.serial) == ("0614141", "812345", 6789)
    assert sgtin.gtin == "80614141123458"
    assert epc.encode_sgtin96("0614141", "812345", 6789, filter_value=3) == "3074257BF7194E4000001A85"


def test_grai_and_giai_fields() -> None:
    grai = epc.decode_epc96("33B4257BF40C0E4000000190")
    assert (grai.scheme, grai.filter, grai.company_prefix, grai.reference, grai.serial) == (
        epc.GRAI96,
        5,
        "0614141",
        "12345",
        400,
    )
    giai = epc.decode_epc96("3434257BF400000000BC6038")
    assert (giai.scheme, giai.filter, giai.company_prefix, giai.reference, giai.serial) == (
        epc.GIAI96,
        1,
        "0614141",
        "12345400",
        None,
    )
    assert epc.encode_grai96("0614141", "12345", 400, filter_value=5) == grai.hex
    assert epc.encode_giai96("0614141", "12345400", filter_value=1) == giai.hex
    with pytest.raises(ValueError, match="identifies no trade item"):
        _ = giai.gtin


@pytest.mark.parametrize("prefix_digits", range(6, 13))
@pytest.mark.parametrize("scheme", [epc.SGTIN96, epc.GRAI96, epc.GIAI96])
def test_every_partition_round_trips(scheme: epc.Scheme, prefix_digits: int) -> None:
    rng = np.random.default_rng(prefix_digits)
    prefix = "".join(str(d) for d in rng.integers(0, 10, prefix_digits))
    partition = 12 - prefix_digits
    digits = scheme.reference_digits[partition]
    if scheme is epc.GIAI96:
        reference = str(int(rng.integers(1, 2**40)))
        encoded = epc.encode_giai96(prefix, reference, filter_value=2)
    else:
        reference = "".join(str(d) for d in rng.integers(0, 10, digits))
        encode = epc.encode_sgtin96 if scheme is epc.SGTIN96 else epc.encode_grai96
        encoded = encode(prefix, reference, 2**38 - 1, filter_value=2)
    decoded = epc.decode_epc96(encoded)
    assert (decoded.scheme, decoded.partition, decoded.company_prefix, decoded.reference) == (
        scheme,
        partition,
        prefix,
        reference,
    )
    assert epc.encode_tag_uri(decoded.tag_uri) == encoded


@pytest.mark.parametrize(
    ("epc_hex", "reason"),
    [
        ("3074257BF7194E4000001A8", "24 hex digits"),
        ("3074257BF7194E4000001A8500", "24 hex digits"),
        ("3074257BF7194E4000001AXZ", "not hexadecimal"),
        ("E2801160600002054A2B0C3D", "header 0xE2"),
        ("DEADBEEFDEADBEEFDEADBEEF", "header 0xDE"),
        ("301C257BF7194E4000001A85", "partition value 7"),
        ("3003FFFFFFFFFC0000000000", "company prefix .* more than 12 digits"),
        ("300C0095EFDC0E4000000000", "reference .* more than 4 digits"),
        ("3300393243FF744000000000", "reference .* more than 0 digits"),
    ],
)
def test_malformed_epcs_say_why(epc_hex: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        epc.decode_epc96(epc_hex)
    assert not epc.is_gs1_epc96(epc_hex)
    assert re.search(reason, epc.epc96_problem(epc_hex))


@pytest.mark.parametrize(
    "epc_hex",
    [
        "0x74257BF7194E4000001A85",  # int(text, 16) would take the prefix
        "30_4257BF7194E4000001A85",  # ... and the underscore
        "+074257BF7194E4000001A85",
        "3074257BF7194E40000 1A85",
        "3074257BF7194E4000001A8\u0665",  # ARABIC-INDIC DIGIT FIVE: a digit to int(), not hex
    ],
)
def test_only_ascii_hex_digits_are_hex(epc_hex: str) -> None:
    assert epc.epc96_problem(epc_hex).startswith("not hexadecimal")


@pytest.mark.parametrize(
    "epc_hex",
    [VECTORS[0][0], VECTORS[1][0], VECTORS[2][0], VECTORS[0][0].lower(), f" {VECTORS[0][0]}\n"],
)
def test_accepted_epcs_have_no_problem(epc_hex: str) -> None:
    assert epc.epc96_problem(epc_hex) == ""
    assert epc.is_gs1_epc96(epc_hex)


@pytest.mark.parametrize(
    ("epc_hex", "problem"),
    [
        ("", "an EPC-96 has 24 hex digits, got 0"),
        ("E280689400004007A8F4B123", "header 0xE2 is not SGTIN-96 (0x30), GRAI-96 (0x33) or GIAI-96 (0x34)"),
        ("307C257BF7194E4000001A85", "partition value 7 is reserved"),
        # the SGTIN example's bits under the GRAI header: a 6-digit asset type where partition 5 has 5
        ("3374257BF7194E4000001A85", "grai-96 reference 812345 has more than 5 digits"),
    ],
)
def test_the_problem_is_the_decoders_reason(epc_hex: str, problem: str) -> None:
    assert epc.epc96_problem(epc_hex) == problem
    with pytest.raises(epc.EpcError, match=re.escape(problem)):
        epc.decode_epc96(epc_hex)


@pytest.mark.parametrize(
    ("call", "reason"),
    [
        (lambda: epc.encode_sgtin96("06141", "8123456", 1), "6 to 12 digits"),
        (lambda: epc.encode_sgtin96("061414\u0661", "812345", 1), "6 to 12 digits"),  # a non-ASCII digit
        (lambda: epc.encode_sgtin96("0614141", "81234\u0665", 1), "must be digits"),
        (lambda: epc.encode_sgtin96("0614141", "81234", 1), "must have 6 digits"),
        (lambda: epc.encode_sgtin96("0614141", "812345", 2**38), "serial must be"),
        (lambda: epc.encode_sgtin96("0614141", "812345", 1, filter_value=8), "filter value"),
        (lambda: epc.encode_grai96("0614141", "12a45", 1), "must be digits"),
        (lambda: epc.encode_giai96("0614141", "012"), "without leading zeros"),
        (lambda: epc.encode_giai96("0614141", str(2**58)), "does not fit in 58 bits"),
        (lambda: epc.encode_tag_uri("urn:epc:tag:sgtin-96:3.0614141.812345.06789"), "leading zeros"),
        (lambda: epc.encode_tag_uri("urn:epc:tag:giai-96:1.0614141.1.2"), "has 3 fields"),
        (lambda: epc.encode_tag_uri("urn:epc:id:sgtin:0614141.812345.6789"), "not an SGTIN-96"),
    ],
)
def test_malformed_input_to_the_encoders_says_why(call: object, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        call()  # type: ignore[operator]


def test_the_codec_imports_nothing_of_hardware_plugins_or_runtime() -> None:
    outside = ("smartcustoms.hardware", "smartcustoms.plugins", "smartcustoms.runtime")
    probe = (
        f"import sys, smartcustoms.core.epc; print(sorted(m for m in sys.modules if m.startswith({outside})))"
    )
    found = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    assert found.strip() == "[]"
