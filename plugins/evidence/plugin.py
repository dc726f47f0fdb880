"""The hook classes: ``evidence_locator`` on reader reports, ``evidence_orders`` on work orders.

``evidence_locator`` (RFID frames, one report of one zone's reader each) updates every tag's track
(``locate``), and sets where each item is against what its custody says (``custody``):

* ``wrong_zone``: the item is held by a zone it is not expected in (nor, while it is carried, one
  its last order lets it pass through);
* ``not_read``: an item expected in a storage zone has not been held by any zone for ``missing_after_s``
  (checked when that zone's reader reports, at most every ``sweep_s``);
* ``exit_unapproved``: the release zone holds an item without an approved retrieval or disposal;
* ``unknown_tag``: a storage zone holds a tag that decodes but is not a registered item.

Each alert is raised once, and again only after the item was back where it belongs. Tags that do not
decode are counted (``count:undecodable`` in the store, shown by the page, the CLI and the service)
and left to ``rfid_epc_check``, which alarms on them.

``evidence_orders`` (record frames of kind ``evidence_work_order``) applies each order through
``custody.apply_order``: this is how the warehouse's order system feeds the chain of custody; the
service, the CLI and the page call the same function. A refused order is an ``order_refused`` alert
with the reason. Both plugins share one store: ``evidence_orders`` uses ``evidence_locator``'s state.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from smartcustoms.core.epc import epc96_problem
from smartcustoms.core.frames import FrameView
from smartcustoms.core.hookspecs import hookimpl
from smartcustoms.core.plugin import Plugin, PluginContext
from smartcustoms.core.types import Assessment, Detection, Modality, PluginSpec
from smartcustoms.v1 import frame_pb2

from .custody import (
    DEFAULT_ZONES,
    AuditLog,
    CustodyError,
    Zones,
    apply_order,
    audit_for,
    item_key,
    order_from_fields,
)
from .locate import DEFAULT_SETTINGS, LocatorSettings, observe
from .store import EvidenceStore, Json, MemoryStore, store_for_state

log = logging.getLogger(__name__)

ORDER_KIND = "evidence_work_order"
MISSING_AFTER_S = 60.0
SWEEP_S = 5.0
REJUDGE_S = 30.0
ALERT_LABELS = ("wrong_zone", "not_read", "exit_unapproved", "unknown_tag")
_VALID_CACHE = 200_000


@dataclass(frozen=True)
class Alert:
    epc: str
    label: str
    at_s: float
    zone: str
    explanation: str
    case: str = ""
    expected_zone: str = ""

    def detection(self) -> Detection:
        attributes = {
            "epc": self.epc,
            "zone": self.zone,
            "case": self.case,
            "expected_zone": self.expected_zone,
        }
        return Detection(label=self.label, score=1.0, explanation=self.explanation, attributes=attributes)


class Locator:
    """The locating and alerting of reader reports over a store: the plugin's work, usable offline."""

    def __init__(
        self,
        store: EvidenceStore,
        zones: Zones = DEFAULT_ZONES,
        settings: LocatorSettings = DEFAULT_SETTINGS,
        *,
        missing_after_s: float = MISSING_AFTER_S,
        sweep_s: float = SWEEP_S,
        rejudge_s: float = REJUDGE_S,
    ) -> None:
        self.store, self.zones, self.settings = store, zones, settings
        self.missing_after_s, self.sweep_s, self.rejudge_s = missing_after_s, sweep_s, rejudge_s
        self._valid: dict[str, str] = {}  # EPC as read -> as keys hold it, "" if it does not decode
        self._swept: dict[str, int] = {}  # zone -> the last stretch of report time this process swept

    def process(
        self, reports: Sequence[tuple[str, float | None, frame_pb2.RfidReadBatch]]
    ) -> list[list[Alert]]:
        """Alerts of each report (source id, frame time, reads), the reports applied in order.

        Two round trips to read: the tracks of every tag read, then the custody of the tags to judge
        (those whose zone changed, or not judged for ``rejudge_s``); one to write.
        """
        parsed = [self._observations(batch, frame_s) for _, frame_s, batch in reports]
        epcs = sorted({epc for observations, _, _ in parsed for epc in observations})
        loaded = dict(
            zip((f"tag:{e}" for e in epcs), self.store.get_many([f"tag:{e}" for e in epcs]), strict=True)
        )
        changed: dict[str, Json] = {}
        added: dict[str, set[str]] = {}
        removed: dict[str, set[str]] = {}
        to_judge: list[list[tuple[str, str, float]]] = []
        for (source, _, batch), (observations, at_s, undecodable) in zip(reports, parsed, strict=True):
            if undecodable:
                self.store.increment("count:undecodable", undecodable)
            to_judge.append(
                self._apply(batch.zone or source, observations, at_s, loaded, changed, added, removed)
            )
        judged = sorted({epc for found in to_judge for epc, _, _ in found})
        loaded.update(
            zip(
                (item_key(e) for e in judged), self.store.get_many([item_key(e) for e in judged]), strict=True
            )
        )
        results = []
        for (source, _, batch), (observations, at_s, _), found in zip(reports, parsed, to_judge, strict=True):
            alerts = [
                a
                for epc, zone, at in found
                for a in self._judge(epc, zone, loaded[f"tag:{epc}"], loaded[item_key(epc)], at)
            ]
            zone = batch.zone or source
            if zone in self.zones.storage and observations and self._sweep_due(zone, at_s):
                alerts += self._sweep(zone, at_s, loaded, changed)
            results.append(alerts)
        for alert in (a for alerts in results for a in alerts):
            self.store.increment(f"count:alert:{alert.label}")  # alerts are rare: a round trip each
        self.store.write(changed, added, removed)
        return results

    # ------------------------------------------------------------------ reads

    def _observations(
        self, batch: frame_pb2.RfidReadBatch, frame_s: float | None
    ) -> tuple[dict[str, float], float, int]:
        """Per valid tag its strongest RSSI; the report's time; the number of undecodable reads.

        A report is one instant of one reader (reads of up to a second): its time is the latest
        ``last_seen`` of its first and last reads (readers report in order of first sight), else the
        frame's time.
        """
        best: dict[str, float] = {}
        undecodable = 0
        known = self._valid
        for read in batch.reads:
            raw = read.epc_hex
            epc = known.get(raw)
            if epc is None:
                if len(known) > _VALID_CACHE:
                    known.clear()
                text = raw.strip().upper()
                epc = known[raw] = "" if epc96_problem(text) else text
            if not epc:
                undecodable += 1
                continue
            rssi = read.rssi_dbm
            if rssi > best.get(epc, -1e9):
                best[epc] = rssi
        return best, _report_time_s(batch, frame_s), undecodable

    def _apply(
        self,
        zone: str,
        observations: Mapping[str, float],
        at_s: float,
        loaded: dict[str, Json | None],
        changed: dict[str, Json],
        added: dict[str, set[str]],
        removed: dict[str, set[str]],
    ) -> list[tuple[str, str, float]]:
        """Update the tracks of one report's tags; return (epc, zone, time) of those to judge."""
        judge = []
        for epc, rssi in observations.items():
            track = loaded.get(f"tag:{epc}")
            before = track["z"] if track else ""
            track = observe(track, zone, rssi, at_s, self.settings)
            loaded[f"tag:{epc}"] = changed[f"tag:{epc}"] = track
            moved = track["z"] != before
            if moved:
                if before:
                    removed.setdefault(f"seen:{before}", set()).add(epc)
                    added.get(f"seen:{before}", set()).discard(epc)
                added.setdefault(f"seen:{track['z']}", set()).add(epc)
                removed.get(f"seen:{track['z']}", set()).discard(epc)
            if track["seen"] == at_s and (moved or at_s - track.get("j", -1e18) >= self.rejudge_s):
                track["j"] = at_s
                judge.append((epc, track["z"], at_s))
        return judge

    # ------------------------------------------------------------------ alerts

    def _sweep_due(self, zone: str, at_s: float) -> bool:
        """Whether to sweep ``zone`` now: once per ``sweep_s`` of report time, by whichever process
        claims that stretch of time first (a claim in the store, kept long enough to outlive it)."""
        bucket = int(at_s // self.sweep_s)
        if bucket <= self._swept.get(zone, -1):
            return False
        self._swept[zone] = bucket
        return self.store.claim(f"claim:sweep:{zone}:{bucket}", max(60.0, 10 * self.sweep_s))

    def _judge(self, epc: str, zone: str, track: Json | None, item: Json | None, at_s: float) -> list[Alert]:
        """Alerts for a tag ``zone`` holds at ``at_s`` (each raised once per episode)."""
        assert track is not None  # a tag to judge was read in this batch
        raised: list[str] = track.setdefault("al", [])
        if "not_read" in raised:
            raised.remove("not_read")
        if item is None:
            if zone in self.zones.storage:
                return self._raise(
                    track, Alert(epc, "unknown_tag", at_s, zone, f"unregistered tag {epc} in {zone}")
                )
            return []
        case, expected = item["case"], item["zone"]
        if zone == expected:
            raised.clear()
            track["arr"] = item["order"]  # arrived: the zones it passed through no longer excuse it
            return []
        if zone in self.zones.release:
            if item["status"] in ("out", "disposed"):
                return []
            text = (
                f"item {epc} (case {case}) at the exit without an approved retrieval: it is {item['status']}"
            )
            return self._raise(track, Alert(epc, "exit_unapproved", at_s, zone, text, case, expected))
        if zone in item["allowed"] and at_s <= item["allowed_until"] and track.get("arr") != item["order"]:
            return []  # still being carried
        where = f"expected in {expected}" if expected else f"{item['status']}, expected in no zone"
        text = f"item {epc} (case {case}) is in {zone}, {where}"
        return self._raise(track, Alert(epc, "wrong_zone", at_s, zone, text, case, expected))

    def _raise(self, track: Json, alert: Alert) -> list[Alert]:
        key = f"{alert.label}:{alert.zone}"
        if key in track["al"]:
            return []
        track["al"].append(key)
        return [alert]

    def _sweep(
        self, zone: str, at_s: float, loaded: dict[str, Json | None], changed: dict[str, Json]
    ) -> list[Alert]:
        """``not_read`` for the items expected in ``zone`` that no zone has held for ``missing_after_s``."""
        expected = sorted(self.store.members(f"zone:{zone}"))
        unread = [epc for epc in expected if f"tag:{epc}" not in loaded]
        loaded.update(
            zip((f"tag:{e}" for e in unread), self.store.get_many([f"tag:{e}" for e in unread]), strict=True)
        )
        silent = [
            epc for epc in expected if not _heard_since(loaded[f"tag:{epc}"], at_s - self.missing_after_s)
        ]
        fetch = [epc for epc in silent if item_key(epc) not in loaded]  # custody only of the silent ones
        loaded.update(
            zip((item_key(e) for e in fetch), self.store.get_many([item_key(e) for e in fetch]), strict=True)
        )
        expected = silent
        alerts = []
        for epc in expected:
            item, track = loaded.get(item_key(epc)), loaded.get(f"tag:{epc}")
            if item is None or item["status"] != "stored" or item["zone"] != zone:
                continue
            last_s = max(item["since"], track["seen"] or track["since"]) if track else item["since"]
            if at_s - last_s <= self.missing_after_s:
                continue
            track = track or {"z": "", "since": item["since"], "seen": None, "tr": {}}
            quiet = f"{(at_s - last_s) / 60:.1f} min"
            text = f"item {epc} (case {item['case']}) not read for {quiet}, expected in {zone}"
            alert = Alert(epc, "not_read", at_s, zone, text, item["case"], zone)
            if "not_read" not in track.setdefault("al", []):
                track["al"].append("not_read")
                loaded[f"tag:{epc}"] = changed[f"tag:{epc}"] = track
                alerts.append(alert)
        return alerts


def _heard_since(track: Json | None, since_s: float) -> bool:
    return track is not None and track["seen"] is not None and track["seen"] >= since_s


SETTINGS: dict[str, Any] = {
    "missing_after_s": MISSING_AFTER_S,
    "sweep_s": SWEEP_S,
    "rejudge_s": REJUDGE_S,
    "storage_zones": "vault-a,vault-b,vault-c",
    "intake_zones": "intake",
    "release_zones": "release",
    **{name: getattr(LocatorSettings(), name) for name in LocatorSettings.__dataclass_fields__},
}


def zones_from(settings: Mapping[str, Any]) -> Zones:
    def names(key: str) -> tuple[str, ...]:
        return tuple(z.strip() for z in str(settings.get(key, SETTINGS[key])).split(",") if z.strip())

    return Zones(intake=names("intake_zones"), release=names("release_zones"), storage=names("storage_zones"))


class EvidenceLocationPlugin(Plugin):
    spec = PluginSpec(
        name="evidence_locator",
        version="1.0.0",
        consumes=frozenset({Modality.RFID}),
        # Zone readers only: an e-seal or lane reader names no zone and is none of the store's business.
        requires_metadata=frozenset({"zone"}),
        description="locates seized items by RFID (smoothed signal, dwell, hysteresis) and alerts on reads "
        "that contradict their chain of custody",
        default_settings=SETTINGS,
    )

    def __init__(self, settings: Mapping[str, Any], context: PluginContext) -> None:
        store = store_for_state(context.state) if context.state is not None else MemoryStore()
        self.locator = Locator(
            store,
            zones_from(settings),
            LocatorSettings.from_mapping(settings),
            missing_after_s=float(settings.get("missing_after_s", MISSING_AFTER_S)),
            sweep_s=float(settings.get("sweep_s", SWEEP_S)),
            rejudge_s=float(settings.get("rejudge_s", REJUDGE_S)),
        )

    @hookimpl
    def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> list[Assessment]:
        reports = [(frame.source_id, _frame_time_s(frame.frame), frame.rfid_reads()) for frame in frames]
        results = self.locator.process(reports)
        return [
            Assessment.alarm(*(a.detection() for a in alerts)) if alerts else Assessment.clear()
            for alerts in results
        ]


class EvidenceOrderPlugin(Plugin):
    spec = PluginSpec(
        name="evidence_orders",
        version="1.0.0",
        consumes=frozenset({Modality.RECORD}),
        description="applies evidence work orders to the chain of custody; refuses steps out of order",
        default_settings={k: SETTINGS[k] for k in ("storage_zones", "intake_zones", "release_zones")},
        record_kinds=frozenset({ORDER_KIND}),
        state_of="evidence_locator",
    )

    def __init__(self, settings: Mapping[str, Any], context: PluginContext) -> None:
        self.store = store_for_state(context.state) if context.state is not None else MemoryStore()
        self.zones = zones_from(settings)
        self.audit: AuditLog | None = None
        client = getattr(self.store, "client", None)
        if client is not None:
            try:
                self.audit = audit_for(client, context.namespace)
            except ImportError:
                log.warning(
                    "evidence_orders: no audit trail module, custody events are not in the audit trail"
                )

    @hookimpl
    def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> list[Assessment]:
        return [self.assess(frame) for frame in frames]

    def assess(self, frame: FrameView) -> Assessment:
        refused = []
        for record in frame.records().records:
            if record.kind != ORDER_KIND:
                continue
            try:
                apply_order(
                    self.store,
                    order_from_fields(record.record_id, record.fields),
                    self.zones,
                    audit=self.audit,
                )
            except CustodyError as error:
                if "was applied already" in str(error):
                    continue  # a redelivered frame: the order stands as applied
                attributes = {"order_id": record.record_id, "epc": record.fields.get("epc_hex", "")}
                refused.append(Detection("order_refused", 1.0, explanation=str(error), attributes=attributes))
        return Assessment.alarm(*refused) if refused else Assessment.clear()


def _report_time_s(batch: frame_pb2.RfidReadBatch, frame_s: float | None) -> float:
    if batch.reads:
        ends = [
            read.last_seen if read.HasField("last_seen") else read.first_seen
            for read in (batch.reads[0], batch.reads[-1])
        ]
        latest = max(stamp.seconds + stamp.nanos / 1e9 for stamp in ends)
        if latest > 0:
            return latest
    return frame_s or 0.0


def _frame_time_s(frame: frame_pb2.Frame) -> float | None:
    for name in ("capture_time", "accepted_time"):
        if frame.HasField(name):
            stamp = getattr(frame, name)
            return float(stamp.seconds + stamp.nanos / 1e9)
    return None
