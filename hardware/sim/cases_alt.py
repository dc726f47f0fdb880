"""A second case generator, written apart from ``cases`` and never tuned on.

The same record kinds and FtM entities, other habits: Mandarin names in pinyin and Wade-Giles
("Zhang Xiaoming", "Chang Hsiao-ming"), Hong Kong people with an English name in front or behind
("Peter Chan Tai Man", "CHAN, Tai Man Peter"), initials ("Chang X.M."), letters swapped; dates of birth
as D/M/Y or '12 Mar 1980'; phones with 00852 and dashes; addresses as "Mansion", "Block", "Kowloon";
companies with or without the "Hong Kong" in front, "Intl", "&". Seasons peak in summer. Anomalies
are shaped otherwise: a new route that ramps up (1, 1, 2, 2, 3 ...), a one-week burst of a commodity at
a place, and a doubling of a method for six weeks. Outputs ``cases.Scenario``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import random
from dataclasses import dataclass
from typing import Any

from .cases import Case, PlantedAnomaly, PlantedLink, Scenario, SimRecord, week_start

__all__ = ["generate"]

WEEKS = 104
# fmt: off
PINYIN_WG = {
    "Zhang": "Chang", "Zhou": "Chou", "Xie": "Hsieh", "Zheng": "Cheng", "Huang": "Hwang", "Zhao": "Chao",
    "Xu": "Hsu", "Qian": "Chien", "Sun": "Sun", "Wang": "Wang", "Liu": "Liu",
}
# fmt: on
# fmt: off
GIVEN_WG = {
    "Xiaoming": "Hsiao-ming", "Jianguo": "Chien-kuo", "Zhiqiang": "Chih-chiang", "Weiguo": "Wei-kuo",
    "Xiuying": "Hsiu-ying", "Guiying": "Kuei-ying", "Jun": "Chun", "Qiang": "Chiang", "Lei": "Lei",
    "Yang": "Yang", "Jie": "Chieh", "Xin": "Hsin", "Hao": "Hao", "Yu": "Yu", "Chen": "Chen",
}
# fmt: on
HK_SURNAMES = ("Chan", "Wong", "Leung", "Cheung", "Lau", "Lee", "Ho", "Yuen", "Kwan", "Tam", "Law", "So")
# fmt: off
HK_GIVEN = (
    "Tai Man", "Siu Ming", "Ka Yan", "Wing Kei", "Chi Keung", "Hoi Yan", "Pui Shan", "Kwok Wai", "Man Kit",
    "Yuk Lan", "Sai Kit", "Mei Ling", "Chun Hung", "Ho Yin", "Wai Lun",
)
# fmt: on
ENGLISH = ("Peter", "Mary", "Tony", "Kelvin", "Winnie", "Eric", "Ivan", "Joyce", "Alan", "Karen")
FOREIGN = {
    "Pakistan": (("Khan", "Ahmed", "Malik", "Hussain"), ("Imran", "Bilal", "Usman", "Ayesha")),
    "India": (("Singh", "Patel", "Sharma"), ("Rahul", "Amit", "Priya", "Sunil")),
}
WORDS = ("Sun", "Moon", "Fortune", "Wah", "Hing", "Tai", "Kwong", "Lung", "Fook", "Ocean", "Sky", "Eagle")
KINDS = (("Trading", "Trading"), ("International", "Intl"), ("Shipping", "Shipping"), ("Garment", "Garment"))
AREAS = ("Kowloon", "Hong Kong", "New Territories")
COMMODITY_RATES = {
    "drugs": 2.0,
    "illicit_cigarettes": 2.5,
    "endangered_species": 1.0,
    "counterfeit_goods": 3.0,
}
ORIGINS = {
    "drugs": ("Pakistan", "India", "Brazil", "Thailand"),
    "illicit_cigarettes": ("Vietnam", "Indonesia", "Mainland China"),
    "endangered_species": ("Kenya", "Tanzania", "Cameroon"),
    "counterfeit_goods": ("Mainland China", "Korea"),
}
METHODS = {
    "air_cargo": "HKIA Cargo",
    "air_passenger": "HKIA Arrivals",
    "sea_container": "Kwai Tsing Terminals",
    "land_vehicle": "Heung Yuen Wai Control Point",
    "postal": "International Mail Centre",
}


class _World:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.r = random.Random(seed * 7919 + 17)
        self.people: dict[str, dict[str, Any]] = {}
        self.firms: dict[str, dict[str, Any]] = {}
        self.places: dict[str, tuple[str, ...]] = {}
        self.cases: dict[str, Case] = {}
        self.records: list[SimRecord] = []
        self.truth: dict[str, str] = {}
        self.links: list[PlantedLink] = []
        self.anomalies: list[PlantedAnomaly] = []

    def place(self) -> str:
        key = f"alt-addr-{len(self.places)}"
        r = self.r
        self.places[key] = (
            str(r.randint(1, 40)),
            r.choice("ABCDEF"),
            r.choice(("Kam Wah", "Hoi Tak", "Yee On", "Lai Chi")),
            str(r.randint(1, 200)),
            r.choice(("Portland", "Fa Yuen", "Yen Chow", "Kweilin", "Fuk Wing")),
            r.choice(AREAS),
        )
        return key

    def person(self, origin: str) -> str:
        r = self.r
        key = f"alt-person-{len(self.people)}"
        if origin in FOREIGN and r.random() < 0.6:
            kind, surname, given = "foreign", r.choice(FOREIGN[origin][0]), r.choice(FOREIGN[origin][1])
        elif origin == "Mainland China" or r.random() < 0.3:
            kind, surname, given = "mainland", r.choice(list(PINYIN_WG)), r.choice(list(GIVEN_WG))
        else:
            kind, surname, given = "hk", r.choice(HK_SURNAMES), r.choice(HK_GIVEN)
        born = dt.date(1955, 1, 1) + dt.timedelta(days=r.randint(0, 45 * 365))
        phone = f"{r.choice('5679')}{r.randint(0, 9999999):07d}"
        english = r.choice(ENGLISH) if kind == "hk" and r.random() < 0.5 else ""
        self.people[key] = {
            "kind": kind,
            "surname": surname,
            "given": given,
            "english": english,
            "born": born,
            "phone": phone,
            "home": self.place(),
        }
        return key

    def firm(self, home: str = "") -> str:
        r = self.r
        key = f"alt-firm-{len(self.firms)}"
        self.firms[key] = {
            "words": r.sample(WORDS, 2),
            "kind": r.choice(KINDS),
            "hk": r.random() < 0.4,
            "home": home or self.place(),
            "phone": f"2{r.randint(0, 9999999):07d}",
        }
        return key

    # -- spellings

    def name_of(self, key: str, noisy: bool) -> str:
        p, r = self.people[key], self.r
        surname, given = p["surname"], p["given"]
        if p["kind"] == "mainland" and noisy and r.random() < 0.5:
            surname, given = PINYIN_WG[surname], GIVEN_WG[given]
        if not noisy:
            return f"{surname.upper()} {given}" if p["kind"] != "foreign" else f"{given} {surname}"
        pick = r.random()
        if p["english"] and pick < 0.4:
            name = r.choice(
                (f"{p['english']} {surname} {given}", f"{surname.upper()}, {given} {p['english']}")
            )
        elif pick < 0.55 and p["kind"] != "foreign":
            initials = ".".join(w[0] for w in given.replace("-", " ").split()) + "."
            name = f"{surname} {initials}"
        elif pick < 0.8:
            name = f"{given} {surname}"
        else:
            name = f"{surname} {given.replace(' ', '')}"
        if r.random() < 0.2:  # two letters swapped
            i = r.randrange(1, max(2, len(name) - 2))
            name = (
                name[:i] + name[i + 1] + name[i] + name[i + 2 :]
                if name[i].isalpha() and name[i + 1].isalpha()
                else name
            )
        return name

    def firm_name(self, key: str, noisy: bool) -> str:
        f, r = self.firms[key], self.r
        long_kind, short_kind = f["kind"]
        words = " & ".join(f["words"]) if noisy and r.random() < 0.3 else " ".join(f["words"])
        kind = short_kind if noisy and r.random() < 0.5 else long_kind
        front = "Hong Kong " if f["hk"] and (not noisy or r.random() < 0.5) else ""
        form = r.choice(("Co., Limited", "(H.K.) Co. Ltd", "Company Limited")) if noisy else "Company Limited"
        return f"{front}{words} {kind} {form}"

    def address_text(self, key: str) -> str:
        floor, flat, building, number, street, area = self.places[key]
        if self.r.random() < 0.5:
            return f"Flat {flat}, {floor}/F, {building} Mansion, No. {number} {street} Street, {area}"
        return f"{floor}{flat} {building} Mansion, {number} {street} St., {area}"

    def phone_text(self, phone: str) -> str:
        return self.r.choice(
            (f"00852-{phone[:4]}-{phone[4:]}", f"+852-{phone}", f"{phone[:4]} {phone[4:]}", phone)
        )

    def born_text(self, born: dt.date) -> str:
        return self.r.choice((born.strftime("%d/%m/%Y"), born.strftime("%d %b %Y"), born.isoformat()))

    # -- entities in a record

    def mention(
        self, record: str, items: list[dict[str, Any]], truth: str, schema: str, props: dict[str, list[str]]
    ) -> str:
        mention_id = f"{record}/e{len(items)}"
        items.append({"id": mention_id, "schema": schema, "properties": props})
        self.truth[mention_id] = truth
        return mention_id

    def person_mention(
        self, record: str, items: list[dict[str, Any]], key: str, official: bool, phone: str = ""
    ) -> str:
        p = self.people[key]
        props = {"name": [self.name_of(key, noisy=not official or self.r.random() < 0.15)]}
        if official:
            props["birthDate"] = [self.born_text(p["born"])]
            home = self.mention(record, items, p["home"], "Address", {"full": [self.address_text(p["home"])]})
            props["addressEntity"] = [home]
        if official or phone:
            props["phone"] = [self.phone_text(phone or p["phone"])]
        return self.mention(record, items, key, "Person", props)

    def firm_mention(self, record: str, items: list[dict[str, Any]], key: str, official: bool) -> None:
        f = self.firms[key]
        props = {"name": [self.firm_name(key, noisy=not official)]}
        if official:
            props["addressEntity"] = [
                self.mention(record, items, f["home"], "Address", {"full": [self.address_text(f["home"])]})
            ]
            props["phone"] = [self.phone_text(f["phone"])]
        self.mention(record, items, key, "Company", props)

    def add(self, record: str, kind: str, fields: dict[str, str], items: list[dict[str, Any]]) -> None:
        body = json.dumps(items, ensure_ascii=False)
        if kind == "social_post" and self.r.random() < 0.02:
            body = body[: len(body) // 2]  # a truncated export: malformed, skipped by the reader
        self.records.append(SimRecord(record, kind, {**fields, "entities": body}))


def generate(seed: int, weeks: int = WEEKS) -> Scenario:
    w = _World(seed)
    r = w.r
    gangs = []
    for _ in range(10):
        commodity = r.choice(list(COMMODITY_RATES))
        origin = r.choice(ORIGINS[commodity])
        people = [w.person(origin) for _ in range(3)]
        burner = f"6{r.randint(0, 9999999):07d}"
        gangs.append(_Gang(commodity, origin, people, w.firm(), burner, set(r.sample(range(weeks), 5))))
    ramp_start, burst_week, shift_start = r.randint(55, 80), r.randint(55, 95), r.randint(55, 90)
    new_origin = r.choice(("Sri Lanka", "Bangladesh", "Ghana"))
    burst = (r.choice(("drugs", "endangered_species")), r.choice(("air_cargo", "air_passenger")))
    shift = (r.choice(("counterfeit_goods", "drugs")), "postal")
    w.anomalies += [
        PlantedAnomaly(
            "new_route", "route", "illicit_cigarettes", f"{new_origin} > Hong Kong", ramp_start, weeks - 1
        ),
        PlantedAnomaly("spike", "place", burst[0], METHODS[burst[1]], burst_week, burst_week),
        PlantedAnomaly("method_shift", "method", shift[0], "postal", shift_start, shift_start + 5),
    ]
    for week in range(weeks):
        plan: list[tuple[str, str, str, str]] = []  # commodity, origin, method, planted
        for commodity, rate in COMMODITY_RATES.items():
            season = 1 + 0.3 * math.sin(2 * math.pi * (week % 52 - 13) / 52)  # a summer peak
            for _ in range(_poisson(r, rate * season)):
                plan.append((commodity, r.choice(ORIGINS[commodity]), r.choice(list(METHODS)), ""))
        if week >= ramp_start:
            plan += [("illicit_cigarettes", new_origin, "sea_container", "new_route")] * (
                1 + (week - ramp_start) // 2
            )
        if week == burst_week:
            plan += [(burst[0], r.choice(ORIGINS[burst[0]]), burst[1], "spike")] * r.randint(6, 9)
        if shift_start <= week <= shift_start + 5:
            plan += [(shift[0], r.choice(ORIGINS[shift[0]]), shift[1], "method_shift")] * r.randint(2, 4)
        for commodity, origin, method, planted in plan:
            _case(
                w,
                week,
                commodity,
                origin,
                method,
                planted,
                [w.person(origin)],
                [w.firm()] if r.random() < 0.3 else [],
                "",
            )
        for gang in gangs:
            if week in gang.weeks:
                crew = r.sample(gang.people, 2)
                _case(
                    w,
                    week,
                    gang.commodity,
                    gang.origin,
                    r.choice(list(METHODS)),
                    "",
                    crew,
                    [gang.firm],
                    gang.burner,
                )
    _plant(w)
    for gang in gangs:
        ids = sorted(c.case_id for c in w.cases.values() if gang.firm in c.companies)
        w.links += [PlantedLink("syndicate", a, b) for a, b in itertools.pairwise(ids)]
        for week in sorted(gang.weeks)[:2]:
            key = r.choice(gang.people)
            record = f"alt-post-{seed}-{len(w.records)}"
            items: list[dict[str, Any]] = []
            w.person_mention(record, items, key, official=False, phone=gang.burner)
            day = week_start(week) + dt.timedelta(days=r.randint(0, 6))
            w.add(
                record,
                "social_post",
                {"date": day.isoformat(), "text": "PM for price", "platform": "Board C"},
                items,
            )
    w.records.sort(key=lambda rec: rec.fields["date"])
    return Scenario(w.records, w.truth, w.cases, w.links, w.anomalies, weeks)


@dataclass
class _Gang:
    commodity: str
    origin: str
    people: list[str]
    firm: str
    burner: str
    weeks: set[int]


def _poisson(r: random.Random, rate: float) -> int:
    limit, product, count = math.exp(-rate), r.random(), 0
    while product > limit:
        product *= r.random()
        count += 1
    return count


def _case(
    w: _World,
    week: int,
    commodity: str,
    origin: str,
    method: str,
    planted: str,
    people: list[str],
    firms: list[str],
    burner: str,
) -> None:
    r = w.r
    case_id = f"ALT{w.seed}-{len(w.cases) + 1:05d}"
    day = week_start(week) + dt.timedelta(days=r.randint(0, 6))
    case = Case(
        case_id,
        week,
        day.isoformat(),
        commodity,
        f"{origin} > Hong Kong",
        method,
        METHODS[method],
        f"{r.randint(1, 900)} units",
        list(people),
        list(firms),
        [],
        {},
        planted,
    )
    w.cases[case_id] = case
    items: list[dict[str, Any]] = []
    for n, key in enumerate(people):
        w.person_mention(case_id, items, key, official=True, phone=burner if n == 0 and burner else "")
    for key in firms:
        w.firm_mention(case_id, items, key, official=True)
    fields = {
        "case_id": case_id,
        "date": day.isoformat(),
        "commodity": commodity,
        "route": case.route,
        "method": method,
        "place": case.place,
        "quantity": case.quantity,
    }
    w.add(case_id, "case_record", fields, items)
    if r.random() < 0.25:
        record = f"alt-news-{w.seed}-{len(w.records)}"
        news: list[dict[str, Any]] = []
        for key in people[:1]:
            w.person_mention(record, news, key, official=False)
        for key in firms:
            w.firm_mention(record, news, key, official=False)
        published = day + dt.timedelta(days=r.randint(1, 5))
        w.add(
            record,
            "news_item",
            {"date": published.isoformat(), "title": f"{commodity} seized at {case.place}"},
            news,
        )


def _plant(w: _World) -> None:
    r = w.r
    singles = [c for c in w.cases.values() if len(c.persons) == 1 and not c.planted]
    a, b = r.sample(singles, 2)  # two strangers at one address (a rented room used as a drop)
    w.people[b.persons[0]]["home"] = w.people[a.persons[0]]["home"]
    w.links.append(PlantedLink("shared_address", a.case_id, b.case_id))
    c, d = r.sample([x for x in singles if x not in (a, b)], 2)  # one phone, two names
    w.people[d.persons[0]]["phone"] = w.people[c.persons[0]]["phone"]
    w.links.append(PlantedLink("shared_phone", c.case_id, d.case_id))
    for case in r.sample([x for x in singles if x not in (a, b, c, d)], 3):
        record = f"alt-post-{w.seed}-x{len(w.records)}"
        items: list[dict[str, Any]] = []
        w.person_mention(record, items, case.persons[0], official=False)
        day = dt.date.fromisoformat(case.date) + dt.timedelta(days=r.randint(20, 120))
        w.add(
            record,
            "social_post",
            {"date": day.isoformat(), "text": "seen him again", "platform": "Board D"},
            items,
        )
        w.links.append(PlantedLink("person_across_sources", case.case_id, record))
    # records of the planted cases are written after the plants: rebuild them with the shared details
    planted_ids = {a.case_id, b.case_id, c.case_id, d.case_id}
    w.records = [rec for rec in w.records if rec.record_id not in planted_ids]
    for case in (a, b, c, d):
        written: list[dict[str, Any]] = []
        w.person_mention(case.case_id, written, case.persons[0], official=True)
        for key in case.companies:
            w.firm_mention(case.case_id, written, key, official=True)
        fields = {
            "case_id": case.case_id,
            "date": case.date,
            "commodity": case.commodity,
            "route": case.route,
            "method": case.method,
            "place": case.place,
            "quantity": case.quantity,
        }
        w.add(case.case_id, "case_record", fields, written)
