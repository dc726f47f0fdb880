"""rfid_epc_check: strict EPC-96 reasons for foreign tags, and point-in-time repeat counts in state."""

from __future__ import annotations

import subprocess
import sys

import pytest

from smartcustoms.core.epc import encode_giai96, encode_grai96, encode_sgtin96
from smartcustoms.core.frames import FrameView, inline_view
from smartcustoms.core.manager import discover, new_plugin_manager, register
from smartcustoms.core.plugin import PluginContext
from smartcustoms.core.state import MemoryState
from smartcustoms.core.types import Assessment, Decision, Modality
from smartcustoms.plugins.rfid import EpcCheckPlugin, foreign_tags
from smartcustoms.v1 import frame_pb2

SGTIN = "3074257BF7194E4000001A85"  # the GS1 Tag Data Standard's SGTIN-96 example
GRAI = "33B4257BF40C0E4000000190"  # urn:epc:id:grai:0614141.12345.400
GIAI = "3434257BF400000000BC6038"  # urn:epc:id:giai:0614141.12345400
FOREIGN = "E280689400004007A8F4B123"  # an Impinj TID-style EPC: header 0xE2
PLANTED = "AD0102030405060708090A0B"
T0_S = 1_735_689_600  # 2025-01-01T00:00:00Z
IMPORT_PATH = "smartcustoms.plugins.rfid:EpcCheckPlugin"


def rfid_frame(
    *epcs: str,
    frame_id: str = "f-1",
    source_id: str = "reader-vault-a",
    at_s: float | None = T0_S,
    capture_s: float | None = None,
) -> FrameView:
    """A frame of one read per EPC, each first seen at ``at_s`` (no read time if None)."""
    batch = frame_pb2.RfidReadBatch(reader_id=source_id, zone="vault-a")
    for epc in epcs:
        read = batch.reads.add(epc_hex=epc, antenna_id=1, seen_count=1)
        if at_s is not None:
            read.first_seen.FromNanoseconds(round(at_s * 1e9))
    frame = frame_pb2.Frame(
        frame_id=frame_id,
        source_id=source_id,
        modality=frame_pb2.MODALITY_RFID,
        encoding="protobuf",
        payload=batch.SerializeToString(),
    )
    if capture_s is not None:
        frame.capture_time.FromNanoseconds(round(capture_s * 1e9))
    return inline_view(frame)


def plugin(state: MemoryState | None = None, **settings: float) -> EpcCheckPlugin:
    defaults = dict(EpcCheckPlugin.spec.default_settings)
    return EpcCheckPlugin({**defaults, **settings}, PluginContext("rfid_epc_check", state=state))


def reads_in_window(assessment: Assessment, epc: str = PLANTED) -> int:
    (detection,) = [d for d in assessment.detections if d.attributes["epc"] == epc]
    return int(detection.attributes["reads_in_window"])


@pytest.fixture
def state() -> MemoryState:
    return MemoryState(clock=lambda: float(T0_S))  # window keys expire by this clock, not the event times


# --------------------------------------------------------------------------- the plugin contract


def test_it_is_a_class_plugin_with_its_spec_and_the_batch_hook() -> None:
    info = discover(IMPORT_PATH)
    assert (info.spec.name, info.spec.version, info.style) == ("rfid_epc_check", "1.1.0", "class")
    assert info.spec.consumes == frozenset({Modality.RFID})
    assert info.spec.default_settings == {"repeat_window_s": 600.0}
    assert info.processes_frames and not info.handles_results


def test_the_manager_hosts_it_with_state(state: MemoryState) -> None:
    pm = new_plugin_manager()
    register(pm, IMPORT_PATH, context=PluginContext("rfid_epc_check", state=state))
    (assessment,) = pm.hook.smartcustoms_process_batch(frames=[rfid_frame(FOREIGN)])
    assert assessment.decision is Decision.ALARM
    assert reads_in_window(assessment, FOREIGN) == 0


def test_it_imports_core_only() -> None:
    probe = (
        "import sys, smartcustoms.plugins.rfid; "
        "print(sorted(m for m in sys.modules if m.startswith('smartcustoms.')"
        " and not m.startswith(('smartcustoms.core', 'smartcustoms.v1', 'smartcustoms.plugins.rfid'))))"
    )
    run = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
    assert run.stdout.strip() == "['smartcustoms.plugins']"  # the namespace package of the built-ins


@pytest.mark.parametrize("window_s", [0.0, -1.0, float("nan"), float("inf")])
def test_a_window_that_is_not_positive_seconds_is_refused(window_s: float) -> None:
    with pytest.raises(ValueError, match="repeat_window_s"):
        plugin(repeat_window_s=window_s)


# --------------------------------------------------------------------------- strict EPC-96


def test_well_formed_sgtin_grai_and_giai_reads_clear(state: MemoryState) -> None:
    epcs = [
        SGTIN,
        GRAI,
        GIAI,
        SGTIN.lower(),
        f" {SGTIN} ",
        encode_sgtin96("489123456789", "0", 2**38 - 1),  # partition 0
        encode_grai96("489123", "123456", 7, filter_value=7),  # partition 6
        encode_giai96("4891234", "1"),
    ]
    check = plugin(state)
    assert check.smartcustoms_process_batch([rfid_frame(*epcs), rfid_frame()]) == [Assessment.clear()] * 2


@pytest.mark.parametrize(
    ("epc", "reason"),
    [
        (FOREIGN, "header 0xE2 is not SGTIN-96 (0x30), GRAI-96 (0x33) or GIAI-96 (0x34)"),
        ("3574257BF7194E4000001A85", "header 0x35 is not SGTIN-96"),  # SGTIN-198's header
        ("307C257BF7194E4000001A85", "partition value 7 is reserved"),
        (SGTIN[:-1], "an EPC-96 has 24 hex digits, got 23"),
        ("0x74257BF7194E4000001A85", "not hexadecimal"),
        # well-formed to the old, lax check (known header, partition 5), but the SGTIN example's
        # 6-digit item reference does not fit the GRAI's 5-digit asset type: the strict decoder says so
        ("3374257BF7194E4000001A85", "grai-96 reference 812345 has more than 5 digits"),
        ("3003FFFFFFFFFC0000000000", "company prefix 1099511627775 has more than 12 digits"),
    ],
)
def test_foreign_tags_alarm_with_the_strict_reason(epc: str, reason: str) -> None:
    assessment = plugin().assess(rfid_frame(SGTIN, epc))
    assert assessment.decision is Decision.ALARM
    (detection,) = assessment.detections
    assert (detection.label, detection.score, detection.attributes) == ("foreign_tag", 1.0, {"epc": epc})
    assert detection.explanation.startswith(reason)


def test_a_tag_read_on_several_antennas_is_one_detection_first_seen_at_its_earliest_read() -> None:
    batch = frame_pb2.RfidReadBatch()
    for antenna, (epc, at_s) in enumerate(
        [(FOREIGN, T0_S + 5), (SGTIN, T0_S), (FOREIGN.lower(), T0_S + 2), (FOREIGN, T0_S + 9)], start=1
    ):
        batch.reads.add(epc_hex=epc, antenna_id=antenna).first_seen.FromSeconds(at_s)
    (tag,) = foreign_tags(batch.reads)
    assert (tag.epc, tag.first_seen_s) == (FOREIGN, T0_S + 2)


def test_without_state_there_is_no_count() -> None:
    (detection,) = plugin(None).assess(rfid_frame(PLANTED)).detections
    assert "reads_in_window" not in detection.attributes
    assert detection.explanation == "header 0xAD is not SGTIN-96 (0x30), GRAI-96 (0x33) or GIAI-96 (0x34)"


# --------------------------------------------------------------------------- repeat counts


def test_a_planted_tag_is_counted_and_explained(state: MemoryState) -> None:
    check = plugin(state)
    frames = [rfid_frame(PLANTED, frame_id=f"f-{i}", at_s=T0_S + 10 * i) for i in range(38)]
    assessments = check.smartcustoms_process_batch(frames)
    assert [reads_in_window(a) for a in assessments] == list(range(38))
    (last,) = assessments[-1].detections
    assert last.attributes == {"epc": PLANTED, "reads_in_window": "37", "repeat_window_s": "600"}
    assert last.explanation.endswith("; read 37 times before in the last 10 min at reader-vault-a")
    (first,) = assessments[0].detections
    assert first.explanation.endswith("; not read before in the last 10 min at reader-vault-a")


def test_only_reads_within_the_window_and_at_this_source_count(state: MemoryState) -> None:
    check = plugin(state, repeat_window_s=90)
    counts = [
        reads_in_window(check.assess(rfid_frame(PLANTED, frame_id=f"a-{t}", at_s=T0_S + t)))
        for t in (0, 30, 100, 110)
    ]
    assert counts == [0, 1, 1, 2]  # at +100 the window starts at +10: the read at 0 has left it
    elsewhere = check.assess(rfid_frame(PLANTED, frame_id="b-1", source_id="reader-vault-b", at_s=T0_S + 126))
    assert reads_in_window(elsewhere) == 0
    (detection,) = check.assess(rfid_frame(PLANTED, frame_id="a-126", at_s=T0_S + 126)).detections
    assert detection.explanation.endswith("read 2 times before in the last 90 s at reader-vault-a")


def test_counts_are_point_in_time_when_frames_arrive_out_of_order(state: MemoryState) -> None:
    check = plugin(state)
    order = [3, 1, 2, 0, 4]  # read times T0 + 60 * index, processed in this order
    counts = {
        i: reads_in_window(check.assess(rfid_frame(PLANTED, frame_id=f"f-{i}", at_s=T0_S + 60 * i)))
        for i in order
    }
    # each read counts the reads before it that had been processed: never a later one
    assert counts == {3: 0, 1: 0, 2: 1, 0: 0, 4: 4}


def test_a_redelivered_frame_does_not_count_twice(state: MemoryState) -> None:
    check = plugin(state)
    first = rfid_frame(PLANTED, FOREIGN, frame_id="f-1", at_s=T0_S)
    second = rfid_frame(PLANTED, frame_id="f-2", at_s=T0_S + 30)
    assert reads_in_window(check.assess(first)) == 0
    assert reads_in_window(check.assess(second)) == 1
    assert reads_in_window(check.assess(second)) == 1  # redelivered: the same answer
    assert reads_in_window(check.assess(first)) == 0
    later = check.assess(rfid_frame(PLANTED, FOREIGN, frame_id="f-3", at_s=T0_S + 60))
    assert (reads_in_window(later), reads_in_window(later, FOREIGN)) == (2, 1)


def test_a_read_without_its_own_time_counts_at_the_frames_capture_time(state: MemoryState) -> None:
    check = plugin(state)
    check.assess(rfid_frame(PLANTED, frame_id="f-1", at_s=T0_S))
    untimed = rfid_frame(PLANTED, frame_id="f-2", at_s=None, capture_s=T0_S + 5)
    assert reads_in_window(check.assess(untimed)) == 1
    before_both = rfid_frame(PLANTED, frame_id="f-0", at_s=None, capture_s=T0_S - 5)
    assert reads_in_window(check.assess(before_both)) == 0
    (detection,) = check.assess(rfid_frame(PLANTED, frame_id="f-9", at_s=None)).detections
    assert "reads_in_window" not in detection.attributes  # no time at all: not counted
