"""RFID evidence-store simulator: SGTIN-96 tags moving through zones, read by four-antenna readers.

Every seized item carries an EPC Gen2 tag whose EPC is an SGTIN-96 (GS1 Tag Data Standard). An item
enters through the first zone, stays some rounds in a storage zone and leaves through the last zone; its
tag is then re-encoded for a new item and the cycle starts again. Report ``index`` comes from the reader
of zone ``zones[index % len(zones)]``; one round of reports covers every zone once.

Radio model: four ceiling antennas in an 8 m x 6 m room; received power falls with distance as a
log-distance path loss (exponent 3, shelving and clutter) plus 3 dB log-normal shadowing, so the closest
antenna reads a tag strongest. Reads weaker than the -80 dBm reader sensitivity are lost; a few tags in
neighbouring zones are read faintly through the walls.
"""

from __future__ import annotations

import numpy as np
from google.protobuf.timestamp_pb2 import Timestamp

from smartcustoms.core.epc import SERIAL_BITS, SGTIN96, EpcError, decode_epc96
from smartcustoms.core.epc import encode_sgtin96 as encode_sgtin96  # re-exported: the sim's SGTIN-96 codec
from smartcustoms.core.epc import gs1_check_digit as gs1_check_digit
from smartcustoms.core.types import Modality
from smartcustoms.v1 import frame_pb2

from ._frames import message_frame

# --------------------------------------------------------------------------- SGTIN-96 (smartcustoms.core.epc)


def decode_sgtin96(epc_hex: str) -> dict[str, str | int]:
    """Decode an SGTIN-96 EPC: filter, partition, company prefix, item reference, serial, GTIN-14, URIs.

    The fields of ``smartcustoms.core.epc.decode_epc96`` as a plain dict; any other scheme is an error.
    """
    epc = decode_epc96(epc_hex)
    if epc.scheme is not SGTIN96 or epc.serial is None:
        raise EpcError(f"header 0x{epc.scheme.header:02X} is not SGTIN-96 (0x30)")
    return {
        "filter": epc.filter,
        "partition": epc.partition,
        "company_prefix": epc.company_prefix,
        "item_reference": epc.reference,
        "serial": epc.serial,
        "gtin": epc.gtin,
        "uri": epc.pure_identity_uri,
        "tag_uri": epc.tag_uri,
    }


# --------------------------------------------------------------------------- radio model

ROOM_SIZE_M = (8.0, 6.0)
TAG_HEIGHT_M = (0.0, 2.0)  # shelves
ANTENNA_POSITIONS_M = ((1.0, 1.0, 2.5), (7.0, 1.0, 2.5), (1.0, 5.0, 2.5), (7.0, 5.0, 2.5))  # antenna ids 1-4
REFERENCE_RSSI_DBM = -30.0  # at REFERENCE_DISTANCE_M
REFERENCE_DISTANCE_M = 0.5
PATH_LOSS_EXPONENT = 3.0
SHADOWING_SIGMA_DB = 3.0
SENSITIVITY_DBM = -80.0
MAX_READ_RATE_HZ = 20.0  # reads per second of one tag on one antenna at full signal
REPORT_INTERVAL_US = 1_000_000
REPORT_EPOCH_S = 1_735_689_600  # 2025-01-01T00:00:00Z, time of report 0
CYCLE_ROUNDS = 60  # an item's intake-storage-release cycle repeats every this many rounds


def rssi_dbm_at(distance_m: float) -> float:
    """Mean received signal strength at a distance (log-distance path loss), before shadowing."""
    return float(_mean_rssi_dbm(np.asarray(distance_m)))


def mean_rssi_dbm(distance_m: np.ndarray) -> np.ndarray:
    """Mean received signal strength at each distance (log-distance path loss), before shadowing."""
    return _mean_rssi_dbm(distance_m)


def _mean_rssi_dbm(distance_m: np.ndarray) -> np.ndarray:
    distance = np.maximum(distance_m, REFERENCE_DISTANCE_M)
    loss_db = 10.0 * PATH_LOSS_EXPONENT * np.log10(distance / REFERENCE_DISTANCE_M)
    return np.asarray(REFERENCE_RSSI_DBM - loss_db)


class RfidSimulator:
    """Deterministic reader reports over a population of ``tag_count`` tagged items."""

    def __init__(
        self,
        seed: int,
        tag_count: int = 500,
        zones: tuple[str, ...] = ("intake", "vault-a", "vault-b", "release"),
    ) -> None:
        if seed < 0:
            raise ValueError("seed must be non-negative")
        if tag_count < 1:
            raise ValueError("tag_count must be positive")
        if not zones or len(set(zones)) != len(zones):
            raise ValueError("zones must be a non-empty tuple of distinct names")
        self.seed, self.tag_count, self.zones = seed, tag_count, zones
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,)))
        self.epcs = _tag_epcs(rng, tag_count)
        storage = range(1, len(zones) - 1) if len(zones) > 2 else range(len(zones))
        self._storage_zone = rng.choice(np.array(storage), tag_count)
        self._arrival_round = rng.integers(0, CYCLE_ROUNDS, tag_count)
        self._stay_rounds = rng.integers(5, CYCLE_ROUNDS - 10, tag_count)
        low = np.array([0.0, 0.0, TAG_HEIGHT_M[0]])
        high = np.array([*ROOM_SIZE_M, TAG_HEIGHT_M[1]])
        self._positions_m = rng.uniform(low, high, (tag_count, len(zones), 3))

    def zone_of_tags(self, round_index: int) -> np.ndarray:
        """Zone index of every tag in a round, -1 for tags not in the store (between items)."""
        phase = (round_index - self._arrival_round) % CYCLE_ROUNDS
        zone = np.where(phase <= self._stay_rounds, self._storage_zone, -1)
        zone = np.where(phase == 0, 0, zone)
        return np.where(phase == self._stay_rounds + 1, len(self.zones) - 1, zone)

    def report(self, index: int, reads: int = 200) -> frame_pb2.RfidReadBatch:
        """Report ``index``: up to ``reads`` tag reads (one per tag and antenna), in order of first sight."""
        if index < 0 or reads < 0:
            raise ValueError("index and reads must be non-negative")
        rng = np.random.default_rng([self.seed, index])
        zone = index % len(self.zones)
        tag_zones = self.zone_of_tags(index // len(self.zones))
        tags, antennas, rssi = self._direct_reads(rng, np.flatnonzero(tag_zones == zone), zone)
        stray_tags = np.flatnonzero(
            (tag_zones != zone) & (tag_zones >= 0) & (rng.random(self.tag_count) < 0.02)
        )
        tags = np.concatenate([tags, stray_tags])
        antennas = np.concatenate([antennas, rng.integers(0, len(ANTENNA_POSITIONS_M), stray_tags.size)])
        rssi = np.concatenate([rssi, rng.uniform(SENSITIVITY_DBM, SENSITIVITY_DBM + 6, stray_tags.size)])
        margin = np.clip((rssi - SENSITIVITY_DBM) / 50.0, 0.02, 1.0)
        seen = rng.poisson(MAX_READ_RATE_HZ * REPORT_INTERVAL_US / 1e6 * margin)
        times_us = np.sort(rng.integers(0, REPORT_INTERVAL_US, (tags.size, 2)), axis=1)
        times_us[seen == 1, 1] = times_us[seen == 1, 0]
        order = [i for i in np.argsort(times_us[:, 0], kind="stable") if seen[i] > 0][:reads]
        batch = frame_pb2.RfidReadBatch(reader_id=f"reader-{self.zones[zone]}", zone=self.zones[zone])
        start_us = REPORT_EPOCH_S * 1_000_000 + index * REPORT_INTERVAL_US
        for i in order:
            batch.reads.add(
                epc_hex=self.epcs[tags[i]],
                antenna_id=int(antennas[i]) + 1,
                rssi_dbm=round(float(rssi[i])),
                first_seen=_timestamp(start_us + int(times_us[i, 0])),
                last_seen=_timestamp(start_us + int(times_us[i, 1])),
                seen_count=int(seen[i]),
            )
        return batch

    def _direct_reads(
        self, rng: np.random.Generator, tags: np.ndarray, zone: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(tag, antenna, rssi) of every tag in the zone on every antenna that hears it."""
        offsets = self._positions_m[tags, zone, None, :] - np.asarray(ANTENNA_POSITIONS_M)[None, :, :]
        mean = _mean_rssi_dbm(np.linalg.norm(offsets, axis=2))
        rssi = np.minimum(mean + rng.normal(0.0, SHADOWING_SIGMA_DB, mean.shape), REFERENCE_RSSI_DBM)
        heard_tag, heard_antenna = np.nonzero(rssi >= SENSITIVITY_DBM)
        return tags[heard_tag], heard_antenna, rssi[heard_tag, heard_antenna]


def _tag_epcs(rng: np.random.Generator, count: int) -> list[str]:
    """Distinct SGTIN-96 EPCs under a few Hong Kong (GS1 prefix 489) company prefixes."""
    prefixes = [
        "489" + "".join(str(d) for d in rng.integers(0, 10, int(length) - 3))
        for length in rng.integers(7, 10, 4)
    ]
    serials = rng.choice(2**SERIAL_BITS, count, replace=False)
    epcs = []
    for serial in serials:
        prefix = prefixes[int(rng.integers(len(prefixes)))]
        item = "".join(str(d) for d in rng.integers(0, 10, 13 - len(prefix)))
        epcs.append(encode_sgtin96(prefix, item, int(serial), filter_value=1))
    return epcs


def _timestamp(microseconds: int) -> Timestamp:
    return Timestamp(seconds=microseconds // 1_000_000, nanos=(microseconds % 1_000_000) * 1000)


def to_frame(batch: frame_pb2.RfidReadBatch, *, source_id: str, sequence: int) -> frame_pb2.Frame:
    """A MODALITY_RFID frame whose payload is the serialized RfidReadBatch."""
    return message_frame(
        batch,
        modality=Modality.RFID,
        source_id=source_id,
        sequence=sequence,
        metadata={"reader_id": batch.reader_id, "zone": batch.zone, "read_count": str(len(batch.reads))},
    )
