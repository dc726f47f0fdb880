"""Entities read from the text of news stories and posts, and what they link in the crime graph."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from smartcustoms.core.plugin import PluginContext
from smartcustoms.hardware.feeds.runner import pump
from smartcustoms.hardware.feeds.sources import RssSource
from smartcustoms.plugins.crime import CrimeAnalyticsPlugin, with_entities
from smartcustoms.plugins.crime.extract import entities_from_text
from smartcustoms.plugins.crime.graph import build_graph
from smartcustoms.v1 import frame_pb2, ingest_pb2


def _named(mentions: list[dict[str, object]]) -> set[tuple[str, str]]:
    found = set()
    for mention in mentions:
        props = mention["properties"]
        assert isinstance(props, dict)
        for prop in ("name", "registrationNumber", "phone"):
            for value in props.get(prop, []):
                found.add((str(mention["schema"]), value))
    return found


def test_a_story_names_people_companies_vehicles_and_phones() -> None:
    story = (
        "Customs officers seized 1.2 million sticks of cigarettes in a lorry, registration PX 4821, at "
        "Lok Ma Chau. A man named Lau Chi-keung, 38, a director of Silver Crane Logistics Limited, was "
        "arrested; Ms Ho Mei-ling of 永發貿易有限公司 was released on bail. Anyone with information may "
        "call 2545 6182 or +86 139 2233 4455."
    )
    found = _named(entities_from_text("news-1", story))
    assert found == {
        ("Vehicle", "PX4821"),
        ("Person", "Lau Chi-keung"),
        ("Company", "Silver Crane Logistics Limited"),
        ("Person", "Ho Mei-ling"),
        ("Company", "永發貿易有限公司"),
        ("LegalEntity", "2545 6182"),
        ("LegalEntity", "+86 139 2233 4455"),
    }


def test_a_phone_after_a_name_is_that_person_s_and_text_without_entities_gives_none() -> None:
    (mention,) = entities_from_text("post-1", "Good smokes cheap, WhatsApp Ah Fai 9876 1234 anytime")
    assert mention["schema"] == "Person"
    assert mention["properties"] == {"name": ["Ah Fai"], "phone": ["9876 1234"]}
    assert entities_from_text("post-2", "The weather in Hong Kong is fine today, 2024 was wet.") == []
    fields = {"title": "nothing here"}
    assert with_entities("post-2", fields) is fields
    own = {"text": "call 9876 1234", "entities": "[]x"}  # a record's own entities are kept as given
    assert with_entities("post-3", own) is own


def _rss(path: Path) -> Path:
    path.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Harbour Wire</title>'
        "<item><guid>hw-1</guid><title>Smuggling ring used hotline</title>"
        "<description>Police said the ring took orders on 6612 3456 and shipped through "
        "Golden Gate Freight Limited.</description>"
        "<pubDate>Tue, 05 Mar 2024 08:00:00 GMT</pubDate></item></channel></rss>",
        encoding="utf-8",
    )
    return path


class _Sink:
    def __init__(self) -> None:
        self.frames: list[frame_pb2.Frame] = []

    async def send(
        self, frame: frame_pb2.Frame, payload: bytes | memoryview | None = None
    ) -> asyncio.Future[ingest_pb2.IngestAck]:
        self.frames.append(frame)
        future: asyncio.Future[ingest_pb2.IngestAck] = asyncio.get_running_loop().create_future()
        future.set_result(ingest_pb2.IngestAck(frame_id=frame.frame_id))
        return future


def test_a_news_feed_story_links_to_the_case_that_gave_the_same_phone(tmp_path: Path) -> None:
    sink = _Sink()
    source = RssSource(str(_rss(tmp_path / "news.xml")), "news0", kind="news_item")
    asyncio.run(pump(source, sink))
    (frame,) = sink.frames
    batch = frame_pb2.RecordBatch()
    batch.ParseFromString(frame.payload)
    (story,) = batch.records
    assert story.kind == "news_item" and story.fields["date"] == "2024-03-05"

    case_entities = [
        {
            "id": "C-1#0",
            "schema": "Person",
            "properties": {"name": ["Tse Wai-kit"], "phone": ["+852 6612-3456"]},
        }
    ]
    case = frame_pb2.Record(
        record_id="C-1",
        kind="case_record",
        fields={"case_id": "C-1", "date": "2024-02-20", "entities": json.dumps(case_entities)},
    )
    plugin = CrimeAnalyticsPlugin({}, PluginContext("crime_analytics"))
    plugin.assess(frame_pb2.RecordBatch(records=[case, story]))
    graph = build_graph(plugin.store.records())
    assert graph.records_of_phone("66123456", kind="") == sorted(["C-1", story.record_id])
    (path,) = graph.links("C-1", story.record_id)  # case - person - phone - unnamed holder - story
    assert "66123456" in path.labels and "Tse Wai-kit" in path.labels
