"""The liquor duty desk at the red channel: an assessment per traveller, over Redis, in the gateway
process; the liquor page (``liquor_page``) is its front door.

An officer opens an assessment for a traveller with the camera frames of the traveller's bottles: each
``liquor_bottle`` detection the liquor_label plugin left in a frame's verdict becomes a recognised bottle
(product, ABV, volume and reference price from the label database, the match's confidence and
candidates). Bottles are also entered by hand. The officer accepts a bottle the plugin was unsure of, or
overrides what it recognised, with a reason; decides whether the traveller is entitled to the 1-litre
allowance; and confirms. The duty (``smartcustoms.core.duty``: each bottle's breakdown, the allowance
over the traveller's bottles as a whole) is worked out again at every change, at the desk's exchange
rates. A confirmed assessment cannot change and has a printable receipt.

Keys under ``sc:<namespace>:liquor:``: ``assessment:<id>`` (one JSON document, frames by id),
``traveller:<traveller id>`` (the traveller's open assessment), ``recent`` and ``recent:<traveller id>``
(ids by time opened), ``frame:<frame id>`` (the assessment a frame is in, as long as its verdict is kept),
``rates`` (the rate table ``smartcustoms duty rates load`` stores) and ``overrides`` (a hash
``<catalogue id>|<reason>`` -> overrides of recognised bottles, exported as
``smartcustoms_liquor_overrides_total`` so the label database's weak entries show).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import redis.asyncio as aioredis
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector
from redis.exceptions import WatchError

from smartcustoms.core.audit import enqueue_event
from smartcustoms.core.duty import DutyError, LiquorItem, RateTable, breakdown_json, traveller_duty
from smartcustoms.core.keys import redis_prefix
from smartcustoms.core.metrics import LIQUOR_OVERRIDE_REASONS, LIQUOR_OVERRIDES
from smartcustoms.runtime.ledger import Ledger
from smartcustoms.v1 import results_pb2

BOTTLE_LABEL = "liquor_bottle"  # the liquor_label plugin's detections
TRAVELLER_ATTRIBUTE = "traveller_id"  # a detection's traveller (the frame's metadata key, copied)
DEFAULT_LIMIT = 20
MAX_LIMIT = 500
OPEN, CONFIRMED = "open", "confirmed"
RECOGNISED, MANUAL = "recognised", "manual"
# What an officer may say an override is for; the metric's reason label (core/metrics.py).
OVERRIDE_REASONS: dict[str, str] = {
    "wrong_product": "the label was matched to the wrong product",
    "wrong_abv": "the strength is not the database's",
    "wrong_volume": "the volume is not the database's",
    "value_evidence": "a receipt or invoice gives the value",
    "not_liquor": "not liquor, or a bottle counted twice (left out)",
    "other": "another reason (say which in the note)",
}
assert tuple(OVERRIDE_REASONS) == LIQUOR_OVERRIDE_REASONS
FACTS = ("catalogue_id", "description", "category", "abv_percent", "volume_ml", "pack", "value", "currency")


class AssessmentNotFound(LookupError):
    """No assessment with this id (or no bottle with this id in it)."""


class AssessmentExists(Exception):
    """The traveller has an open assessment already."""


class AssessmentStateError(Exception):
    """The assessment is confirmed, so nothing may change; or it is not ready to be confirmed."""


# --------------------------------------------------------------------------- the documents


@dataclass
class Override:
    """An officer's change to a bottle: who, why, and the facts it replaced."""

    officer: str
    reason: str
    note: str
    at: str
    before: dict[str, Any]


@dataclass
class Bottle:
    """One item on the counter: a bottle, or ``pack`` bottles packed as one. ``value`` "" is no value."""

    bottle_id: str
    source: str  # recognised (from a frame's verdict) or manual
    description: str
    abv_percent: str
    volume_ml: str
    value: str
    currency: str = "HKD"
    pack: int = 1
    category: str = ""  # spirit, wine, beer ...: wine pays no duty
    catalogue_id: str = ""
    frame_id: str = ""
    confidence: float | None = None
    candidates: list[dict[str, Any]] = field(default_factory=list)
    needs_officer: str = ""  # why the plugin asked for an officer; "" if it did not
    plugin_duty_hkd: str = ""  # what the plugin said one bottle pays (no allowance)
    # how the plugin knew it: "keypoints" (the label's look), "names" (its text) or "printed_facts" (its
    # ABV and volume: a shortlist)
    identified_by: str = ""
    checked_by: str = ""  # the officer who accepted it as recognised
    excluded: bool = False
    overrides: list[Override] = field(default_factory=list)

    @property
    def recognised_catalogue_id(self) -> str:
        """The database entry the plugin matched (before any override), "" for a bottle entered by hand."""
        if self.source != RECOGNISED:
            return ""
        return str(self.overrides[0].before["catalogue_id"]) if self.overrides else self.catalogue_id

    @property
    def pending(self) -> str:
        """Why the officer must still look at it before the assessment is confirmed ("" if not)."""
        if self.excluded:
            return ""
        if self.needs_officer and not (self.checked_by or self.overrides):
            return f"the plugin asked for an officer: {self.needs_officer}"
        try:
            self.item()
        except DutyError as error:
            return f"cannot be assessed: {error}"
        return ""

    def item(self) -> LiquorItem:
        if not self.abv_percent or not self.volume_ml:
            raise DutyError("its ABV and volume are not known")
        return LiquorItem.of(
            self.abv_percent,
            self.volume_ml,
            self.value or None,
            self.currency or "HKD",
            bottles=self.pack,
            wine=self.category.lower() == "wine",
        )

    def facts(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FACTS} | {"excluded": self.excluded}


@dataclass
class Assessment:
    assessment_id: str
    traveller_id: str
    control_point: str
    opened_by: str
    opened_at: str
    status: str = OPEN
    frame_ids: list[str] = field(default_factory=list)
    bottles: list[Bottle] = field(default_factory=list)
    allowance_eligible: bool = True  # aged 18 or over, not back within 24 hours, not for trade
    allowance_note: str = ""
    duty: dict[str, Any] = field(default_factory=dict)  # ``work_out`` of the bottles, at the desk's rates
    confirmed_by: str = ""
    confirmed_at: str = ""
    confirm_note: str = ""
    history: list[dict[str, str]] = field(default_factory=list)  # who did what, when

    def bottle(self, bottle_id: str) -> Bottle:
        for bottle in self.bottles:
            if bottle.bottle_id == bottle_id:
                return bottle
        raise AssessmentNotFound(f"assessment {self.assessment_id} has no bottle {bottle_id}")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: bytes | str) -> Assessment:
        document = json.loads(raw)
        bottles = [
            Bottle(**(b | {"overrides": [Override(**o) for o in b["overrides"]]}))
            for b in document["bottles"]
        ]
        return cls(**(document | {"bottles": bottles}))


# --------------------------------------------------------------------------- the rules, without Redis


def _officer(name: str) -> str:
    if not name.strip():
        raise ValueError("the officer must be named")
    return name.strip()


def _iso(at_s: float) -> str:
    return dt.datetime.fromtimestamp(at_s, dt.UTC).isoformat(timespec="seconds")


def _require_open(assessment: Assessment) -> None:
    if assessment.status != OPEN:
        raise AssessmentStateError(
            f"assessment {assessment.assessment_id} was confirmed by {assessment.confirmed_by}:"
            " it cannot change"
        )


def _log(assessment: Assessment, officer: str, at_s: float, action: str) -> None:
    assessment.history.append({"officer": officer, "at": _iso(at_s), "action": action})


def _frame_ids(frame_ids: Iterable[str]) -> list[str]:
    ids: list[str] = []
    for frame_id in (f.strip() for f in frame_ids):
        if frame_id and frame_id not in ids:
            ids.append(frame_id)
    return ids


def recognised_bottles(verdict: results_pb2.Verdict) -> list[Bottle]:
    """A bottle for each ``liquor_bottle`` detection of a verdict's live results, as the plugin saw it."""
    bottles = []
    detections = [d for r in verdict.results for d in r.detections if d.label == BOTTLE_LABEL]
    for number, detection in enumerate(detections, start=1):
        a = detection.attributes
        needs = ""
        if a.get("needs_officer") == "1":
            needs = (
                a.get("needs_officer_reason") or a.get("reason") or detection.explanation or "low confidence"
            )
        bottles.append(
            Bottle(
                bottle_id=f"{verdict.frame_id}#{number}",
                source=RECOGNISED,
                description=" ".join(p for p in (a.get("brand", ""), a.get("product", "")) if p) or "unknown",
                abv_percent=a.get("abv_percent", ""),
                volume_ml=a.get("volume_ml", ""),
                value=a.get("reference_price_hkd", ""),
                category=a.get("category", ""),
                catalogue_id=a.get("catalogue_id", ""),
                frame_id=verdict.frame_id,
                confidence=round(float(detection.score), 4),
                candidates=_candidates(a.get("candidates", "")),
                needs_officer=needs,
                plugin_duty_hkd=a.get("duty_hkd", ""),
                identified_by=a.get("identified_by", ""),
            )
        )
    return bottles


def _candidates(text: str) -> list[dict[str, Any]]:
    try:
        found = json.loads(text) if text else []
    except ValueError:
        return []
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def new_assessment(
    assessment_id: str, traveller_id: str, officer: str, control_point: str, now_s: float
) -> Assessment:
    """An assessment as opened, with no bottles yet. ValueError for a missing field."""
    officer = _officer(officer)
    traveller_id = traveller_id.strip()
    if not traveller_id:
        raise ValueError("the traveller's id must not be empty")
    if not traveller_id.isprintable():
        raise ValueError("the traveller's id must not hold control characters")
    assessment = Assessment(assessment_id, traveller_id, control_point.strip(), officer, _iso(now_s))
    _log(assessment, officer, now_s, "opened")
    return assessment


def add_frames(
    assessment: Assessment,
    verdicts: Sequence[tuple[str, results_pb2.Verdict | None]],
    officer: str,
    now_s: float,
) -> None:
    """Reference frames (by id) and add the bottles their verdicts hold; a frame seen before adds nothing.
    ValueError for a frame without a verdict."""
    officer = _officer(officer)
    _require_open(assessment)
    missing = [frame_id for frame_id, verdict in verdicts if verdict is None]
    if missing:
        raise ValueError(f"no verdict for frame {', '.join(missing)} (not seen, or not decided yet)")
    for frame_id, verdict in verdicts:
        if frame_id in assessment.frame_ids or verdict is None:
            continue
        assessment.frame_ids.append(frame_id)
        found = recognised_bottles(verdict)
        assessment.bottles.extend(found)
        _log(assessment, officer, now_s, f"frame {frame_id}: {len(found)} bottle(s) recognised")


def add_manual_bottle(assessment: Assessment, bottle: Bottle, officer: str, now_s: float) -> Bottle:
    """Add a bottle entered by hand; ValueError (the facts are checked as the duty will read them)."""
    officer = _officer(officer)
    _require_open(assessment)
    if not bottle.description.strip():
        raise ValueError("describe the bottle (brand and product)")
    added = dataclasses.replace(
        bottle, bottle_id=f"m{sum(b.source == MANUAL for b in assessment.bottles) + 1}", source=MANUAL
    )
    added.item()  # DutyError (a ValueError) for facts that cannot be assessed
    assessment.bottles.append(added)
    _log(assessment, officer, now_s, f"bottle {added.bottle_id} entered by hand: {added.description}")
    return added


def check_bottle(assessment: Assessment, bottle_id: str, officer: str, now_s: float) -> None:
    """The officer accepts a bottle as the plugin recognised it."""
    officer = _officer(officer)
    _require_open(assessment)
    bottle = assessment.bottle(bottle_id)
    bottle.item()
    bottle.checked_by = officer
    _log(assessment, officer, now_s, f"bottle {bottle_id} accepted as recognised")


def override_bottle(
    assessment: Assessment,
    bottle_id: str,
    changes: dict[str, Any],
    reason: str,
    note: str,
    officer: str,
    now_s: float,
) -> str:
    """Change a bottle's facts (or leave it out, reason ``not_liquor``), keeping what it replaced; return
    the catalogue id the override counts against ("" for a bottle entered by hand). ValueError."""
    officer = _officer(officer)
    _require_open(assessment)
    if reason not in OVERRIDE_REASONS:
        raise ValueError(f"the reason must be one of {', '.join(OVERRIDE_REASONS)}")
    if reason == "other" and not note.strip():
        raise ValueError("say why in the note when the reason is other")
    unknown = set(changes) - set(FACTS)
    if unknown:
        raise ValueError(f"a bottle has no {', '.join(sorted(unknown))}; it has {', '.join(FACTS)}")
    bottle = assessment.bottle(bottle_id)
    before = bottle.facts()
    changed = dataclasses.replace(bottle, **_typed(changes), excluded=reason == "not_liquor")
    if changed.facts() == before:
        raise ValueError("the override changes nothing: give the facts that differ")
    if not changed.excluded:
        changed.item()
    changed.overrides = [*bottle.overrides, Override(officer, reason, note.strip(), _iso(now_s), before)]
    assessment.bottles[assessment.bottles.index(bottle)] = changed
    _log(assessment, officer, now_s, f"bottle {bottle_id} overridden ({reason}){': ' + note if note else ''}")
    return changed.recognised_catalogue_id


def _typed(changes: dict[str, Any]) -> dict[str, Any]:
    typed: dict[str, Any] = {k: str(v).strip() for k, v in changes.items() if k != "pack"}
    if "pack" in changes:
        try:
            typed["pack"] = int(changes["pack"])
        except (TypeError, ValueError):
            raise ValueError(f"pack must be a whole number of bottles, got {changes['pack']!r}") from None
    if "currency" in typed:
        typed["currency"] = typed["currency"].upper() or "HKD"
    return typed


def set_allowance(assessment: Assessment, eligible: bool, note: str, officer: str, now_s: float) -> None:
    """Whether the traveller is entitled to the 1-litre allowance; why not must be said."""
    officer = _officer(officer)
    _require_open(assessment)
    if not eligible and not note.strip():
        raise ValueError("say why the traveller has no allowance (under 18, back within 24 hours, for trade)")
    assessment.allowance_eligible, assessment.allowance_note = eligible, note.strip()
    _log(assessment, officer, now_s, f"allowance {'granted' if eligible else 'refused: ' + note.strip()}")


def confirm(assessment: Assessment, note: str, officer: str, now_s: float) -> None:
    """Confirm the duty; AssessmentStateError while a bottle waits for the officer, or none is counted."""
    officer = _officer(officer)
    _require_open(assessment)
    pending = [f"{b.bottle_id} ({b.pending})" for b in assessment.bottles if b.pending]
    if pending:
        raise AssessmentStateError(f"bottles wait for an officer: {'; '.join(pending)}")
    if not any(not b.excluded for b in assessment.bottles):
        raise AssessmentStateError("there is no bottle to assess: add one, by frame or by hand")
    assessment.status, assessment.confirmed_by = CONFIRMED, officer
    assessment.confirmed_at, assessment.confirm_note = _iso(now_s), note.strip()
    _log(assessment, officer, now_s, "confirmed")


def work_out(assessment: Assessment, rates: RateTable) -> dict[str, Any]:
    """The duty of the bottles that can be assessed (left-out and pending ones aside): each bottle's
    breakdown, what it pays after the allowance, and the totals; amounts as decimal strings."""
    counted = [b for b in assessment.bottles if not b.excluded and not b.pending]
    allowance = Decimal(1) if assessment.allowance_eligible else Decimal(0)
    assessed = traveller_duty([b.item() for b in counted], rates, allowance_litres=allowance)
    shares = {s.index: s for s in assessed.allowance}
    bottles = {}
    for index, (bottle, breakdown) in enumerate(zip(counted, assessed.items, strict=True)):
        share = shares.get(index)
        bottles[bottle.bottle_id] = breakdown_json(breakdown) | {
            "allowance_litres": _litres(share.litres) if share else "0",
            "relief_hkd": str(share.relief_hkd) if share else "0.00",
            "payable_hkd": str(assessed.payable_hkd[index]),
        }
    used = {(b["currency"], b["rate_hkd_per_unit"], b["rate_date"]) for b in bottles.values()}
    return {
        "bottles": bottles,
        "allowance_offered_litres": _litres(allowance),
        "allowance_used_litres": _litres(assessed.allowance_used_litres),
        "allowance_order": [counted[s.index].bottle_id for s in assessed.allowance],
        "duty_before_allowance_hkd": str(assessed.duty_before_allowance_hkd),
        "relief_hkd": str(assessed.relief_hkd),
        "duty_hkd": str(assessed.duty_hkd),
        "rates": [{"currency": c, "hkd_per_unit": r, "date": d} for c, r, d in sorted(used) if c != "HKD"],
        "pending": [b.bottle_id for b in assessment.bottles if b.pending],
    }


def _litres(litres: Decimal) -> str:
    return f"{litres.normalize():f}"


# --------------------------------------------------------------------------- Redis


_OPEN = """
-- KEYS: traveller, assessment, recent, the traveller's, then each frame's
-- ARGV: id, document, opened_at_s, frame_ttl_s
local existing = redis.call('GET', KEYS[1])
if existing then return existing end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
for i = 5, #KEYS do redis.call('SET', KEYS[i], ARGV[1], 'EX', ARGV[4]) end
return false
"""


def rates_key(namespace: str) -> str:
    return f"{redis_prefix(namespace)}liquor:rates"


def overrides_key(namespace: str) -> str:
    return f"{redis_prefix(namespace)}liquor:overrides"


def store_rates(redis_url: str, namespace: str, table: RateTable) -> None:
    """Replace the desk's rate table (``smartcustoms duty rates load``)."""
    import redis as sync_redis

    client = sync_redis.Redis.from_url(redis_url, socket_timeout=5.0)
    try:
        client.set(rates_key(namespace), json.dumps({"source": table.source, "rates": table.rows()}))
    finally:
        client.close()


def read_rates(redis_url: str, namespace: str) -> RateTable:
    import redis as sync_redis

    client = sync_redis.Redis.from_url(redis_url, socket_timeout=5.0)
    try:
        return _rate_table(client.get(rates_key(namespace)))
    finally:
        client.close()


def _rate_table(raw: object) -> RateTable:
    if raw is None:
        return RateTable()
    stored = json.loads(raw if isinstance(raw, bytes | str) else str(raw))
    return RateTable.from_rows(stored["rates"], stored.get("source", ""))


class LiquorDesk:
    """What the page does: open, read and list assessments, change them, confirm them."""

    def __init__(
        self, client: aioredis.Redis, namespace: str, ledger: Ledger, clock: Callable[[], float] = time.time
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.prefix = f"{redis_prefix(namespace)}liquor:"
        self.ledger = ledger
        self.clock = clock
        self._open = client.register_script(_OPEN)

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    async def rates(self) -> RateTable:
        return _rate_table(await self.client.get(rates_key(self.namespace)))

    async def open(
        self, traveller_id: str, officer: str, frame_ids: Sequence[str] = (), control_point: str = ""
    ) -> Assessment:
        """ValueError for a missing field or a frame without a verdict; AssessmentExists if the traveller
        has an open assessment."""
        now_s = self.clock()
        assessment = new_assessment(
            f"la-{uuid.uuid4().hex[:12]}", traveller_id, officer, control_point, now_s
        )
        add_frames(assessment, await self._verdicts(frame_ids), officer, now_s)
        assessment.duty = work_out(assessment, await self.rates())
        keys = [
            self.key("traveller", assessment.traveller_id),
            self.key("assessment", assessment.assessment_id),
            self.key("recent"),
            self.key("recent", assessment.traveller_id),
            *(self.key("frame", f) for f in assessment.frame_ids),
        ]
        args: list[str | float] = [
            assessment.assessment_id,
            assessment.to_json(),
            now_s,
            self.ledger.verdict_ttl_s,
        ]
        existing = await self._open(keys=keys, args=args)
        if existing is not None:
            raise AssessmentExists(
                f"traveller {assessment.traveller_id} has assessment {_text(existing)} open already"
            )
        return assessment

    async def _verdicts(self, frame_ids: Sequence[str]) -> list[tuple[str, results_pb2.Verdict | None]]:
        return [(frame_id, await self.ledger.verdict(frame_id)) for frame_id in _frame_ids(frame_ids)]

    async def get(self, assessment_id: str) -> Assessment:
        raw = await self.client.get(self.key("assessment", assessment_id))
        if raw is None:
            raise AssessmentNotFound(f"no liquor assessment {assessment_id}")
        return Assessment.from_json(raw)

    async def open_for(self, traveller_ids: Sequence[str]) -> list[str | None]:
        """The open assessment of each traveller, or None."""
        return await self._lookup("traveller", traveller_ids)

    async def _lookup(self, kind: str, names: Sequence[str]) -> list[str | None]:
        if not names:
            return []
        raw = await self.client.mget([self.key(kind, name) for name in names])
        return [None if r is None else _text(r) for r in raw]

    async def waiting(self, alerts: Sequence[results_pb2.Alert]) -> list[dict[str, Any]]:
        """Travellers with bottles in recent alerts no assessment references yet (``waiting_travellers``),
        each with the id of the traveller's open assessment, if any."""
        frame_ids = [a.frame_id for a in alerts if any(d.label == BOTTLE_LABEL for d in a.detections)]
        owners = await self._lookup("frame", frame_ids)
        assessed = {f: owner for f, owner in zip(frame_ids, owners, strict=True) if owner}
        travellers = waiting_travellers(alerts, assessed)
        opened = await self.open_for([t["traveller_id"] for t in travellers])
        for traveller, assessment_id in zip(travellers, opened, strict=True):
            traveller["assessment_id"] = assessment_id if traveller["traveller_id"] else None
        return travellers

    async def assessments(self, traveller_id: str, limit: int) -> list[Assessment]:
        """Recent assessments, newest first, of one traveller if given."""
        limit = min(limit or DEFAULT_LIMIT, MAX_LIMIT)
        wanted = traveller_id.strip()
        index = self.key("recent", wanted) if wanted else self.key("recent")
        ids = await self.client.zrevrange(index, 0, limit - 1)
        if not ids:
            return []
        raw = await self.client.mget([self.key("assessment", _text(i)) for i in ids])
        return [Assessment.from_json(r) for r in raw if r is not None]

    async def add_frames(self, assessment_id: str, frame_ids: Sequence[str], officer: str) -> Assessment:
        verdicts = await self._verdicts(frame_ids)
        if not verdicts:
            raise ValueError("give the id of at least one frame")
        return await self._change(assessment_id, lambda a, now_s: add_frames(a, verdicts, officer, now_s))

    async def add_bottle(self, assessment_id: str, bottle: Bottle, officer: str) -> Assessment:
        return await self._change(
            assessment_id, lambda a, now_s: add_manual_bottle(a, bottle, officer, now_s)
        )

    async def check_bottle(self, assessment_id: str, bottle_id: str, officer: str) -> Assessment:
        return await self._change(assessment_id, lambda a, now_s: check_bottle(a, bottle_id, officer, now_s))

    async def override_bottle(
        self,
        assessment_id: str,
        bottle_id: str,
        changes: dict[str, Any],
        reason: str,
        note: str,
        officer: str,
    ) -> Assessment:
        def change(assessment: Assessment, now_s: float) -> list[str]:
            catalogue_id = override_bottle(assessment, bottle_id, changes, reason, note, officer, now_s)
            return [f"{catalogue_id}|{reason}"] if catalogue_id else []

        return await self._change(assessment_id, change)

    async def set_allowance(self, assessment_id: str, eligible: bool, note: str, officer: str) -> Assessment:
        return await self._change(
            assessment_id, lambda a, now_s: set_allowance(a, eligible, note, officer, now_s)
        )

    async def confirm(self, assessment_id: str, note: str, officer: str) -> Assessment:
        return await self._change(assessment_id, lambda a, now_s: confirm(a, note, officer, now_s))

    async def override_counts(self) -> dict[tuple[str, str], int]:
        """Overrides of recognised bottles: (catalogue id, reason) -> how many."""
        raw = await self.client.hgetall(overrides_key(self.namespace))
        counts = {}
        for name, value in raw.items():
            catalogue_id, _, reason = _text(name).rpartition("|")
            counts[(catalogue_id, reason)] = int(value)
        return counts

    async def _change(self, assessment_id: str, change: Callable[[Assessment, float], object]) -> Assessment:
        """Read, change, work the duty out again and write one assessment atomically (optimistic: retried
        if it moved meanwhile). A change returning tally fields counts them as overrides, in the same
        transaction. The traveller's open-assessment key goes once it is confirmed."""
        key = self.key("assessment", assessment_id)
        rates = await self.rates()
        async with self.client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    raw = await pipe.get(key)
                    if raw is None:
                        raise AssessmentNotFound(f"no liquor assessment {assessment_id}")
                    assessment = Assessment.from_json(raw)
                    tallies = change(assessment, self.clock())
                    assessment.duty = work_out(assessment, rates)
                    pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
                    pipe.set(key, assessment.to_json())
                    for frame_id in assessment.frame_ids:
                        pipe.set(self.key("frame", frame_id), assessment_id, ex=self.ledger.verdict_ttl_s)
                    for tally in tallies if isinstance(tallies, list) else []:
                        pipe.hincrby(overrides_key(self.namespace), tally, 1)
                        enqueue_event(pipe, self.namespace, "override", _override_body(assessment, tally))
                    if assessment.status == CONFIRMED:
                        pipe.delete(self.key("traveller", assessment.traveller_id))
                        body = {"assessment": json.loads(assessment.to_json())}
                        enqueue_event(pipe, self.namespace, "duty_assessment", body)
                    await pipe.execute()
                    return assessment
                except WatchError:
                    continue


def _override_body(assessment: Assessment, tally: str) -> dict[str, Any]:
    catalogue_id, _, reason = tally.rpartition("|")
    return {
        "desk": "liquor",
        "assessment_id": assessment.assessment_id,
        "traveller_id": assessment.traveller_id,
        "catalogue_id": catalogue_id,
        "reason": reason,
        "bottles": json.loads(assessment.to_json()).get("bottles", []),
    }


def waiting_travellers(
    alerts: Sequence[results_pb2.Alert], assessed: Mapping[str, str] = MappingProxyType({})
) -> list[dict[str, Any]]:
    """Travellers whose bottles are in recent alerts (the liquor_label plugin's ``liquor_bottle``
    detections) in frames no assessment references (``assessed``: frame id -> assessment id), newest
    first: their frames and bottles. A detection's traveller is its ``traveller_id`` attribute, else the
    alert's conveyance; a frame with neither is listed on its own, traveller unknown."""
    travellers: dict[str, dict[str, Any]] = {}
    for alert in alerts:
        bottles = [d for d in alert.detections if d.label == BOTTLE_LABEL]
        if not bottles or alert.frame_id in assessed:
            continue
        traveller_id = bottles[0].attributes.get(TRAVELLER_ATTRIBUTE) or alert.conveyance_id
        entry = travellers.setdefault(
            traveller_id or f"frame:{alert.frame_id}",
            {
                "traveller_id": traveller_id,
                "control_point": alert.control_point,
                "frame_ids": [],
                "bottles": [],
                "needs_officer": False,
                "raised_time": alert.raised_time.ToJsonString(),
            },
        )
        if alert.frame_id not in entry["frame_ids"]:
            entry["frame_ids"].append(alert.frame_id)
            entry["bottles"] += [
                " ".join(p for p in (d.attributes.get("brand", ""), d.attributes.get("product", "")) if p)
                or "unrecognised bottle"
                for d in bottles
            ]
            entry["needs_officer"] |= any(d.attributes.get("needs_officer") == "1" for d in bottles)
    return list(travellers.values())


def _text(reply: object) -> str:
    return reply.decode() if isinstance(reply, bytes) else str(reply)


# --------------------------------------------------------------------------- the metric


class OverrideCollector(Collector):
    """Exports the desk's override tally as ``smartcustoms_liquor_overrides_total`` (catalogue_id, reason)
    at scrape time; every gateway shares the same counts."""

    def __init__(self, redis_url: str, namespace: str) -> None:
        import redis as sync_redis

        self._client = sync_redis.Redis.from_url(redis_url, socket_timeout=2.0)
        self._key = overrides_key(namespace)

    def collect(self):  # type: ignore[no-untyped-def]  # prometheus_client's Collector is untyped
        family = CounterMetricFamily(
            LIQUOR_OVERRIDES.name, LIQUOR_OVERRIDES.documentation, labels=list(LIQUOR_OVERRIDES.labels)
        )
        for name, value in sorted(self._client.hgetall(self._key).items()):
            catalogue_id, _, reason = _text(name).rpartition("|")
            family.add_metric([catalogue_id, reason], int(value))
        yield family
