"""Simulated customs cases, seizures and the posts and news about them, with their truth kept beside.

Two years of weekly cases (drugs, illicit cigarettes, endangered species, counterfeit goods), each
with a route, method, place and date, and the people, companies, vehicles, phones and addresses
behind them. Three kinds of record come out, as the crime-analytics plugin reads them:

- ``case_record``: the customs case file (clean names, dates of birth, phones as keyed in);
- ``news_item``: an online news story about a case (names as the paper spelt them, ages not dates);
- ``social_post``: a post by or about a syndicate member (nicknames aside: name variants, phones in
  any format).

Every record carries its entities in the ``entities`` field as FollowTheMoney-shaped JSON
(``{"id", "schema", "properties"}``: ``Person``, ``Company``, ``Address``, ``Vehicle``), and the truth
(which real entity each mention is) is kept in ``Scenario.truth``, never in the record.

Planted: syndicates that run several cases with the same people, phones and vehicles; a burner phone
shared by two unrelated people in two cases; two shell companies at one address; a person named in a
case file and, under a spelling variant or the other romanisation, in the news and a post. Planted
anomalies: a new route for illicit cigarettes from week ``W``, a spike of one commodity at one
place, and a drop: drugs' one-off cases nearly vanish for ``DROP_LENGTH_WEEKS`` weeks (an upstream
crackdown moves the trade elsewhere; the syndicates' cases go on). Seeds below 1000 tune, 1000 and
above evaluate; ``cases_alt`` is a second generator written apart (other variants, noise and anomaly
shapes) that nothing is tuned on.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "COMMODITIES",
    "CaseSimulator",
    "PlantedAnomaly",
    "PlantedLink",
    "Scenario",
    "SimRecord",
    "week_start",
]

START = dt.date(2025, 1, 6)  # a Monday: week 0
WEEKS = 104
COMMODITIES = ("drugs", "illicit_cigarettes", "endangered_species", "counterfeit_goods")
PLACE_OF_METHOD = {
    "air_cargo": ("Hong Kong International Airport",),
    "air_passenger": ("Hong Kong International Airport",),
    "sea_container": ("Kwai Chung Container Terminal", "Tuen Mun River Trade Terminal"),
    "land_vehicle": ("Lok Ma Chau Control Point", "Shenzhen Bay Control Point"),
    "postal": ("Air Mail Centre",),
}
# weekly rate, routes (origin: weight) and methods (method: weight) of each commodity
PROFILE: dict[str, tuple[float, dict[str, float], dict[str, float]]] = {
    "drugs": (
        3.0,
        {"Thailand": 3, "Malaysia": 2, "Mexico": 1, "Canada": 1, "Netherlands": 1},
        {"air_passenger": 3, "air_cargo": 2, "postal": 2, "sea_container": 1},
    ),
    "illicit_cigarettes": (
        3.5,
        {"Vietnam": 4, "Mainland China": 3, "Korea": 1, "Japan": 1},
        {"sea_container": 3, "land_vehicle": 3, "air_passenger": 1},
    ),
    "endangered_species": (
        1.5,
        {"Nigeria": 2, "South Africa": 2, "Madagascar": 1, "Indonesia": 1},
        {"air_cargo": 3, "air_passenger": 2, "sea_container": 1},
    ),
    "counterfeit_goods": (
        2.5,
        {"Mainland China": 5, "Turkey": 1, "Thailand": 1},
        {"land_vehicle": 3, "postal": 2, "air_cargo": 2, "sea_container": 1},
    ),
}
NEW_ROUTE_ORIGINS = ("Cambodia", "Laos", "Philippines", "Myanmar")
DROP_COMMODITY = "drugs"  # the busiest commodity: the only kind of series a 4-week drop can be rare in
DROP_LENGTH_WEEKS = 8
DROP_KEPT = 0.05  # share of the commodity's one-off cases left in the drop's weeks
DEST = "Hong Kong"
# Cantonese romanisation with the Mandarin (pinyin) form of each surname and syllable
# fmt: off
SURNAMES = {
    "Chan": "Chen", "Wong": "Huang", "Lee": "Li", "Cheung": "Zhang", "Lau": "Liu", "Ng": "Wu",
    "Leung": "Liang", "Lam": "Lin", "Ho": "He", "Tsang": "Zeng", "Yip": "Ye", "Kwok": "Guo", "Tang": "Deng",
    "Cheng": "Zheng", "Chow": "Zhou", "Tse": "Xie", "Fung": "Feng", "Mak": "Mai", "Choi": "Cai", "Lo": "Lu",
    "Yeung": "Yang", "Wu": "Hu", "Poon": "Pan", "Siu": "Xiao",
}
# fmt: on
# fmt: off
SYLLABLES = {
    "Tai": "Da", "Man": "Wen", "Wing": "Yong", "Kwok": "Guo", "Ming": "Ming", "Chi": "Zhi", "Ho": "Hao",
    "Ka": "Jia", "Wai": "Wei", "Yan": "Xin", "Kin": "Jian", "Fai": "Hui", "Hung": "Xiong", "Siu": "Xiao",
    "Chun": "Zhen", "Lok": "Le", "Mei": "Mei", "Ling": "Ling", "Kit": "Jie", "Sze": "Shi", "Pui": "Pei",
    "Hoi": "Kai", "Shing": "Cheng", "Tak": "De", "Yiu": "Yao", "Kei": "Qi", "Fung": "Feng", "Hang": "Heng",
    "Sum": "Sen", "Yuk": "Yu", "Wah": "Hua", "Keung": "Qiang", "Kwan": "Jun", "Cheuk": "Zhuo",
    "Tin": "Tian", "Yat": "Yi", "Sai": "Xi", "Hin": "Xuan", "Lai": "Li", "Kam": "Jin", "Chung": "Zhong",
    "Pak": "Bai", "Sing": "Sheng", "Yee": "Yi", "Ching": "Jing", "Kwai": "Gui", "Nam": "Nan", "Bo": "Bao",
}
# fmt: on
OTHER_NAMES = {
    "Vietnam": (
        ["Nguyen", "Tran", "Le", "Pham", "Hoang", "Vu", "Dang", "Bui", "Do", "Ngo"],
        [
            "Van An",
            "Thi Hoa",
            "Minh Tuan",
            "Duc Anh",
            "Van Hung",
            "Thi Lan",
            "Quoc Bao",
            "Thanh Son",
            "Huu Phuoc",
            "Thi Mai",
            "Van Long",
            "Hong Nhung",
        ],
    ),
    "Thailand": (
        ["Srisuk", "Chaiyaporn", "Wongsawat", "Boonmee", "Saetang", "Rattanakorn", "Thongdee"],
        ["Somchai", "Anan", "Kanya", "Niran", "Prasert", "Malee", "Sakda", "Wichai", "Ratana"],
    ),
    "Nigeria": (
        ["Okafor", "Adeyemi", "Eze", "Okonkwo", "Balogun", "Nwosu", "Ibrahim", "Okeke"],
        ["Chukwuemeka", "Oluwaseun", "Ngozi", "Ifeanyi", "Babatunde", "Chiamaka", "Emeka", "Funmilayo"],
    ),
}
# fmt: off
NAME_WITH_ACCENTS = {
    "Nguyen": "Nguyễn", "Tran": "Trần", "Le": "Lê", "Pham": "Phạm", "Hoang": "Hoàng", "Vu": "Vũ",
    "Dang": "Đặng", "Bui": "Bùi", "Do": "Đỗ", "Ngo": "Ngô", "Van An": "Văn An", "Thi Hoa": "Thị Hoa",
    "Minh Tuan": "Minh Tuấn", "Duc Anh": "Đức Anh", "Van Hung": "Văn Hùng", "Thi Lan": "Thị Lan",
    "Quoc Bao": "Quốc Bảo", "Thanh Son": "Thanh Sơn", "Huu Phuoc": "Hữu Phước", "Thi Mai": "Thị Mai",
}
# fmt: on
# fmt: off
COMPANY_WORDS = (
    "Golden", "Dragon", "Ocean", "Pearl", "Harbour", "Fortune", "Star", "Union", "Pacific", "Orient",
    "Glory", "Lucky", "Prosper", "Jade", "Phoenix", "Silver", "Grand", "Bright", "Rich", "Wealth",
)
# fmt: on
COMPANY_KINDS = ("Trading", "Logistics", "Import Export", "Freight", "Enterprise", "Holdings")
COMPANY_FORMS = ("Company Limited", "Co. Ltd.", "Limited", "Ltd", "(HK) Limited")
# fmt: off
STREETS = (
    "Nathan", "Canton", "Hennessy", "Des Voeux", "Castle Peak", "Tai Po", "Ma Tau Wai", "Shanghai",
    "Reclamation", "Tung Chau", "Kwai Fung", "Sha Tsui",
)
# fmt: on
DISTRICTS = ("Mong Kok", "Sham Shui Po", "Kwun Tong", "Tsuen Wan", "Yuen Long", "Wan Chai", "Kwai Chung")
# fmt: off
BUILDINGS = (
    "Wing On", "Sun Hing", "Po Yip", "Kam Fung", "Tak Lee", "Hoi Kwong", "Yue Fung", "Man Shing",
)
# fmt: on


def week_start(week: int) -> dt.date:
    return START + dt.timedelta(days=7 * week)


# ---------------------------------------------------------------- the world's true entities


@dataclass
class TruePerson:
    entity_id: str
    surname: str
    given: tuple[str, ...]
    chinese: bool
    birth_date: str
    nationality: str
    phone: str
    address: str  # entity id

    @property
    def name(self) -> str:
        return f"{self.surname} {' '.join(self.given)}"


@dataclass
class TrueCompany:
    entity_id: str
    words: tuple[str, ...]
    form: str
    address: str
    phone: str


@dataclass
class TrueAddress:
    entity_id: str
    flat: str
    floor: int
    building: str
    number: int
    street: str
    district: str


@dataclass
class TrueVehicle:
    entity_id: str
    plate: str


@dataclass
class Case:
    case_id: str
    week: int
    date: str
    commodity: str
    route: str
    method: str
    place: str
    quantity: str
    persons: list[str] = field(default_factory=list)
    companies: list[str] = field(default_factory=list)
    vehicles: list[str] = field(default_factory=list)
    phones: dict[str, str] = field(default_factory=dict)  # person id -> the phone they used in the case
    planted: str = ""  # the planted anomaly this case belongs to ("new_route", "spike"), if any


@dataclass(frozen=True)
class SimRecord:
    """One record as the connectors hand it over: its id, kind and string fields."""

    record_id: str
    kind: str
    fields: dict[str, str]


@dataclass(frozen=True)
class PlantedLink:
    """Two records an officer should find linked, and through what."""

    kind: str  # "shared_phone", "shared_address", "person_across_sources", "syndicate"
    a: str
    b: str


@dataclass(frozen=True)
class PlantedAnomaly:
    """A series (``dimension``, commodity, value) that leaves its band from ``start_week``."""

    kind: str  # "new_route", "spike", "drop"
    dimension: str  # "route", "place", ..., or "commodity" (the commodity's own series; value "")
    commodity: str
    value: str
    start_week: int
    end_week: int


@dataclass
class Scenario:
    records: list[SimRecord]
    truth: dict[str, str]  # mention id -> true entity id
    cases: dict[str, Case]
    links: list[PlantedLink]
    anomalies: list[PlantedAnomaly]
    weeks: int = WEEKS


# ---------------------------------------------------------------- the generator


class CaseSimulator:
    """Cases, posts and news of one simulated world; the same seed gives the same world."""

    def __init__(self, seed: int, weeks: int = WEEKS, rate_scale: float = 1.0) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.weeks = weeks
        self.rate_scale = rate_scale
        self.persons: dict[str, TruePerson] = {}
        self.companies: dict[str, TrueCompany] = {}
        self.addresses: dict[str, TrueAddress] = {}
        self.vehicles: dict[str, TrueVehicle] = {}
        self.cases: dict[str, Case] = {}
        self.records: list[SimRecord] = []
        self.truth: dict[str, str] = {}
        self.links: list[PlantedLink] = []
        self.anomalies: list[PlantedAnomaly] = []
        self._syndicate_cases: set[str] = set()

    # -- world

    def new_address(self) -> str:
        r = self.rng
        aid = f"A{len(self.addresses):05d}"
        self.addresses[aid] = TrueAddress(
            aid,
            r.choice("ABCDEFGH"),
            r.randint(1, 30),
            r.choice(BUILDINGS),
            r.randint(1, 400),
            r.choice(STREETS),
            r.choice(DISTRICTS),
        )
        return aid

    def new_phone(self) -> str:
        return f"{self.rng.choice('569')}{self.rng.randint(0, 9999999):07d}"

    def new_person(self, origin: str = "") -> str:
        r = self.rng
        pid = f"P{len(self.persons):05d}"
        given: tuple[str, ...]
        if origin in OTHER_NAMES and r.random() < 0.7:
            surnames, givens = OTHER_NAMES[origin]
            surname, given, chinese, nationality = r.choice(surnames), (r.choice(givens),), False, origin
        else:
            weights = [1.0 / (4 + n) for n in range(len(SURNAMES))]  # Chan is common, Siu is rare
            surname = r.choices(list(SURNAMES), weights)[0]
            given = tuple(r.sample(list(SYLLABLES), 2))
            chinese, nationality = True, r.choice(("Hong Kong", "Hong Kong", "Mainland China"))
        born = dt.date(1960, 1, 1) + dt.timedelta(days=r.randint(0, 40 * 365))
        self.persons[pid] = TruePerson(
            pid, surname, given, chinese, born.isoformat(), nationality, self.new_phone(), self.new_address()
        )
        return pid

    def new_company(self, address: str = "") -> str:
        r = self.rng
        cid = f"C{len(self.companies):05d}"
        words = (*r.sample(COMPANY_WORDS, 2), r.choice(COMPANY_KINDS))
        self.companies[cid] = TrueCompany(
            cid, words, r.choice(COMPANY_FORMS), address or self.new_address(), self.new_phone()
        )
        return cid

    def new_vehicle(self) -> str:
        vid = f"V{len(self.vehicles):05d}"
        letters = "".join(self.rng.choices("ABCDEFGHJKLMNPRSTUVWXYZ", k=2))
        self.vehicles[vid] = TrueVehicle(vid, f"{letters} {self.rng.randint(1, 9999)}")
        return vid

    # -- cases over time

    def _rate(self, commodity: str, week: int) -> float:
        base = PROFILE[commodity][0] * self.rate_scale
        # seasons: cigarettes and counterfeits before Lunar New Year (late January), a summer lull
        import math

        season = 1.0 + 0.25 * math.cos(2 * math.pi * (week % 52 - 3) / 52)
        return base * season

    def _poisson(self, rate: float) -> int:
        count, total = 0, self.rng.expovariate(1.0)
        while total < rate:
            count += 1
            total += self.rng.expovariate(1.0)
        return count

    def _new_case(
        self, week: int, commodity: str, origin: str = "", method: str = "", place: str = ""
    ) -> Case:
        r = self.rng
        _, routes, methods = PROFILE[commodity]
        origin = origin or r.choices(list(routes), list(routes.values()))[0]
        method = method or r.choices(list(methods), list(methods.values()))[0]
        place = place or r.choice(PLACE_OF_METHOD[method])
        day = week_start(week) + dt.timedelta(days=r.randint(0, 6))
        unit = {"drugs": "kg", "illicit_cigarettes": "sticks", "endangered_species": "kg"}.get(
            commodity, "items"
        )
        amount = r.randint(1, 60) * (100_000 if unit == "sticks" else 1)
        case = Case(
            f"CR-{self.seed % 10000:04d}-{len(self.cases) + 1:05d}",
            week,
            day.isoformat(),
            commodity,
            f"{origin} > {DEST}",
            method,
            place,
            f"{amount} {unit}",
        )
        self.cases[case.case_id] = case
        return case

    def _anomalies(self) -> dict[int, list[tuple[str, str, str, str, str]]]:
        """Extra cases per week: (commodity, origin, method, place, anomaly) of the planted anomalies."""
        r = self.rng
        extra: dict[int, list[tuple[str, str, str, str, str]]] = {}
        w_route = r.randint(60, 85)
        origin = r.choice(NEW_ROUTE_ORIGINS)
        self.anomalies.append(
            PlantedAnomaly(
                "new_route", "route", "illicit_cigarettes", f"{origin} > {DEST}", w_route, self.weeks - 1
            )
        )
        for week in range(w_route, self.weeks):
            for _ in range(max(1, self._poisson(2.0))):
                extra.setdefault(week, []).append(
                    ("illicit_cigarettes", origin, "sea_container", "", "new_route")
                )
        commodity = r.choice(("drugs", "endangered_species", "counterfeit_goods"))
        methods = PROFILE[commodity][2]
        method = r.choice(list(methods))
        place = r.choice(PLACE_OF_METHOD[method])
        w_spike = r.randint(60, 95)
        self.anomalies.append(PlantedAnomaly("spike", "place", commodity, place, w_spike, w_spike + 2))
        for week in range(w_spike, w_spike + 3):
            for _ in range(r.randint(5, 8)):
                extra.setdefault(week, []).append((commodity, "", method, place, "spike"))
        return extra

    def _plant_drop(self) -> None:
        """Drugs' one-off cases of ``DROP_LENGTH_WEEKS`` weeks of the second year, all but a few taken
        out (a random generator of its own), away from a drugs spike and the weeks after it."""
        r = random.Random(self.seed * 7 + 3)
        spike = next(a for a in self.anomalies if a.kind == "spike")
        busy = set(
            range(spike.start_week - 4, spike.end_week + 16) if spike.commodity == DROP_COMMODITY else ()
        )
        starts = [
            w
            for w in range(56, self.weeks - DROP_LENGTH_WEEKS)
            if not busy & set(range(w, w + DROP_LENGTH_WEEKS))
        ]
        start = r.choice(starts)
        end = start + DROP_LENGTH_WEEKS - 1
        self.anomalies.append(PlantedAnomaly("drop", "commodity", DROP_COMMODITY, "", start, end))
        for case_id, case in list(self.cases.items()):
            one_off = not case.planted and case.case_id not in self._syndicate_cases
            in_drop = case.commodity == DROP_COMMODITY and start <= case.week <= end and one_off
            if in_drop and r.random() >= DROP_KEPT:
                del self.cases[case_id]

    def _syndicates(self, count: int) -> list[dict[str, Any]]:
        r = self.rng
        syndicates = []
        for _ in range(count):
            commodity = r.choice(COMMODITIES)
            origin = r.choice(list(PROFILE[commodity][1]))
            members = [self.new_person(origin) for _ in range(r.randint(2, 4))]
            shared_phone = self.new_phone()
            companies = [self.new_company() for _ in range(r.randint(0, 2))]
            syndicates.append(
                {
                    "commodity": commodity,
                    "members": members,
                    "phone": shared_phone,
                    "companies": companies,
                    "vehicle": self.new_vehicle(),
                    "weeks": sorted(r.sample(range(self.weeks), r.randint(3, 7))),
                }
            )
        return syndicates

    def generate(self) -> Scenario:
        r = self.rng
        extra = self._anomalies()
        syndicates = self._syndicates(max(4, int(14 * self.rate_scale)))
        by_week: dict[int, list[dict[str, Any]]] = {}
        for syndicate in syndicates:
            for week in syndicate["weeks"]:
                by_week.setdefault(week, []).append(syndicate)
        for week in range(self.weeks):
            for commodity in COMMODITIES:
                for _ in range(self._poisson(self._rate(commodity, week))):
                    self._one_off_case(week, commodity)
            for commodity, origin, method, place, anomaly in extra.get(week, []):
                case = self._new_case(week, commodity, origin, method, place)
                case.planted = anomaly
                self._staff(case, [self.new_person(origin)], [], [])
            for syndicate in by_week.get(week, []):
                case = self._new_case(week, syndicate["commodity"])
                self._syndicate_cases.add(case.case_id)
                members = r.sample(syndicate["members"], min(len(syndicate["members"]), r.randint(1, 3)))
                vehicles = [syndicate["vehicle"]] if case.method == "land_vehicle" else []
                self._staff(case, members, syndicate["companies"][:1], vehicles)
                if r.random() < 0.5:
                    case.phones[members[0]] = syndicate["phone"]
        if self.weeks > 56 + DROP_LENGTH_WEEKS:
            self._plant_drop()
        self._plant_shared_phone()
        self._plant_shared_address()
        for case in self.cases.values():
            self._case_record(case)
            if r.random() < 0.3:
                self._news(case)
        self._posts(syndicates)
        self._plant_person_across_sources()
        self._syndicate_links(syndicates)
        self.records.sort(key=lambda rec: rec.fields["date"])
        return Scenario(self.records, self.truth, self.cases, self.links, self.anomalies, self.weeks)

    def _one_off_case(self, week: int, commodity: str) -> Case:
        case = self._new_case(week, commodity)
        origin = case.route.split(" > ")[0]
        persons = [self.new_person(origin) for _ in range(self.rng.choice((1, 1, 1, 2)))]
        companies = [self.new_company()] if self.rng.random() < 0.35 else []
        vehicles = [self.new_vehicle()] if case.method == "land_vehicle" else []
        self._staff(case, persons, companies, vehicles)
        return case

    def _staff(self, case: Case, persons: list[str], companies: list[str], vehicles: list[str]) -> None:
        case.persons += persons
        case.companies += companies
        case.vehicles += vehicles

    def _plant_shared_phone(self) -> None:
        """One burner phone used by two different people in two unrelated cases."""
        a, b = self.rng.sample([c for c in self.cases.values() if len(c.persons) == 1], 2)
        phone = self.new_phone()
        a.phones[a.persons[0]] = phone
        b.phones[b.persons[0]] = phone
        self.links.append(PlantedLink("shared_phone", a.case_id, b.case_id))

    def _plant_shared_address(self) -> None:
        """Two shell companies registered at one address, each the consignee in another case."""
        address = self.new_address()
        pair = self.rng.sample([c for c in self.cases.values() if not c.companies], 2)
        for case in pair:
            case.companies.append(self.new_company(address))
        self.links.append(PlantedLink("shared_address", pair[0].case_id, pair[1].case_id))

    def _plant_person_across_sources(self) -> None:
        """A person of a case file named again, spelt otherwise, in a news story about another event."""
        r = self.rng
        for case in r.sample(list(self.cases.values()), 3):
            person = self.persons[case.persons[0]]
            record_id = f"news-{self.seed % 10000:04d}-x{len(self.records)}"
            mentions = [self._person_mention(record_id, 0, person, "news", force_variant=True)]
            day = dt.date.fromisoformat(case.date) + dt.timedelta(days=r.randint(30, 200))
            self._add_record(
                record_id,
                "news_item",
                {
                    "date": day.isoformat(),
                    "title": f"Court hears smuggling charge against {mentions[0]['properties']['name'][0]}",
                    "source": r.choice(("The Harbour Times", "Pearl Daily", "HK Wire")),
                },
                mentions,
            )
            self.links.append(PlantedLink("person_across_sources", case.case_id, record_id))

    def _syndicate_links(self, syndicates: list[dict[str, Any]]) -> None:
        for syndicate in syndicates:
            ids = [c.case_id for c in self.cases.values() if syndicate["members"][0] in c.persons]
            ids += [c.case_id for c in self.cases.values() if syndicate["vehicle"] in c.vehicles]
            ordered = sorted(set(ids))
            self.links += [PlantedLink("syndicate", a, b) for a, b in itertools.pairwise(ordered)]

    # -- records

    def _add_record(
        self, record_id: str, kind: str, fields: dict[str, str], mentions: list[dict[str, Any]]
    ) -> None:
        fields = {**fields, "entities": json.dumps(mentions, ensure_ascii=False)}
        self.records.append(SimRecord(record_id, kind, fields))

    def _case_record(self, case: Case) -> None:
        mentions: list[dict[str, Any]] = []
        for pid in case.persons:
            person = self.persons[pid]
            mention = self._person_mention(case.case_id, len(mentions), person, "case")
            mention["properties"]["phone"] = [self._phone_text(case.phones.get(pid, person.phone), "case")]
            mentions.append(mention)
            mentions.append(
                self._address_mention(case.case_id, len(mentions), self.addresses[person.address], "case")
            )
            mention["properties"]["addressEntity"] = [mentions[-1]["id"]]
        for cid in case.companies:
            mentions += self._company_mentions(case.case_id, len(mentions), self.companies[cid], "case")
        for vid in case.vehicles:
            mentions.append(self._vehicle_mention(case.case_id, len(mentions), self.vehicles[vid]))
        fields = {
            "case_id": case.case_id,
            "date": case.date,
            "commodity": case.commodity,
            "route": case.route,
            "method": case.method,
            "place": case.place,
            "quantity": case.quantity,
        }
        self._add_record(case.case_id, "case_record", fields, mentions)

    def _news(self, case: Case) -> None:
        r = self.rng
        record_id = f"news-{self.seed % 10000:04d}-{len(self.records)}"
        mentions: list[dict[str, Any]] = []
        for pid in case.persons:
            mention = self._person_mention(record_id, len(mentions), self.persons[pid], "news")
            mention["properties"].pop("birthDate", None)
            mentions.append(mention)
        for cid in case.companies:
            mentions += self._company_mentions(record_id, len(mentions), self.companies[cid], "news")[-1:]
        day = dt.date.fromisoformat(case.date) + dt.timedelta(days=r.randint(0, 3))
        title = f"Customs seize {case.quantity} of {case.commodity.replace('_', ' ')} at {case.place}"
        fields = {
            "date": day.isoformat(),
            "title": title,
            "source": r.choice(("The Harbour Times", "Pearl Daily")),
        }
        self._add_record(record_id, "news_item", fields, mentions)

    def _posts(self, syndicates: list[dict[str, Any]]) -> None:
        r = self.rng
        for syndicate in syndicates:
            for week in syndicate["weeks"][: r.randint(1, 3)]:
                person = self.persons[r.choice(syndicate["members"])]
                record_id = f"post-{self.seed % 10000:04d}-{len(self.records)}"
                mention = self._person_mention(record_id, 0, person, "post")
                mention["properties"].pop("birthDate", None)
                mention["properties"]["phone"] = [self._phone_text(syndicate["phone"], "post")]
                day = week_start(week) + dt.timedelta(days=r.randint(0, 6))
                props = mention["properties"]
                text = f"Good stuff cheap, ask {props['name'][0]}, {props['phone'][0]}"
                fields = {"date": day.isoformat(), "text": text, "platform": r.choice(("Forum A", "Chat B"))}
                self._add_record(record_id, "social_post", fields, [mention])

    # -- mentions and their variants

    def _mention(
        self, record_id: str, n: int, schema: str, entity_id: str, props: dict[str, list[str]]
    ) -> dict[str, Any]:
        mention_id = f"{record_id}#{n}"
        self.truth[mention_id] = entity_id
        return {"id": mention_id, "schema": schema, "properties": props}

    def _person_mention(
        self, record_id: str, n: int, person: TruePerson, source: str, force_variant: bool = False
    ) -> dict[str, Any]:
        name = self._person_name(person, source, force_variant)
        props = {"name": [name], "birthDate": [person.birth_date], "nationality": [person.nationality]}
        return self._mention(record_id, n, "Person", person.entity_id, props)

    def _person_name(self, person: TruePerson, source: str, force_variant: bool) -> str:
        r = self.rng
        variant_p = {"case": 0.25, "news": 0.7, "post": 0.8}[source]
        surname, given = person.surname, list(person.given)
        if not (force_variant or r.random() < variant_p):
            return person.name
        if person.chinese and r.random() < 0.3:  # the other romanisation (a Mainland paper, a passport)
            surname, given = SURNAMES[surname], [SYLLABLES[g] for g in given]
        elif not person.chinese and r.random() < 0.5:
            surname = NAME_WITH_ACCENTS.get(surname, surname)
            given = [NAME_WITH_ACCENTS.get(" ".join(given), " ".join(given))]
        style = r.randrange(5)
        if style == 0:
            name = f"{surname.upper()} {'-'.join([given[0], *[g.lower() for g in given[1:]]])}"
        elif style == 1:
            name = f"{' '.join(given)} {surname}"
        elif style == 2:
            name = f"{surname} {''.join([given[0], *[g.lower() for g in given[1:]]])}"
        elif style == 3:
            name = f"{surname}, {' '.join(given)}"
        else:
            name = f"{surname} {' '.join(given)}".lower()
        if source != "case" and r.random() < 0.15:
            name = _typo(r, name)
        return name

    def _company_mentions(
        self, record_id: str, n: int, company: TrueCompany, source: str
    ) -> list[dict[str, Any]]:
        r = self.rng
        words = list(company.words)
        form = company.form
        if r.random() < (0.3 if source == "case" else 0.6):
            form = r.choice(COMPANY_FORMS)
            if r.random() < 0.3:
                words = [w.upper() for w in words]
        name = f"{' '.join(words)} {form}"
        if source != "case" and r.random() < 0.1:
            name = _typo(r, name)
        address = self._address_mention(record_id, n, self.addresses[company.address], source)
        props = {
            "name": [name],
            "phone": [self._phone_text(company.phone, source)],
            "addressEntity": [address["id"]],
        }
        return [address, self._mention(record_id, n + 1, "Company", company.entity_id, props)]

    def _address_mention(self, record_id: str, n: int, address: TrueAddress, source: str) -> dict[str, Any]:
        r = self.rng
        a = address
        if r.random() < 0.5:
            text = (
                f"Flat {a.flat}, {a.floor}/F, {a.building} Building, {a.number} {a.street} Road, {a.district}"
            )
        else:
            text = f"Rm {a.flat} {a.floor}/F {a.building} Bldg {a.number} {a.street} Rd {a.district}".upper()
        return self._mention(record_id, n, "Address", a.entity_id, {"full": [text]})

    def _vehicle_mention(self, record_id: str, n: int, vehicle: TrueVehicle) -> dict[str, Any]:
        plate = vehicle.plate if self.rng.random() < 0.5 else vehicle.plate.replace(" ", "")
        return self._mention(record_id, n, "Vehicle", vehicle.entity_id, {"registrationNumber": [plate]})

    def _phone_text(self, phone: str, source: str) -> str:
        formats = (
            f"+852 {phone[:4]} {phone[4:]}",
            phone,
            f"{phone[:4]}-{phone[4:]}",
            f"(852) {phone[:4]} {phone[4:]}",
        )
        return formats[0] if source == "case" and self.rng.random() < 0.7 else self.rng.choice(formats)


def _typo(r: random.Random, text: str) -> str:
    """One letter dropped or doubled, inside a word."""
    spots = [i for i in range(1, len(text) - 1) if text[i].isalpha() and text[i - 1].isalpha()]
    if not spots:
        return text
    i = r.choice(spots)
    return text[:i] + text[i + 1 :] if r.random() < 0.5 else text[:i] + text[i] + text[i:]


def generate(seed: int, weeks: int = WEEKS, rate_scale: float = 1.0) -> Scenario:
    """The scenario of ``seed``: records in date order, truth, planted links and anomalies."""
    return CaseSimulator(seed, weeks, rate_scale).generate()


def iter_records(scenario: Scenario, kinds: Sequence[str] = ()) -> Iterator[SimRecord]:
    return (rec for rec in scenario.records if not kinds or rec.kind in kinds)
