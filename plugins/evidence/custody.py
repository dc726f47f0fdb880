"""The item registry and the chain of custody: plain functions over an ``EvidenceStore``.

An item is registered once (its EPC decoded by ``smartcustoms.core.epc``, its case, description,
seizing officer, storage slot), then moves only by work orders, each with its officers and reason:

    registered --deposit--> stored --transfer--> stored
    stored --retrieval (court | lab)--> out --return--> stored
    stored | out --disposal--> disposed

Retrieval and disposal need two different officers (the two-person rule). A step the item's status
does not allow (retrieving an item that was never deposited) is refused with the reason, and so is an
order applied twice (by its id). Each step an item takes is one record of the audit trail, with the
case in its body. After an order the item is expected in its new zone; for ``grace_s`` it may still
be read where it came from (or at intake, for a deposit), while it is carried.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import redis

from smartcustoms.core.epc import EpcError, decode_epc96

from .store import EvidenceStore, Json

__all__ = [
    "ACTIONS",
    "AuditLog",
    "CustodyError",
    "Order",
    "Zones",
    "apply_order",
    "enrol_stock",
    "item_key",
    "normalise_epc",
    "order_from_fields",
    "register_item",
]

ACTIONS = ("deposit", "transfer", "retrieval", "return", "disposal")
ALIASES = {"move": "transfer", "retrieve": "retrieval", "dispose": "disposal"}
TWO_PERSON = frozenset({"retrieval", "disposal"})
PURPOSES = ("court", "lab")
GRACE_S = 120.0
ALLOWED_FROM = {  # status an action needs -> the status it leaves
    "deposit": ({"registered"}, "stored"),
    "transfer": ({"stored"}, "stored"),
    "retrieval": ({"stored"}, "out"),
    "return": ({"out"}, "stored"),
    "disposal": ({"stored", "out"}, "disposed"),
}


class CustodyError(ValueError):
    """A registration or work order refused; the message says why, in one line."""


class AuditLog(Protocol):
    """What custody needs of the audit trail (``smartcustoms.core.audit.AuditTrail``)."""

    def append(self, kind: str, body: Mapping[str, Any]) -> object: ...


@dataclass(frozen=True)
class Zones:
    """The warehouse's rooms by role: where items come in, where they leave, where they are kept."""

    intake: tuple[str, ...] = ("intake",)
    release: tuple[str, ...] = ("release",)
    storage: tuple[str, ...] = ("vault-a", "vault-b", "vault-c")

    def check_storage(self, zone: str) -> str:
        if zone not in self.storage:
            raise CustodyError(
                f"{zone or 'no zone'!r} is not a storage zone (storage: {', '.join(self.storage)})"
            )
        return zone


DEFAULT_ZONES = Zones()


@dataclass(frozen=True)
class Order:
    order_id: str
    action: str
    epc: str
    officers: tuple[str, ...] = ()
    reason: str = ""
    to_zone: str = ""
    purpose: str = ""  # retrieval: court or lab
    at_s: float = 0.0
    case: str = ""  # a deposit of an item not yet registered registers it with this case
    description: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)


def normalise_epc(epc_hex: str) -> str:
    """The EPC as keys hold it (upper-case hex), if the project's parser accepts it; else CustodyError."""
    text = epc_hex.strip().upper()
    try:
        decode_epc96(text)
    except EpcError as error:
        raise CustodyError(f"EPC {epc_hex!r} does not decode: {error}") from None
    return text


def item_key(epc: str) -> str:
    return f"item:{epc}"


def register_item(
    store: EvidenceStore,
    epc_hex: str,
    *,
    case: str,
    description: str,
    officer: str,
    slot: str = "",
    size: int = 1,
    retrieval_due: str = "",
    at_s: float,
    audit: AuditLog | None = None,
) -> Json:
    """Register a seized item; CustodyError if its EPC does not decode, a field is missing, or the
    EPC is registered already."""
    epc = normalise_epc(epc_hex)
    for name, value in (("case", case), ("description", description), ("officer", officer)):
        if not value.strip():
            raise CustodyError(f"an item needs a {name}")
    if size < 1:
        raise CustodyError(f"size must be a positive number of slot units, got {size}")
    if store.get(item_key(epc)) is not None:
        raise CustodyError(f"EPC {epc} is registered already")
    parsed = decode_epc96(epc)
    item: Json = {
        "epc": epc,
        "uri": parsed.pure_identity_uri,
        "case": case.strip(),
        "description": description.strip(),
        "officer": officer.strip(),
        "slot": slot,
        "size": size,
        "retrieval_due": retrieval_due,
        "status": "registered",
        "zone": "",
        "allowed": [],
        "allowed_until": 0.0,
        "since": at_s,
        "order": "",
    }
    store.write({item_key(epc): item}, added={"items": [epc], f"case:{item['case']}": [epc]})
    _audit(
        audit, "evidence_registered", item, {"officer": item["officer"], "description": item["description"]}
    )
    return item


def apply_order(
    store: EvidenceStore,
    order: Order,
    zones: Zones = DEFAULT_ZONES,
    *,
    audit: AuditLog | None = None,
    grace_s: float = GRACE_S,
) -> Json:
    """Apply one work order to its item and return the item; CustodyError (nothing written) if refused."""
    action = ALIASES.get(order.action, order.action)
    if action not in ACTIONS:
        raise CustodyError(f"unknown action {order.action!r} (actions: {', '.join(ACTIONS)})")
    epc = normalise_epc(order.epc)
    officers = tuple(dict.fromkeys(o.strip() for o in order.officers if o.strip()))
    if not officers:
        raise CustodyError(f"order {order.order_id}: a {action} needs the officer who does it")
    if action in TWO_PERSON and len(officers) < 2:
        raise CustodyError(
            f"order {order.order_id}: a {action} needs two different officers (two-person rule)"
        )
    if store.get(f"order:{order.order_id}") is not None:
        raise CustodyError(f"order {order.order_id} was applied already")
    item = store.get(item_key(epc))
    if item is None and action == "deposit" and order.case:
        item = register_item(
            store,
            epc,
            case=order.case,
            description=order.description or "seized item",
            officer=officers[0],
            at_s=order.at_s,
            audit=audit,
        )
    if item is None:
        raise CustodyError(
            f"order {order.order_id}: item {epc} is not registered, so it cannot have a {action}"
        )
    needs, after = ALLOWED_FROM[action]
    if item["status"] not in needs:
        raise CustodyError(
            f"order {order.order_id}: cannot {action} item {epc}: it is {_status(item)}, a {action} needs it "
            + " or ".join(sorted(needs))
        )
    old_zone = item["zone"]
    new_zone, allowed = _destination(action, order, item, zones)
    updated = dict(item, status=after, zone=new_zone, allowed=allowed, allowed_until=order.at_s + grace_s)
    updated.update(
        since=order.at_s, order=order.order_id, purpose=order.purpose if action == "retrieval" else ""
    )
    record = {
        "order_id": order.order_id,
        "action": action,
        "epc": epc,
        "officers": list(officers),
        "reason": order.reason,
        "from_zone": old_zone,
        "to_zone": new_zone,
        "at_s": order.at_s,
    }
    moved_from = {f"zone:{old_zone}": [epc]} if old_zone and old_zone != new_zone else {}
    moved_to = {f"zone:{new_zone}": [epc]} if new_zone and new_zone not in zones.release else {}
    store.write(
        {item_key(epc): updated, f"order:{order.order_id}": record}, added=moved_to, removed=moved_from
    )
    _audit(audit, f"evidence_{action}", updated, {k: v for k, v in record.items() if k != "epc"})
    return updated


def enrol_stock(
    store: EvidenceStore, epc_hex: str, *, case: str, description: str, zone: str, at_s: float
) -> Json:
    """An item already on the shelves when the system starts (opening stock): registered and stored
    in ``zone`` by the opening stock-take, without a work order."""
    item = register_item(
        store, epc_hex, case=case, description=description, officer="opening-stocktake", at_s=at_s
    )
    item.update(status="stored", zone=zone)
    store.write({item_key(item["epc"]): item}, added={f"zone:{zone}": [item["epc"]]})
    return item


def order_from_fields(record_id: str, fields: Mapping[str, str]) -> Order:
    """A work order from a record's fields (``evidence_work_order``): order_id, action, epc_hex,
    officers (comma-separated), reason, to_zone, purpose, issued_at (ISO 8601), case, description."""
    issued = fields.get("issued_at", "")
    try:
        at_s = datetime.fromisoformat(issued.replace("Z", "+00:00")).timestamp() if issued else 0.0
    except ValueError:
        raise CustodyError(f"order {record_id}: issued_at {issued!r} is not an ISO 8601 time") from None
    return Order(
        order_id=fields.get("order_id") or record_id,
        action=fields.get("action", ""),
        epc=fields.get("epc_hex", ""),
        officers=tuple(fields.get("officers", "").split(",")),
        reason=fields.get("reason", ""),
        to_zone=fields.get("to_zone", ""),
        purpose=fields.get("purpose", "court" if fields.get("action") in ("retrieve", "retrieval") else ""),
        at_s=at_s if math.isfinite(at_s) else 0.0,
        case=fields.get("case", ""),
        description=fields.get("description") or fields.get("evidence_kind", ""),
    )


def _destination(action: str, order: Order, item: Json, zones: Zones) -> tuple[str, list[str]]:
    """The zone the item is expected in after the order, and the zones it may still be read in."""
    old = item["zone"]
    if action == "deposit":
        return zones.check_storage(order.to_zone), list(zones.intake)
    if action == "transfer":
        if zones.check_storage(order.to_zone) == old:
            raise CustodyError(f"order {order.order_id}: item {item['epc']} is in {old} already")
        return order.to_zone, [old]
    if action == "retrieval":
        if order.purpose not in PURPOSES:
            raise CustodyError(
                f"order {order.order_id}: a retrieval is for {' or '.join(PURPOSES)}, not {order.purpose!r}"
            )
        return zones.release[0], [old]
    if action == "return":
        return zones.check_storage(order.to_zone), [*zones.release, *zones.intake]
    return "", [old, *zones.release]  # disposal: it leaves through release


def _status(item: Json) -> str:
    status = str(item["status"])
    return {
        "registered": "registered but never deposited",
        "stored": f"stored in {item['zone']}",
        "out": "out on retrieval",
        "disposed": "disposed of",
    }.get(status, status)


def _audit(audit: AuditLog | None, kind: str, item: Json, extra: Mapping[str, Any]) -> None:
    if audit is not None:
        audit.append(
            kind,
            {
                "case": item["case"],
                "epc": item["epc"],
                "status": item["status"],
                "zone": item["zone"],
                **extra,
            },
        )


def audit_for(client: redis.Redis, namespace: str) -> AuditLog:
    """The product's audit trail on ``client`` (a redis.Redis)."""
    from smartcustoms.core.audit import AuditTrail

    trail: AuditLog = AuditTrail(client, namespace)
    return trail


def items_of(store: EvidenceStore, epcs: Sequence[str]) -> list[Json]:
    return [item for item in store.get_many([item_key(e) for e in epcs]) if item is not None]
