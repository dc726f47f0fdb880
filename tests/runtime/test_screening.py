"""Screening and threat image projection: answers scored, the queue fed by the sink's half and served by
the gateway's on a real Redis, the tallies exported, the HTTP API's refusals."""

from __future__ import annotations

import asyncio
import functools
import json
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from smartcustoms.core import preview
from smartcustoms.core.config import Config, PluginConfig, ScreeningConfig
from smartcustoms.core.frames import array_frame
from smartcustoms.core.metrics import SCREENING_RESULTS, Metrics
from smartcustoms.core.sensors import Sensor
from smartcustoms.core.types import Modality
from smartcustoms.plugins.xray.library import FULL_SCALE, LibraryEntry
from smartcustoms.plugins.xray.projection import ThreatImage, project, threat_image
from smartcustoms.runtime import screening
from smartcustoms.runtime.officer_auth import CSRF_COOKIE, CSRF_HEADER, protect
from smartcustoms.runtime.officers import OfficerStore
from smartcustoms.runtime.screening import (
    ANSWERED_KEEP_S,
    MAX_RENDERING,
    Score,
    ScreeningCollector,
    ScreeningDesk,
    ScreeningError,
    ScreeningFeed,
    add_screening_routes,
    dark_levels,
    score,
    scores_from_tally,
    screening_image,
    screening_line,
    threats_for,
)
from smartcustoms.runtime.services import EmbeddedRedis
from smartcustoms.v1 import frame_pb2

TIP = {"label": "firearm", "box": [100, 50, 140, 90]}


class Clock:
    def __init__(self) -> None:
        self.now_s = 1_000.0

    def __call__(self) -> float:
        return self.now_s


@pytest.mark.parametrize(
    ("tip", "called", "mark", "result"),
    [
        (TIP, True, (120.0, 70.0), "hit"),
        (TIP, True, (96.0, 46.0), "hit"),  # within the margin around the box
        (TIP, True, (300.0, 70.0), "wrong_place"),
        (TIP, False, None, "miss"),
        (None, True, (10.0, 10.0), "false_alarm"),
        (None, False, None, "clear"),
    ],
)
def test_an_answer_is_scored_by_what_the_bag_held(
    tip: dict[str, object] | None, called: bool, mark: tuple[float, float] | None, result: str
) -> None:
    assert score(tip, called, mark) == result
    assert result in SCREENING_RESULTS


def test_a_threat_call_needs_its_mark_and_a_hit_lies_on_the_outline() -> None:
    with pytest.raises(ValueError, match="needs its mark"):
        score(TIP, True, None)
    diagonal = {
        "label": "knife",
        "box": [0, 0, 100, 100],
        "outline": [[0, 0], [10, 0], [100, 90], [100, 100], [90, 100], [0, 10]],
    }
    assert score(diagonal, True, (50.0, 50.0)) == "hit"  # on the blade
    assert score(diagonal, True, (90.0, 10.0)) == "wrong_place"  # in the box, off the blade


def test_scores_read_the_tally_with_any_officer_name() -> None:
    tally = {
        "answers|PO|1|firearm|hit": "3",
        "answers|PO|1|firearm|miss": "1",
        "seconds|PO|1|firearm": "10.0",
        "answers|Chan|none|false_alarm": "1",
        "answers|Chan|none|clear": "3",
        "seconds|Chan|none": "6.0",
    }
    chan, po = scores_from_tally(tally)
    assert po == Score("PO|1", "firearm", {"hit": 3, "miss": 1}, 10.0)
    assert (po.hit_rate, po.false_alarm_rate, po.to_json()["mean_response_s"]) == (0.75, None, 2.5)
    assert (chan.hit_rate, chan.false_alarm_rate, chan.answers) == (None, 0.25, 4)


def _bag(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    integrals = np.zeros((2, 240, 320))
    integrals[0, 40:200, 40:280] = rng.uniform(0.3, 0.8)
    integrals[1] = integrals[0] * 1.6
    return np.rint(FULL_SCALE * np.exp(-integrals)).astype(np.uint16)


def _threat() -> LibraryEntry:
    integrals = np.zeros((2, 50, 70))
    integrals[0, 15:25, 5:60] = 1.5  # a barrel
    integrals[0, 25:45, 5:18] = 1.5  # a grip
    integrals[1] = integrals[0] * 2.5
    return LibraryEntry(
        "pistol-1", "firearm", np.rint(FULL_SCALE * np.exp(-integrals)).astype(np.uint16), 1.0
    )


def _xray(frame_id: str, source_id: str, image: np.ndarray) -> frame_pb2.Frame:
    return array_frame(image, modality=Modality.XRAY, source_id=source_id, sequence=1, frame_id=frame_id)


def _run(
    redis_url: str, body: Callable[[ScreeningFeed, ScreeningDesk, str], Awaitable[None]], **settings: object
) -> None:
    namespace = f"s{uuid.uuid4().hex[:8]}"
    config = ScreeningConfig(lanes={"lane-tip": 1.0, "lane-plain": 0.0}, **settings)  # type: ignore[arg-type]

    async def main() -> None:
        client = aioredis.Redis.from_url(redis_url)
        try:
            threats = [threat_image(_threat())]
            feed = ScreeningFeed(client, namespace, config, lambda: threats, np.random.default_rng(7))
            await body(feed, ScreeningDesk(client, namespace, config, clock=Clock()), namespace)
        finally:
            await client.aclose()

    asyncio.run(main())


@pytest.mark.integration
def test_screened_lanes_are_queued_projected_at_their_share_and_scored(redis_service: EmbeddedRedis) -> None:
    async def body(feed: ScreeningFeed, desk: ScreeningDesk, namespace: str) -> None:
        tip_frame, plain_frame = _xray("bag-1", "lane-tip", _bag(1)), _xray("bag-2", "lane-plain", _bag(2))
        assert await feed.offer(tip_frame, tip_frame.payload)
        assert await feed.offer(plain_frame, plain_frame.payload)
        other = _xray("bag-3", "lane-other", _bag(3))  # not a screened lane
        single = array_frame(
            _bag(4)[0], modality=Modality.XRAY, source_id="lane-tip", sequence=2, frame_id="s"
        )
        ct = array_frame(
            np.zeros((4, 8, 8), np.int16), modality=Modality.CT, source_id="lane-tip", sequence=3
        )
        for frame in (other, single, ct):
            assert not await feed.offer(frame, frame.payload)
        assert await desk.waiting() == 2

        assert isinstance(desk.clock, Clock)
        for item in await desk.client.lrange(f"sc:{namespace}:screening:queue", 0, -1):
            await desk.client.expire(f"sc:{namespace}:screening:item:{item.decode()}", 30)  # about to go
        first = await desk.next("PO 1")
        assert first is not None and first["source_id"] == "lane-tip"  # the oldest bag first
        first_key = f"sc:{namespace}:screening:item:{first['item_id']}"
        assert await desk.client.ttl(first_key) > 30  # renewed when handed out: it stays while screened
        assert await desk.next("PO 1") == first  # handed out and not answered: the same bag again
        second = await desk.next("PO 2")
        assert second is not None and second["source_id"] == "lane-plain"
        assert await desk.next("PO 3") is None

        # the projected image is darker than the bag as scanned; the plain one is the scan's own preview
        assert await desk.image(first["item_id"], "grey") != preview.dual_energy(_bag(1)).data
        assert await desk.image(second["item_id"], "grey") == preview.dual_energy(_bag(2)).data
        assert await desk.image(second["item_id"], "colour") == preview.dual_energy(_bag(2)).colour

        with pytest.raises(ScreeningError, match="not handed to PO 2") as refused:
            await desk.answer(first["item_id"], "PO 2", False)
        assert refused.value.status == 403
        desk.clock.now_s += 4.5
        missed = await desk.answer(first["item_id"], "PO 1", False)
        assert (missed["result"], missed["threat_class"], missed["response_s"]) == ("miss", "firearm", 4.5)
        assert missed["frame_id"] == "bag-1" and missed["tip"]["entry_id"] == "pistol-1"
        kept_s = await desk.client.ttl(f"sc:{namespace}:screening:item:{first['item_id']}")
        assert 0 < kept_s <= ANSWERED_KEEP_S  # its images go soon; the answer is in the record
        x0, y0, x1, y1 = missed["tip"]["box"]
        assert 0 <= x0 < x1 <= 320 and 0 <= y0 < y1 <= 240
        with pytest.raises(ScreeningError, match="answered already") as twice:
            await desk.answer(first["item_id"], "PO 1", True, (1.0, 1.0))
        assert twice.value.status == 409
        called = await desk.answer(second["item_id"], "PO 2", True, (20.0, 20.0))
        assert (called["result"], called["tip"]) == ("false_alarm", None)
        with pytest.raises(ScreeningError) as unknown:
            await desk.answer("no-such-bag", "PO 1", True, (1.0, 1.0))
        assert unknown.value.status == 404

        scores = {(s.officer, s.threat_class): s for s in await desk.scores()}
        assert scores[("PO 1", "firearm")].results == {"miss": 1}
        assert scores[("PO 2", "none")].false_alarm_rate == 1.0

    _run(redis_service.url, body)


@pytest.mark.integration
def test_a_hit_marked_on_the_projected_threat_and_the_tallies_exported(redis_service: EmbeddedRedis) -> None:
    async def body(feed: ScreeningFeed, desk: ScreeningDesk, namespace: str) -> None:
        for n in range(3):
            frame = _xray(f"bag-{n}", "lane-tip", _bag(n))
            await feed.offer(frame, frame.payload)
        assert await desk.waiting() == 2  # the queue keeps the newest bags
        shown = await desk.next("PO 1")
        assert shown is not None
        raw_tip = await desk.client.hget(f"sc:{namespace}:screening:item:{shown['item_id']}", "tip")
        tip = json.loads(raw_tip)
        _, _, x1, y1 = tip["box"]
        on_it = tuple(np.mean(tip["outline"], axis=0))  # inside the threat's convex outline
        beside = (x1 + 30.0, y1 + 30.0)  # in the frame, well off the threat
        with pytest.raises(ScreeningError, match="needs its mark") as unmarked:
            await desk.answer(shown["item_id"], "PO 1", True)
        assert unmarked.value.status == 400
        hit = await desk.answer(shown["item_id"], "PO 1", True, on_it)
        assert hit["result"] == "hit"
        assert score(tip, True, beside) == "wrong_place"
        registry = CollectorRegistry()
        registry.register(ScreeningCollector(redis_service.url, namespace))
        labels = {"officer": "PO 1", "threat_class": "firearm"}
        assert (
            registry.get_sample_value("smartcustoms_screening_answers_total", labels | {"result": "hit"}) == 1
        )
        assert registry.get_sample_value("smartcustoms_screening_response_seconds_total", labels) == 0.0

    _run(redis_service.url, body, queue_length=2)


@pytest.mark.integration
def test_the_http_api_refuses_bad_answers_in_one_line(redis_service: EmbeddedRedis) -> None:
    async def body(feed: ScreeningFeed, desk: ScreeningDesk, namespace: str) -> None:
        frame = _xray("bag-1", "lane-plain", _bag(1))
        await feed.offer(frame, frame.payload)
        app = web.Application()
        add_screening_routes(app, desk)
        async with TestClient(TestServer(app)) as http:
            nameless = await http.post("/api/screening/next", json={"officer": " "})
            assert (nameless.status, await nameless.text()) == (400, "the officer who screens must be named")
            shown = (await (await http.post("/api/screening/next", json={"officer": "PO 1"})).json())["item"]
            path = f"/api/screening/{shown['item_id']}"
            image = await http.get(f"{path}/image?view=colour")
            assert image.status == 200 and (await image.read()).startswith(b"\x89PNG")
            assert (await http.get("/api/screening/nope/image")).status == 404
            for payload, status, text in (
                ({"officer": "PO 1", "threat": "yes"}, 400, "threat must be true or false"),
                ({"officer": "PO 1", "threat": True, "mark": [1, "x"]}, 400, "mark must be [x, y]"),
                ({"officer": "PO 2", "threat": True}, 403, "was not handed to PO 2"),
            ):
                reply = await http.post(f"{path}/answer", json=payload)
                assert reply.status == status and text in await reply.text()
            garbled = await http.post(
                f"{path}/answer", data=b"{not json", headers={"Content-Type": "application/json"}
            )
            assert garbled.status == 400 and "must be a JSON object" in await garbled.text()
            cleared = await http.post(f"{path}/answer", json={"officer": "PO 1", "threat": False})
            assert (await cleared.json())["result"] == "clear"
            (row,) = await (await http.get("/api/screening/scores")).json()
            assert (row["officer"], row["threat_class"], row["answers"]) == ("PO 1", "none", 1)

    _run(redis_service.url, body)


@pytest.mark.integration
def test_behind_the_login_the_screener_is_the_session_and_sees_only_their_own_scores(
    redis_service: EmbeddedRedis,
) -> None:
    password = "correct horse battery"

    async def body(feed: ScreeningFeed, desk: ScreeningDesk, namespace: str) -> None:
        store = OfficerStore(desk.client, namespace, session_s=60)
        for name, role in (("PO 4411", "screener"), ("PO 77", "screener"), ("SPO 12", "supervisor")):
            await store.add(name, role, password, by="test")
        for n in range(2):
            frame = _xray(f"bag-{n}", "lane-plain", _bag(n))
            await feed.offer(frame, frame.payload)
        app = web.Application()
        add_screening_routes(app, desk)
        protect(app, store)
        async with TestClient(TestServer(app)) as http:
            assert (await http.post("/api/screening/next", json={})).status == 401
            handed: list[str] = []
            for name in ("PO 4411", "PO 77"):
                http.session.cookie_jar.clear()
                assert (await http.post("/login", json={"name": name, "password": password})).status == 200
                cookies = http.session.cookie_jar.filter_cookies(http.make_url("/"))
                csrf = {CSRF_HEADER: cookies[CSRF_COOKIE].value}
                # the body names someone else: the answer is recorded as the session's officer
                reply = await http.post("/api/screening/next", json={"officer": "SPO 12"}, headers=csrf)
                item = (await reply.json())["item"]
                for earlier in handed:  # a screener sees only the bags handed to them
                    assert (await http.get(f"/api/screening/{earlier}/image")).status == 404
                assert (await http.get(f"/api/screening/{item['item_id']}/image")).status == 200
                handed.append(item["item_id"])
                answer = {"officer": "SPO 12", "threat": False}
                answered = await http.post(
                    f"/api/screening/{item['item_id']}/answer", json=answer, headers=csrf
                )
                assert answered.status == 200, await answered.text()
                assert (await answered.json())["officer"] == name
                own = await (await http.get("/api/screening/scores")).json()
                assert [row["officer"] for row in own] == [name]
            http.session.cookie_jar.clear()
            assert (await http.post("/login", json={"name": "SPO 12", "password": password})).status == 200
            every = await (await http.get("/api/screening/scores")).json()
            assert sorted(row["officer"] for row in every) == ["PO 4411", "PO 77"]
            assert all([(await http.get(f"/api/screening/{i}/image")).status == 200 for i in handed])

    _run(redis_service.url, body)


def test_the_dark_level_is_the_x_ray_detectors_for_the_scanner(tmp_path: Path) -> None:
    calibrations = tmp_path / "calibrations.json"
    scanner = {
        "name": "lane-7",
        "sources": ["lane-7"],
        "calibration": {"dark_high": 180.0, "dark_low": 240.0},
    }
    calibrations.write_text(json.dumps({"scanners": [scanner]}))
    config = Config()
    config.plugins["xray_detector"] = PluginConfig(
        settings={"calibrations_file": str(calibrations), "calibration": {"dark_high": 50.0}}
    )
    darks = dark_levels(config)
    assert darks.of("lane-7", {}) == (180.0, 240.0)
    assert darks.of("lane-1", {}) == (50.0, 0.0)  # no scanner of its own: the calibration setting's
    config.plugins["xray_detector"].settings["calibrations_file"] = str(tmp_path / "missing.json")
    assert dark_levels(config).of("lane-7", {}) == (0.0, 0.0)  # logged; the detector refuses to start


def test_a_threat_is_projected_above_the_scanners_dark_level() -> None:
    bag = np.full((2, 64, 96), 10_200, np.uint16)
    frame = array_frame(
        bag, modality=Modality.XRAY, source_id="lane-tip", sequence=1, metadata={"pixel_size_mm": "1.0"}
    )
    threat = ThreatImage("slab", "knife", np.full((2, 20, 20), 1.0, np.float32), 1.0)
    shown = screening_image(frame, frame.payload, threat, 3, (200.0, 200.0))
    assert shown is not None and shown[1] is not None
    x0, y0, x1, y1 = shown[1]["box"]
    projected = project(bag, threat, (1.0, 1.0), np.random.default_rng(3), dark=(200.0, 200.0))
    assert [x0, y0, x1, y1] == list(projected.box)  # the same draw: the feed's seed decides the pose
    middle = projected.image[:, (y0 + y1) // 2, (x0 + x1) // 2]
    assert (np.abs(middle.astype(float) - (200 + 10_000 * np.exp(-1.0))) <= 1).all()
    assert shown[0].colour == preview.dual_energy(projected.image).colour  # what the screener sees
    above_zero = project(bag, threat, (1.0, 1.0), np.random.default_rng(3)).image
    assert shown[0].colour != preview.dual_energy(above_zero).colour


@pytest.mark.integration
def test_bags_that_leave_the_queue_take_their_images_with_them(redis_service: EmbeddedRedis) -> None:
    async def body(feed: ScreeningFeed, desk: ScreeningDesk, namespace: str) -> None:
        for n in range(6):
            frame = _xray(f"bag-{n}", "lane-plain", _bag(n))
            assert await feed.offer(frame, frame.payload)
        items = [k async for k in desk.client.scan_iter(match=f"sc:{namespace}:screening:item:*")]
        assert await desk.waiting() == 2 and len(items) == 2  # not six hashes of PNGs for an hour

    _run(redis_service.url, body, queue_length=2)


@pytest.mark.integration
def test_one_officers_requests_at_once_take_one_bag(redis_service: EmbeddedRedis) -> None:
    async def body(feed: ScreeningFeed, desk: ScreeningDesk, namespace: str) -> None:
        for n in range(4):
            frame = _xray(f"bag-{n}", "lane-plain", _bag(n))
            await feed.offer(frame, frame.payload)
        # a double click, or two gateways: the same bag, and the other three still wait
        shown = await asyncio.gather(*(desk.next("PO 1") for _ in range(5)))
        assert len({s["item_id"] for s in shown if s is not None}) == 1 and await desk.waiting() == 3
        first = shown[0]
        assert first is not None
        other = await desk.next("PO 2")
        assert other is not None and other["item_id"] != first["item_id"]
        # PO 1's answer on their bag leaves PO 2's current bag alone, and their own next is a new one
        await desk.answer(first["item_id"], "PO 1", False)
        assert await desk.next("PO 2") == other
        again = await desk.next("PO 1")
        assert again is not None and again["item_id"] not in (first["item_id"], other["item_id"])

    _run(redis_service.url, body)


@pytest.mark.integration
def test_bags_arriving_while_the_renderer_is_busy_are_skipped_and_counted(
    redis_service: EmbeddedRedis,
) -> None:
    async def body(feed: ScreeningFeed, desk: ScreeningDesk, namespace: str) -> None:
        registry = CollectorRegistry()
        feed.sensor = Sensor(Metrics(registry))
        frames = [_xray(f"bag-{n}", "lane-plain", _bag(n)) for n in range(MAX_RENDERING + 2)]
        buffers = [bytearray(frame.payload) for frame in frames]  # as a blob store's memory would be
        submitted = [feed.submit(frame, memoryview(b)) for frame, b in zip(frames, buffers, strict=True)]
        assert submitted == [True] * MAX_RENDERING + [False, False]
        for buffer in buffers:  # released and reused at once, as the sink does after submitting
            buffer[:] = bytes(len(buffer))
        assert not feed.submit(_xray("bag-9", "lane-other", _bag(9)), b"")  # not a screened lane
        single = array_frame(_bag(4)[0], modality=Modality.XRAY, source_id="lane-plain", sequence=5)
        assert not feed.submit(single, single.payload)  # not a dual-energy image: not screened
        await feed.settle()
        assert await desk.waiting() == MAX_RENDERING
        images = set()  # rendered from the copies taken at submission, not the reused memory
        for n in range(MAX_RENDERING):
            shown = await desk.next(f"PO {n}")
            assert shown is not None
            images.add(await desk.image(shown["item_id"], "grey"))
        assert images == {preview.dual_energy(_bag(n)).data for n in range(MAX_RENDERING)}

        def counted(outcome: str) -> float | None:
            return registry.get_sample_value("smartcustoms_screening_bags_total", {"outcome": outcome})

        assert (counted("as_scanned"), counted("skipped"), counted("failed")) == (MAX_RENDERING, 2.0, 0.0)

    _run(redis_service.url, body)


@pytest.mark.integration
def test_unreadable_threat_images_leave_the_bags_unprojected(
    redis_service: EmbeddedRedis, tmp_path: Path
) -> None:
    folder = tmp_path / "threats"
    folder.mkdir()
    (folder / "labels.csv").write_text("file,label,pixel_size_mm,note\nbroken.npy,knife,1.0,\n")
    (folder / "broken.npy").write_bytes(b"")  # an empty file: numpy raises EOFError
    config = Config()
    config.screening.lanes = {"lane-tip": 1.0}
    config.screening.threat_dir = str(folder)
    assert threats_for(config) == []

    async def body(feed: ScreeningFeed, desk: ScreeningDesk, namespace: str) -> None:
        feed._load_threats = functools.partial(threats_for, config)
        frame = _xray("bag-1", "lane-tip", _bag(1))
        assert await feed.offer(frame, frame.payload)
        shown = await desk.next("PO 1")
        assert shown is not None
        assert (await desk.answer(shown["item_id"], "PO 1", False))["tip"] is None

    _run(redis_service.url, body)


@pytest.mark.integration
def test_bags_that_expired_while_waiting_are_not_counted_as_waiting(redis_service: EmbeddedRedis) -> None:
    async def body(feed: ScreeningFeed, desk: ScreeningDesk, namespace: str) -> None:
        for n in range(3):
            frame = _xray(f"bag-{n}", "lane-tip" if n == 0 else "lane-plain", _bag(n))
            await feed.offer(frame, frame.payload)
        queue = f"sc:{namespace}:screening:queue"
        oldest = (await desk.client.lrange(queue, -1, -1))[0].decode()
        await desk.client.delete(f"sc:{namespace}:screening:item:{oldest}")  # as if it had expired
        config = Config(namespace=namespace)
        config.redis.url = redis_service.url
        config.screening.lanes = {"lane-tip": 1.0}
        line = await asyncio.to_thread(screening_line, config, "https://cp/screening")
        assert line == (
            "screening (lane-tip 100% projected): 2 bags wait for screeners at https://cp/screening, "
            "0 with a projected threat"  # the projected bag was the one that expired
        )
        assert await desk.waiting() == 2 and await desk.client.llen(queue) == 2  # its id taken off

    _run(redis_service.url, body)


@pytest.mark.integration
def test_a_stopping_worker_queues_the_bags_being_rendered_within_its_deadline(
    redis_service: EmbeddedRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = threading.Event()  # rendering waits on it, as a slow render would
    render = screening.screening_image

    def slow(*args: object) -> object:
        assert gate.wait(30)
        return render(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(screening, "screening_image", slow)

    async def body(feed: ScreeningFeed, desk: ScreeningDesk, namespace: str) -> None:
        first, second = (_xray(f"bag-{n}", "lane-plain", _bag(n)) for n in range(MAX_RENDERING))
        assert feed.submit(first, first.payload)
        await feed.settle(until=time.monotonic())  # the deadline passed: the bag is left, not waited for
        assert await desk.waiting() == 0
        assert feed.submit(second, second.payload)
        stopping = asyncio.create_task(feed.settle(until=time.monotonic() + 30))
        await asyncio.sleep(0)  # the task waits on the renders
        stopping.cancel()  # the worker's own stop cancels its agents: the deadline still holds
        await asyncio.sleep(0)
        assert not stopping.done()
        gate.set()
        with pytest.raises(asyncio.CancelledError):
            await stopping
        assert await desk.waiting() == 2  # both bags handed over before the stop are before screeners
        gate.clear()  # a render that outlasts the deadline: the stop goes on without it
        assert feed.submit(first, first.payload)
        stopping = asyncio.create_task(feed.settle(until=time.monotonic() + 0.2))
        await asyncio.sleep(0)
        stopping.cancel()
        with pytest.raises(asyncio.CancelledError):  # at the deadline, not when the render ends
            await asyncio.wait_for(stopping, 20)
        assert await desk.waiting() == 2
        gate.set()
        await feed.settle()
        assert await desk.waiting() == 3

    _run(redis_service.url, body)
