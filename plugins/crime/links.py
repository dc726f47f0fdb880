"""Link alerts: a new case that names what earlier cases named (a phone, a person, a company, a
vehicle, an address) is an alert naming those cases and what they share.

The full resolution of ``resolve`` runs over every record when the crime page asks; on the stream each
new case is matched on keys instead, the exact part of that resolution (``entity_keys``): a phone's
digits, a vehicle's plate, an address's normalised key, a company's name without its legal form with
its registered address when the record gives one (two words and a trade are a common company name),
and a person's name in any of its joined forms *with* a date of birth (a name alone is not a person:
Hong Kong has many a Chan Tai Man). Each key keeps the set of cases that named it (``CaseStore.link_cases``).

Bounded: a key already named by more than ``MAX_EARLIER_CASES`` cases is a hub (a forwarder's office,
a courier's phone, a building of shared mailboxes) and raises nothing. A syndicate of the simulations
runs 3 to 7 cases; past eight, another case on the same key tells the officer nothing the first alerts
did not, and a hub would otherwise put an alert on every case it touches. So an alert lists at most
``MAX_EARLIER_CASES`` earlier cases per key and every case raises at most one alert.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .entities import Mention
from .resolve import address_key, date_key, name_forms, name_tokens, phone_key, plate_key

__all__ = ["MAX_EARLIER_CASES", "CaseLink", "entity_keys", "link_of"]

MAX_EARLIER_CASES = 8


@dataclass(frozen=True)
class CaseLink:
    """A new case and the earlier cases it shares entities with: earlier case -> what they share."""

    case_id: str
    shared: Mapping[str, tuple[str, ...]]

    @property
    def earlier(self) -> tuple[str, ...]:
        return tuple(sorted(self.shared))

    @property
    def entities(self) -> tuple[str, ...]:
        return tuple(sorted({label for labels in self.shared.values() for label in labels}))


def entity_keys(mentions: Iterable[Mention]) -> dict[str, str]:
    """The keys a case's mentions are matched on, each with the label an officer reads."""
    keys: dict[str, str] = {}
    mentions = list(mentions)
    address_of = {m.mention_id: address_key(m.first("full")) for m in mentions if m.schema == "Address"}
    for m in mentions:
        for phone in m.values("phone"):
            if len(digits := phone_key(phone)) >= 7:
                keys[f"phone:{digits}"] = f"phone {digits}"
        name = m.first("name")
        if m.schema == "Person" and name and (born := [date_key(d) for d in m.values("birthDate")]):
            for form in name_forms(name_tokens(name, "Person")):
                keys[f"person:{form}|{born[0]}"] = f"person {name} ({born[0]})"
        elif m.schema in ("Company", "Organization") and name:
            if len(joined := "".join(name_tokens(name, m.schema))) >= 6:
                at = next((address_of[a] for a in m.values("addressEntity") if address_of.get(a)), "")
                keys[f"company:{joined}|{at}"] = f"company {name}"
        elif m.schema == "Address" and (key := address_key(m.first("full"))):
            keys[f"address:{key}"] = f"address {m.first('full')}"
        elif m.schema == "Vehicle" and (plate := plate_key(m.first("registrationNumber"))):
            keys[f"vehicle:{plate}"] = f"vehicle {plate}"
    return keys


def link_of(case_id: str, keys: Mapping[str, str], earlier: Mapping[str, Sequence[str]]) -> CaseLink | None:
    """The alert for ``case_id`` from the cases each of its keys had before; None if it shares nothing
    that is not a hub."""
    shared: dict[str, set[str]] = {}
    for key, cases in earlier.items():
        if len(cases) > MAX_EARLIER_CASES:
            continue
        for other in cases:
            shared.setdefault(other, set()).add(keys[key])
    if not shared:
        return None
    return CaseLink(case_id, {other: tuple(sorted(labels)) for other, labels in shared.items()})
