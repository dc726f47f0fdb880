"""rfid_epc_check: alarms on tag reads that are not well-formed GS1 EPC-96 identifiers.

Evidence items are tagged with SGTIN-96, GRAI-96 or GIAI-96 EPCs (GS1 Tag Data Standard). A read of
anything else in an evidence store is a foreign, blank or tampered tag that an officer should check.
"""

from __future__ import annotations

from collections.abc import Sequence

from smartcustoms.core.frames import FrameView
from smartcustoms.core.hookspecs import hookimpl
from smartcustoms.core.types import Assessment, Detection, Modality, PluginSpec

SPEC = PluginSpec(
    name="rfid_epc_check",
    version="1.0.0",
    consumes=frozenset({Modality.RFID}),
    description="flags tag reads that are not SGTIN-96, GRAI-96 or GIAI-96 EPCs",
)

EPC96_HEADERS = {0x30: "sgtin-96", 0x33: "grai-96", 0x34: "giai-96"}


@hookimpl
def smartcustoms_plugin_spec() -> PluginSpec:
    return SPEC


@hookimpl
def smartcustoms_process_batch(frames: Sequence[FrameView]) -> list[Assessment]:
    return [assess_reads([read.epc_hex for read in frame.rfid_reads().reads]) for frame in frames]


def epc96_problem(epc_hex: str) -> str:
    """Why ``epc_hex`` is not a well-formed EPC-96 of an accepted scheme ('' when it is)."""
    if len(epc_hex) != 24:
        return f"{len(epc_hex) * 4} bits, not 96"
    try:
        value = int(epc_hex, 16)
    except ValueError:
        return "not hexadecimal"
    header = value >> 88
    if header not in EPC96_HEADERS:
        return f"header 0x{header:02X} is not SGTIN-96, GRAI-96 or GIAI-96"
    partition = (value >> 82) & 0b111
    if partition > 6:
        return f"partition {partition} is reserved"
    return ""


def assess_reads(epcs: Sequence[str]) -> Assessment:
    problems = {epc: epc96_problem(epc.strip().upper()) for epc in epcs}
    detections = [
        Detection(label="foreign_tag", score=1.0, explanation=problem, attributes={"epc": epc})
        for epc, problem in problems.items()
        if problem
    ]
    return Assessment.alarm(*detections) if detections else Assessment.clear()
