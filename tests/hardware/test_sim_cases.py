"""The case simulators: the same seed gives the same world, every mention has its truth, the plants
are where the truth says."""

from __future__ import annotations

import json

import pytest

from smartcustoms.hardware.sim import cases, cases_alt
from smartcustoms.hardware.sim.cases_feed import case_frames


@pytest.mark.parametrize("generate", [cases.generate, cases_alt.generate])
def test_a_seed_gives_one_world_with_a_truth_for_every_mention(generate: object) -> None:
    first = generate(7, weeks=30)  # type: ignore[operator]  # either generator's generate
    again = generate(7, weeks=30)  # type: ignore[operator]
    assert [r.fields for r in first.records] == [r.fields for r in again.records]
    kinds = {r.kind for r in first.records}
    assert kinds == {"case_record", "news_item", "social_post"}
    mentions = 0
    for record in first.records:
        try:
            entities = json.loads(record.fields["entities"])
        except ValueError:
            continue  # the alt generator's truncated exports
        for entity in entities:
            assert entity["id"] in first.truth
            assert entity["schema"] in {"Person", "Company", "Address", "Vehicle"}
            mentions += 1
    assert mentions > len(first.cases)
    dates = [r.fields["date"] for r in first.records]
    assert dates == sorted(dates)


def test_planted_links_and_anomalies_are_in_the_world() -> None:
    world = cases.generate(3, weeks=104)
    kinds = {link.kind for link in world.links}
    assert {"shared_phone", "shared_address", "person_across_sources", "syndicate"} <= kinds
    shared = next(link for link in world.links if link.kind == "shared_phone")
    a, b = world.cases[shared.a], world.cases[shared.b]
    assert set(a.phones.values()) == set(b.phones.values())
    assert not set(a.persons) & set(b.persons)
    route = next(x for x in world.anomalies if x.kind == "new_route")
    before = [c for c in world.cases.values() if c.route == route.value and c.week < route.start_week]
    after = [c for c in world.cases.values() if c.route == route.value and c.week >= route.start_week]
    assert not before and after and all(c.planted == "new_route" for c in after)


def test_a_person_across_sources_is_spelt_otherwise() -> None:
    world = cases.generate(4, weeks=60)
    link = next(x for x in world.links if x.kind == "person_across_sources")
    case_record = next(r for r in world.records if r.record_id == link.a)
    news = next(r for r in world.records if r.record_id == link.b)
    person = next(e for e in json.loads(case_record.fields["entities"]) if e["schema"] == "Person")
    (mention,) = json.loads(news.fields["entities"])
    assert world.truth[mention["id"]] == world.truth[person["id"]]
    assert mention["properties"]["name"] != person["properties"]["name"]


def test_the_case_feed_sends_the_world_in_date_order_batches() -> None:
    batches = case_frames(8, batch_size=50)
    world = cases.generate(8)
    assert sum(len(b.records) for b in batches) == len(world.records)
    assert all(len(b.records) == 50 for b in batches[:-1])
    assert batches[0].records[0].record_id == world.records[0].record_id
