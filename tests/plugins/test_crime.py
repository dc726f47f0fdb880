"""crime_analytics on small inputs: normalisation, resolution, the link graph, trends and the plugin."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from smartcustoms.core.plugin import PluginContext
from smartcustoms.core.types import Decision
from smartcustoms.hardware.sim import cases
from smartcustoms.plugins.crime import LABEL, LINK_LABEL, CrimeAnalyticsPlugin
from smartcustoms.plugins.crime.entities import Mention, mentions_of
from smartcustoms.plugins.crime.graph import build_graph
from smartcustoms.plugins.crime.links import MAX_EARLIER_CASES
from smartcustoms.plugins.crime.resolve import (
    ExactNameResolver,
    Resolver,
    address_key,
    date_key,
    name_tokens,
    phone_key,
)
from smartcustoms.plugins.crime.store import StoredRecord
from smartcustoms.plugins.crime.tools.evaluate import evaluate_world
from smartcustoms.plugins.crime.tools.extraction import extraction_counts, text_only
from smartcustoms.plugins.crime.trends import (
    ALPHA,
    DROP_WEEKS,
    FLOOR_RATE,
    band,
    band_bottom,
    band_top,
    drop_band,
    series_of,
    week_of,
)
from smartcustoms.v1 import frame_pb2


def person(mention_id: str, name: str, born: str = "", phone: str = "", record: str = "") -> Mention:
    props: dict[str, tuple[str, ...]] = {"name": (name,)}
    if born:
        props["birthDate"] = (born,)
    if phone:
        props["phone"] = (phone,)
    return Mention(mention_id, "Person", props, record or mention_id)


def test_names_phones_addresses_and_dates_are_normalised() -> None:
    assert name_tokens("CHAN Tai-man", "Person") == ("chan", "tai", "man")
    assert name_tokens("Chen Da Wen", "Person") == ("chan", "tai", "man")  # pinyin to Cantonese
    assert name_tokens("Nguyễn Văn An", "Person") == ("nguyen", "van", "an")
    assert name_tokens("Golden Dragon Trading Co. Ltd.", "Company") == ("golden", "dragon", "trading")
    assert phone_key("+852 9123 4567") == phone_key("(852) 9123-4567") == phone_key("91234567") == "91234567"
    assert address_key("RM E 28/F MAN SHING BLDG 325 RECLAMATION RD") == address_key(
        "Flat E, 28/F, Man Shing Building, 325 Reclamation Road"
    )
    assert date_key("12/03/1980") == date_key("12 Mar 1980") == "1980-03-12"


def test_spelling_variants_are_one_person_and_namesakes_born_apart_are_two() -> None:
    mentions = [
        person("a", "Chan Tai Man", "1980-03-12"),
        person("b", "CHAN Tai-man", "12/03/1980"),
        person("c", "Tai Man Chan"),
        person("d", "Chen Da Wen"),
        person("f", "Wong Ka Wai", "1980-03-12"),
    ]
    entity = Resolver().resolve(mentions).entity_of
    assert entity["a"] == entity["b"] == entity["c"] == entity["d"]
    assert entity["f"] != entity["a"]
    # a namesake born apart stays apart, and a mention without a date of birth joins one of them only
    namesakes = [*mentions, person("e", "Chan Tai Man", "1975-01-01")]
    entity = Resolver().resolve(namesakes).entity_of
    assert entity["e"] != entity["a"] and entity["a"] == entity["b"]
    assert entity["c"] in (entity["a"], entity["e"])
    baseline = ExactNameResolver().resolve(namesakes).entity_of
    assert baseline["a"] == baseline["e"] and baseline["a"] != baseline["b"]  # names alone: both wrong


def test_companies_differ_by_word_order_and_by_address() -> None:
    address = [
        Mention("x1", "Address", {"full": ("1 Nathan Road",)}, "r1"),
        Mention("x2", "Address", {"full": ("9 Canton Road",)}, "r2"),
    ]
    companies = [
        Mention("c1", "Company", {"name": ("Prosper Wealth Holdings Ltd",), "addressEntity": ("x1",)}, "r1"),
        Mention("c2", "Company", {"name": ("PROSPER WEALTH HOLDINGS Limited",)}, "r3"),
        Mention("c3", "Company", {"name": ("Wealth Prosper Holdings Ltd",)}, "r4"),
        Mention("c4", "Company", {"name": ("Prosper Wealth Holdings Ltd",), "addressEntity": ("x2",)}, "r2"),
    ]
    entity = Resolver().resolve(address + companies).entity_of
    assert entity["c4"] != entity["c1"]  # the same name at another registered address
    assert entity["c2"] in (entity["c1"], entity["c4"])  # no address: one of the two, not both
    assert entity["c3"] not in (entity["c1"], entity["c4"])


def _record(record_id: str, kind: str, entities: list[dict[str, Any]], **fields: str) -> StoredRecord:
    return StoredRecord(record_id, kind, {**fields, "entities": json.dumps(entities)})


def _graph_records() -> list[StoredRecord]:
    def who(n: int, name: str, phone: str, address: str = "") -> dict[str, Any]:
        props: dict[str, list[str]] = {"name": [name], "phone": [phone]}
        if address:
            props["addressEntity"] = [address]
        return {"id": f"m{n}", "schema": "Person", "properties": props}

    shell = {"id": "m9", "schema": "Address", "properties": {"full": ["Flat A, 3/F, 12 Canton Road"]}}
    shell2 = {"id": "m10", "schema": "Address", "properties": {"full": ["FLAT A 3/F 12 CANTON RD"]}}
    return [
        _record(
            "K1",
            "case_record",
            [who(1, "Lau Siu Ming", "+852 9000 0001")],
            commodity="drugs",
            route="Thailand > Hong Kong",
            date="2025-03-03",
        ),
        _record(
            "K2",
            "case_record",
            [who(2, "Ho Wing Kei", "9000-0001")],
            commodity="drugs",
            route="Thailand > Hong Kong",
            date="2025-03-10",
        ),
        _record(
            "K3",
            "case_record",
            [
                shell,
                {
                    "id": "m3",
                    "schema": "Company",
                    "properties": {"name": ["Jade Star Trading Ltd"], "addressEntity": ["m9"]},
                },
            ],
            commodity="counterfeit_goods",
            date="2025-03-11",
        ),
        _record(
            "K4",
            "case_record",
            [
                shell2,
                {
                    "id": "m4",
                    "schema": "Company",
                    "properties": {"name": ["Ocean Glory Freight Limited"], "addressEntity": ["m10"]},
                },
            ],
            commodity="counterfeit_goods",
            date="2025-04-01",
        ),
        _record("N1", "news_item", [who(5, "LAU Siu-ming", "")], title="Courier held", date="2025-03-05"),
        _record(
            "K5",
            "case_record",
            [who(6, "Yip Chi Hung", "+852 5555 1234")],
            commodity="drugs",
            route="Thailand > Hong Kong",
            date="2025-05-01",
        ),
    ]


def test_the_graph_answers_the_officers_questions() -> None:
    graph = build_graph(_graph_records())
    (path,) = graph.links("K1", "K2")  # two people, one phone
    assert path.hops == 4 and path.nodes[2] == "phone:90000001"
    (shell,) = graph.links("K3", "K4")  # two companies, one address spelt two ways
    assert shell.hops == 4
    assert graph.links("K1", "N1")[0].hops == 2  # the same person in the news
    assert graph.links("K1", "K5") == []
    assert graph.records_of_phone("9000 0001") == ["K1", "K2"]
    assert graph.companies_at("flat a, 3/f, 12 canton road") == [
        "Jade Star Trading Ltd",
        "Ocean Glory Freight Limited",
    ]
    similar = graph.similar_cases("K1")
    assert similar[0].case_id == "K2" and similar[0].shared == ("90000001",)
    assert similar[1].case_id == "K5" and similar[1].same == ("commodity", "route")


def test_bands_are_seasonal_poisson_bands() -> None:
    assert band({}, 100, first_week=95) is None  # warming up
    quiet = band({}, 100, first_week=0)
    assert quiet is not None and quiet.expected == pytest.approx(1 / 13 / 2, abs=1e-3) and quiet.top == 3
    busy = band({w: 5 for w in range(0, 100)}, 100, first_week=0)
    assert busy is not None and busy.expected > 4 and busy.top > 10
    assert band_top(FLOOR_RATE) == 3  # a route never seen: three cases in a week
    assert series_of({"commodity": "drugs", "route": "Thailand > Hong Kong", "place": "HKIA"}) == [
        "commodity=drugs",
        "route=drugs|Thailand > Hong Kong",
        "place=drugs|HKIA",
    ]
    assert week_of("2025-01-06") + 1 == week_of("2025-01-13") and week_of("junk") == -1


def _batch(records: list[tuple[str, str, str]]) -> frame_pb2.RecordBatch:
    return frame_pb2.RecordBatch(
        records=[
            frame_pb2.Record(
                record_id=rid,
                kind="case_record",
                fields={"date": date, "commodity": "illicit_cigarettes", "route": route},
            )
            for rid, date, route in records
        ]
    )


def test_a_new_route_alerts_once_with_its_cases_and_redelivery_changes_nothing() -> None:
    plugin = CrimeAnalyticsPlugin({}, PluginContext("crime_analytics"))
    history = [(f"H{w}", cases.week_start(w).isoformat(), "Vietnam > Hong Kong") for w in range(20)]
    assert plugin.assess(_batch(history)).decision == Decision.CLEAR
    day = cases.week_start(20).isoformat()
    first = _batch([("N1", day, "Cambodia > Hong Kong")])
    assert plugin.assess(first).decision == Decision.CLEAR  # one case on a new route: not yet
    second = _batch([("N2", day, "Cambodia > Hong Kong"), ("N3", day, "Cambodia > Hong Kong")])
    result = plugin.assess(second)
    assert result.decision == Decision.ALARM
    (detection,) = result.detections
    assert detection.label == LABEL
    assert detection.attributes["series"] == "route=illicit_cigarettes|Cambodia > Hong Kong"
    assert detection.attributes["cases"] == "N1,N2,N3"
    assert plugin.assess(second).decision == Decision.CLEAR  # redelivered: counted and raised once
    assert plugin.store.counts([("route=illicit_cigarettes|Cambodia > Hong Kong", [week_of(day)])]) == [
        {week_of(day): 3}
    ]


def test_malformed_entities_are_skipped() -> None:
    assert mentions_of("r", "[{") == []
    assert mentions_of("r", json.dumps([{"schema": "Person"}, 3, {"id": "x", "schema": "Person"}])) == [
        Mention("x", "Person", {}, "r")
    ]


def test_on_a_small_world_the_resolver_beats_the_exact_name_baseline() -> None:
    world = cases.generate(5, weeks=40, rate_scale=0.5)  # a tuning seed
    result = evaluate_world(world, 5)
    ours, baseline = result.resolution["resolver", "persons"], result.resolution["exact_name", "persons"]
    assert ours.recall > baseline.recall and ours.precision > baseline.precision
    assert (
        result.links["resolver"].found["person_across_sources"]
        >= result.links["exact_name"].found["person_across_sources"]
    )
    # the link alerts of the stream name the burner phone's two cases, and no pair the truth does not link
    links = result.link_alerts
    assert links.found["shared_phone"] == links.planted["shared_phone"] == 1
    assert links.pairs == links.true_pairs > 0
    assert result.extraction.records > 0 and result.extraction.types["Phone"].tp > 0


def test_eval_links_refuses_tuning_seeds(capsys: pytest.CaptureFixture[str]) -> None:
    from smartcustoms.runtime.cli import main

    with pytest.raises(SystemExit) as refused:
        main(["eval", "links", "--seeds", "2"])
    assert refused.value.code == 2
    assert "held-out" in capsys.readouterr().err


def test_hosted_as_an_actor_hosts_it_the_plugin_alerts_on_record_frames() -> None:
    from smartcustoms.hardware.sim.records import to_frame
    from smartcustoms.runtime.actor import ActorSpec, PluginHost
    from smartcustoms.v1 import results_pb2

    host = PluginHost(
        ActorSpec("smartcustoms.plugins.crime:CrimeAnalyticsPlugin", {}, {"kind": "memory", "namespace": "t"})
    )
    history = [(f"H{w}", cases.week_start(w).isoformat(), "Vietnam > Hong Kong") for w in range(20)]
    day = cases.week_start(20).isoformat()
    burst = [(f"N{n}", day, "Cambodia > Hong Kong") for n in range(3)]
    frames = [
        to_frame(_batch(batch), "case-feed", n).SerializeToString()
        for n, batch in enumerate((history, burst))
    ]
    outcome = host.process(frames)
    assert not outcome.failure_reason, outcome.failure
    first, second = (results_pb2.PluginResult.FromString(raw) for raw in outcome.results)
    assert first.decision == results_pb2.DECISION_CLEAR
    assert second.decision == results_pb2.DECISION_ALARM
    assert second.detections[0].attributes["cases"] == "N0,N1,N2"


def test_the_band_s_bottom_is_the_poisson_lower_tail_and_a_quiet_series_has_none() -> None:
    def at_or_below(rate: float, count: int) -> float:
        return sum(math.exp(-rate) * rate**k / math.factorial(k) for k in range(count + 1))

    assert band_bottom(8.0) == -1  # even a window without a case comes by chance more often than ALPHA
    for rate in (8.6, 12.0, 20.0, 40.0):
        bottom = band_bottom(rate)
        assert bottom >= 0 and at_or_below(rate, bottom) < ALPHA <= at_or_below(rate, bottom + 1)
    busy = {w: 5 for w in range(0, 100)}
    assert drop_band(busy, 50, first_week=0) is None  # no season a year before the window yet
    window = drop_band(busy, 80, first_week=0)
    assert window is not None and window.expected == pytest.approx(DROP_WEEKS * 5, rel=0.05)
    assert window.bottom == band_bottom(window.expected) >= 4


def _cases(week: int, commodity: str, n: int) -> list[frame_pb2.Record]:
    day = cases.week_start(week).isoformat()
    return [
        frame_pb2.Record(
            record_id=f"{commodity}-{week}-{k}",
            kind="case_record",
            fields={"date": day, "commodity": commodity},
        )
        for k in range(n)
    ]


def test_a_drop_alerts_once_its_weeks_are_closed_with_the_cases_it_fell_from() -> None:
    plugin = CrimeAnalyticsPlugin({}, PluginContext("crime_analytics"))

    def week(w: int, drugs: int) -> Any:
        batch = [
            *_cases(w, "drugs", drugs),
            *_cases(w, "illicit_cigarettes", 1),
            *_cases(w, "endangered_species", 0),
        ]
        return plugin.assess(frame_pb2.RecordBatch(records=batch))

    for w in range(70):  # drugs 3 a week, cigarettes 1 a week (too quiet for any drop to be rare)
        assert week(w, 3).decision == Decision.CLEAR
    for w in range(70, 74):  # drugs stop; cigarettes go on (and then stop too)
        assert week(w, 0).decision == Decision.CLEAR  # week 73 is still open: its count may grow
    # the first case of week 74 closes week 73: weeks 70-73 held no drugs case
    result = plugin.assess(frame_pb2.RecordBatch(records=_cases(74, "counterfeit_goods", 1)))
    assert result.decision == Decision.ALARM
    (detection,) = result.detections
    assert detection.label == LABEL and detection.attributes["direction"] == "drop"
    assert detection.attributes["series"] == "commodity=drugs"
    assert detection.attributes["week"] == cases.week_start(70).isoformat()
    assert "dropped" in detection.explanation and "0 cases in the 4 weeks" in detection.explanation
    (alert,) = plugin.store.alerts()
    assert alert.direction == "drop" and alert.weeks == DROP_WEEKS and alert.count == 0
    assert set(alert.cases) == {f"drugs-{w}-{k}" for w in range(58, 70) for k in range(3)}  # the level before
    for w in range(75, 80):  # still no drugs: the drop alerted at its onset, once
        assert week(w, 0).decision == Decision.CLEAR
    assert [a.series for a in plugin.store.alerts()] == ["commodity=drugs"]


def _case_with(case_id: str, week: int, *entities: dict[str, Any]) -> frame_pb2.Record:
    fields = {
        "date": cases.week_start(week).isoformat(),
        "commodity": "drugs",
        "entities": json.dumps(entities),
    }
    return frame_pb2.Record(record_id=case_id, kind="case_record", fields=fields)


def _person(mention_id: str, name: str, born: str = "", phone: str = "", address: str = "") -> dict[str, Any]:
    props = {"name": [name]}
    if born:
        props["birthDate"] = [born]
    if phone:
        props["phone"] = [phone]
    if address:
        props["addressEntity"] = [address]
    return {"id": mention_id, "schema": "Person", "properties": props}


def _links(plugin: CrimeAnalyticsPlugin, *records: frame_pb2.Record) -> list[Any]:
    result = plugin.assess(frame_pb2.RecordBatch(records=records))
    return [d for d in result.detections if d.label == LINK_LABEL]


def test_a_new_case_sharing_a_phone_or_a_person_alerts_naming_the_earlier_case() -> None:
    plugin = CrimeAnalyticsPlugin({}, PluginContext("crime_analytics"))
    assert (
        _links(plugin, _case_with("A", 1, _person("A#0", "Chan Tai Man", "1980-03-12", "+852 9123 4567")))
        == []
    )
    (burner,) = _links(plugin, _case_with("B", 2, _person("B#0", "Wong Ka Wai", "1975-01-01", "9123-4567")))
    assert burner.attributes == {"case": "B", "earlier": "A", "shared": "phone 91234567"}
    assert "case B shares phone 91234567 with earlier case A" in burner.explanation
    # the same person however spelt, with the same date of birth; a namesake with no date of birth is no one
    (same,) = _links(plugin, _case_with("C", 3, _person("C#0", "CHAN Tai-man", "12/03/1980")))
    assert same.attributes["earlier"] == "A" and same.attributes["shared"].startswith("person CHAN Tai-man")
    assert _links(plugin, _case_with("D", 4, _person("D#0", "Chan Tai Man"))) == []
    # a redelivered case raises nothing again
    assert _links(plugin, _case_with("B", 2, _person("B#0", "Wong Ka Wai", "1975-01-01", "9123-4567"))) == []


def test_an_entity_on_many_cases_is_a_hub_and_stops_alerting() -> None:
    plugin = CrimeAnalyticsPlugin({}, PluginContext("crime_analytics"))
    office = {
        "id": "",
        "schema": "Address",
        "properties": {"full": ["Flat A, 3/F, Wing On Building, 8 Nathan Road"]},
    }
    alerted = []
    for n in range(MAX_EARLIER_CASES + 4):
        found = _links(plugin, _case_with(f"K{n:02d}", 10 + n, {**office, "id": f"K{n:02d}#0"}))
        alerted.append(len(found[0].attributes["earlier"].split(",")) if found else 0)
    # each case names every earlier one until more than MAX_EARLIER_CASES share the address, then none
    assert alerted == [0, *range(1, MAX_EARLIER_CASES + 1), 0, 0, 0]


def test_extraction_is_scored_per_type_against_the_entities_the_record_carried() -> None:
    post_entities = [_person("p#0", "Chan Tai Man", phone="+852 9123 4567")]
    news_entities = [
        _person("n#0", "Lee Ka Wai"),
        {"id": "n#1", "schema": "Company", "properties": {"name": ["Golden Dragon Trading Ltd"]}},
    ]
    records = [
        StoredRecord("c", "case_record", {"date": "2025-01-06", "entities": "[]"}),
        StoredRecord(
            "p",
            "social_post",
            {"text": "Good stuff cheap, ask Chan Tai Man, 9123 4567", "entities": json.dumps(post_entities)},
        ),
        StoredRecord(
            "n",
            "news_item",
            {
                "title": "Customs seize 3 kg of drugs; Mr Lau Wing told the court",
                "entities": json.dumps(news_entities),
            },
        ),
    ]
    stripped = text_only(records)
    assert [("entities" in r.fields) for r in stripped] == [True, False, False]  # case files keep theirs
    counts = extraction_counts(stripped, records)
    assert counts.records == 2
    person, company, phone = (counts.types[t] for t in ("Person", "Company", "Phone"))
    assert (person.tp, person.fp, person.fn, person.in_text) == (1, 1, 1, 1)  # Mr Lau Wing: not carried
    assert (company.tp, company.fp, company.fn, company.in_text) == (0, 0, 1, 0)  # not in the text at all
    assert (phone.tp, phone.fp, phone.fn, phone.in_text) == (1, 0, 0, 1)
    assert person.precision == 0.5 and person.recall == 0.5
