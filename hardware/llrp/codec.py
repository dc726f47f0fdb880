"""LLRP 1.0.1 on the wire: the message header, framing on a TCP stream, and the few messages the
adapter and the reader simulator build and read.

Every LLRP message starts with a 10-byte header (LLRP 1.0.1 binary encoding, big-endian):

    3 bits reserved | 3 bits version (1) | 10 bits type | 32 bits length (header included) | 32 bits id

followed by its fields and its parameters, TLV (type >= 128: 16-bit type, 16-bit length) or TV
(type < 128: one byte, top bit set, then fixed-size fields). This module frames and checks the header
itself; the message bodies are packed and parsed by pyllrp (MIT), whose message classes are generated
from the LLRP Tool Kit's machine-readable LLRP 1.0.1 definition (llrp-1x0-def.xml). pyllrp validates
every message it packs against that definition, so a malformed ROSpec fails here, not at the reader.
"""

from __future__ import annotations

import asyncio
import enum
import struct
from dataclasses import dataclass
from typing import Any

import bitstring
from pyllrp import pyllrp as llrp  # type: ignore[import-untyped]  # pyllrp builds its classes at run time and ships no types

__all__ = [
    "DEFAULT_PORT",
    "HEADER_BYTES",
    "Header",
    "LlrpProtocolError",
    "LlrpStatusError",
    "Message",
    "MessageType",
    "StatusCode",
    "TagRead",
    "decode",
    "encode",
    "error_message",
    "llrp",
    "read_message",
    "response",
    "status_of",
    "tag_reads",
    "tag_report_data",
]

DEFAULT_PORT = 5084  # the IANA-assigned LLRP port
PROTOCOL_VERSION = 1
HEADER = struct.Struct(">HII")
HEADER_BYTES = HEADER.size
MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # a bound on what we buffer for one message

Message = Any  # a pyllrp message object: its classes are made at import time from the LLRP definition


class MessageType(enum.IntEnum):
    """LLRP 1.0.1 message type numbers (as in the LLRP Tool Kit's llrp-1x0-def.xml)."""

    GET_READER_CAPABILITIES = 1
    GET_READER_CONFIG = 2
    SET_READER_CONFIG = 3
    CLOSE_CONNECTION_RESPONSE = 4
    GET_READER_CAPABILITIES_RESPONSE = 11
    GET_READER_CONFIG_RESPONSE = 12
    SET_READER_CONFIG_RESPONSE = 13
    CLOSE_CONNECTION = 14
    ADD_ROSPEC = 20
    DELETE_ROSPEC = 21
    START_ROSPEC = 22
    STOP_ROSPEC = 23
    ENABLE_ROSPEC = 24
    DISABLE_ROSPEC = 25
    GET_ROSPECS = 26
    ADD_ROSPEC_RESPONSE = 30
    DELETE_ROSPEC_RESPONSE = 31
    START_ROSPEC_RESPONSE = 32
    STOP_ROSPEC_RESPONSE = 33
    ENABLE_ROSPEC_RESPONSE = 34
    DISABLE_ROSPEC_RESPONSE = 35
    GET_ROSPECS_RESPONSE = 36
    GET_REPORT = 60
    RO_ACCESS_REPORT = 61
    KEEPALIVE = 62
    READER_EVENT_NOTIFICATION = 63
    ENABLE_EVENTS_AND_REPORTS = 64
    KEEPALIVE_ACK = 72
    ERROR_MESSAGE = 100
    CUSTOM_MESSAGE = 1023


class StatusCode(enum.IntEnum):
    """LLRPStatus codes used here (LLRP 1.0.1; all are in pyllrp's ``StatusCode``)."""

    M_SUCCESS = 0
    M_FIELD_ERROR = 101
    M_UNSUPPORTED_MESSAGE = 109
    M_UNSUPPORTED_VERSION = 110
    P_FIELD_ERROR = 201


class LlrpProtocolError(ValueError):
    """Bytes that are not a well-formed LLRP 1.0.1 message."""


class LlrpStatusError(RuntimeError):
    """A reader answered a request with an error status (or an ERROR_MESSAGE)."""

    def __init__(self, request: str, code: int, description: str) -> None:
        super().__init__(f"{request}: LLRP status {code} {description}".strip())
        self.code = code
        self.description = description


@dataclass(frozen=True)
class Header:
    version: int
    message_type: int
    length: int  # bytes, header included
    message_id: int

    @classmethod
    def parse(cls, data: bytes) -> Header:
        if len(data) < HEADER_BYTES:
            raise LlrpProtocolError(f"an LLRP header has {HEADER_BYTES} bytes, got {len(data)}")
        first, length, message_id = HEADER.unpack_from(data)
        header = cls((first >> 10) & 0b111, first & 0x3FF, length, message_id)
        if header.version != PROTOCOL_VERSION:
            raise LlrpProtocolError(f"LLRP version {header.version}, this client speaks 1 (LLRP 1.0.1)")
        if not HEADER_BYTES <= header.length <= MAX_MESSAGE_BYTES:
            raise LlrpProtocolError(f"message length {header.length} is out of range")
        return header

    def pack(self) -> bytes:
        return HEADER.pack(self.version << 10 | self.message_type, self.length, self.message_id)


def encode(message: Message) -> bytes:
    """The wire bytes of a pyllrp message (validated against the LLRP definition)."""
    try:
        return bytes(message.pack(bitstring.BitStream()).tobytes())
    except AssertionError as error:  # pyllrp reports a message that breaks the definition by assert
        raise LlrpProtocolError(f"invalid {type(message).__name__}: {error}") from None


def decode(data: bytes) -> Message:
    """Parse one complete message (header included)."""
    header = Header.parse(data)
    if header.length != len(data):
        raise LlrpProtocolError(f"header says {header.length} bytes, got {len(data)}")
    if header.message_type not in llrp._MessagePackUnpackLookup:
        raise LlrpProtocolError(f"unknown LLRP message type {header.message_type}")
    try:
        return llrp.UnpackMessage(bitstring.ConstBitStream(bytes=data))
    except (AssertionError, KeyError, bitstring.ReadError, UnicodeDecodeError) as error:
        raise LlrpProtocolError(f"malformed message type {header.message_type}: {error!r}") from None


async def read_message(reader: asyncio.StreamReader) -> tuple[Header, bytes]:
    """Read one message's bytes; IncompleteReadError when the peer closes the connection."""
    head = await reader.readexactly(HEADER_BYTES)
    header = Header.parse(head)
    return header, head + await reader.readexactly(header.length - HEADER_BYTES)


def message_type_of(message: Message) -> int:
    return int(message.TypeCode)


def status_of(message: Message) -> tuple[int, str]:
    """(status code, description) of a response's or an ERROR_MESSAGE's LLRPStatus parameter."""
    status = message.getFirstParameterByClass(llrp.LLRPStatus_Parameter)
    if status is None:
        raise LlrpProtocolError(f"{type(message).__name__} carries no LLRPStatus")
    return int(status.StatusCode), str(status.ErrorDescription)


def llrp_status(code: int = StatusCode.M_SUCCESS, description: str = "") -> Message:
    return llrp.LLRPStatus_Parameter(StatusCode=int(code), ErrorDescription=description)


def response(
    request_type: int, message_id: int, code: int = StatusCode.M_SUCCESS, description: str = ""
) -> Message:
    """The *_RESPONSE to a request, with its LLRPStatus, echoing the request's message id."""
    request_name = llrp._messageClassFromTypeCode[request_type].__name__
    response_class = getattr(llrp, request_name.replace("_Message", "_RESPONSE_Message"))
    return response_class(MessageID=message_id, Parameters=[llrp_status(code, description)])


def error_message(message_id: int, code: int, description: str) -> Message:
    return llrp.ERROR_MESSAGE_Message(MessageID=message_id, Parameters=[llrp_status(code, description)])


# --------------------------------------------------------------------------- tag reports


@dataclass(frozen=True)
class TagRead:
    """One TagReportData parameter. Optional fields the ROReportSpec did not ask for are None."""

    epc_hex: str
    antenna_id: int | None = None
    peak_rssi_dbm: int | None = None
    first_seen_us: int | None = None  # microseconds since 1970-01-01 UTC
    last_seen_us: int | None = None
    seen_count: int | None = None


def tag_reads(report: Message, uptime_offset_us: int = 0) -> list[TagRead]:
    """The tag reads of an RO_ACCESS_REPORT, in the reader's order.

    Readers without a UTC clock report uptime timestamps (LLRP 1.0.1 section 7.1.3.1.1);
    ``uptime_offset_us`` (UTC minus uptime) turns those into UTC.
    """
    return [_tag_read(item, uptime_offset_us) for item in report.Parameters if _is(item, "TagReportData")]


def _tag_read(item: Message, uptime_offset_us: int) -> TagRead:
    fields: dict[str, Any] = {}
    for parameter in item.Parameters:
        kind = type(parameter).__name__.removesuffix("_Parameter")
        if kind == "EPC_96":
            fields["epc_hex"] = f"{parameter.EPC:024X}"
        elif kind == "EPCData":
            fields["epc_hex"] = bytes(parameter.EPC).hex().upper()
        elif kind == "AntennaID":
            fields["antenna_id"] = int(parameter.AntennaID)
        elif kind == "PeakRSSI":
            fields["peak_rssi_dbm"] = int(parameter.PeakRSSI)
        elif kind in ("FirstSeenTimestampUTC", "LastSeenTimestampUTC"):
            fields[_time_field(kind)] = int(parameter.Microseconds)
        elif kind in ("FirstSeenTimestampUptime", "LastSeenTimestampUptime"):
            fields[_time_field(kind)] = int(parameter.Microseconds) + uptime_offset_us
        elif kind == "TagSeenCount":
            fields["seen_count"] = int(parameter.TagCount)
    if "epc_hex" not in fields:
        raise LlrpProtocolError("a TagReportData without an EPC parameter")
    return TagRead(**fields)


def _time_field(kind: str) -> str:
    return "first_seen_us" if kind.startswith("FirstSeen") else "last_seen_us"


def _is(parameter: Message, name: str) -> bool:
    return type(parameter).__name__ == f"{name}_Parameter"


def tag_report_data(read: TagRead) -> Message:
    """A TagReportData parameter for ``read`` (96-bit EPCs as EPC-96, others as EPCData)."""
    epc = bytes.fromhex(read.epc_hex)
    parameters = [
        llrp.EPC_96_Parameter(EPC=int.from_bytes(epc, "big"))
        if len(epc) == 12
        else llrp.EPCData_Parameter(EPC=epc)
    ]
    if read.antenna_id is not None:
        parameters.append(llrp.AntennaID_Parameter(AntennaID=read.antenna_id))
    if read.peak_rssi_dbm is not None:
        parameters.append(llrp.PeakRSSI_Parameter(PeakRSSI=read.peak_rssi_dbm))
    if read.first_seen_us is not None:
        parameters.append(llrp.FirstSeenTimestampUTC_Parameter(Microseconds=read.first_seen_us))
    if read.last_seen_us is not None:
        parameters.append(llrp.LastSeenTimestampUTC_Parameter(Microseconds=read.last_seen_us))
    if read.seen_count is not None:
        parameters.append(llrp.TagSeenCount_Parameter(TagCount=read.seen_count))
    return llrp.TagReportData_Parameter(Parameters=parameters)
