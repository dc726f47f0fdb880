"""Real-format test: the FollowTheMoney entities of nomenklatura's test fixtures (tests/data/ftm/SOURCE.md)
load and resolve. The file holds 474 entities; its duplicates are spelling variants of one party at one
address. The figures below were read off the resolver's output and checked by hand against the file."""

from __future__ import annotations

import json
from pathlib import Path

from smartcustoms.plugins.crime.entities import load_ftm_lines
from smartcustoms.plugins.crime.graph import build_graph
from smartcustoms.plugins.crime.resolve import ExactNameResolver, Resolver
from smartcustoms.plugins.crime.store import StoredRecord

DONATIONS = Path(__file__).parents[1] / "data" / "ftm" / "donations.ijson"


def _clusters(resolver: Resolver) -> set[frozenset[str]]:
    mentions = load_ftm_lines(DONATIONS.read_text().splitlines())
    names = {m.mention_id: m.first("name") or m.first("full") for m in mentions}
    return {
        frozenset(names[m] for m in members)
        for members in resolver.resolve(mentions).clusters().values()
        if len(members) > 1
    }


def test_the_duplicates_of_a_real_ftm_file_are_merged_and_nothing_else() -> None:
    mentions = load_ftm_lines(DONATIONS.read_text().splitlines())
    assert len(mentions) == 474
    assert _clusters(Resolver()) == {
        frozenset({"Frau Johanna Quandt", "Johanna Quandt"}),
        frozenset({"Bayerische Motorenwerke AG", "Bayerische Motorenwerke (BMW) AG"}),
        frozenset({"Deutsche Vermögensberatung AG", "Allfinanz Deutsche Vermögensberatung AG"}),
        frozenset(
            {
                "Verband der Metall- und Elektroindustrie Baden-Württemberg e.V.",
                "Verband der Metallindustrie Baden-Württemberg",
            }
        ),
        frozenset(
            {"Kurfürsten-Anlage 34-36, 69115 Heidelberg", "Kurfürsten-Anlage 34 - 36, 69115 Heidelberg"}
        ),
    }
    assert _clusters(ExactNameResolver()) == set()  # every name is spelt once the same way


def test_companies_sharing_an_address_in_a_real_ftm_file() -> None:
    records = [
        StoredRecord(entity["id"], entity["schema"], {"entities": json.dumps([entity])})
        for entity in map(json.loads, DONATIONS.read_text().splitlines())
    ]
    graph = build_graph(records)
    address = next(
        e["properties"]["full"][0]
        for e in map(json.loads, DONATIONS.read_text().splitlines())
        if e["id"] == "76a792dd2e18125caa570c527eeaebac6c24c63b"
    )
    assert graph.companies_at(address) == ["Allianz Deutschland AG", "Allianz SE", "Allianz Versicherungs-AG"]
