"""Screening and threat image projection (TIP): live X-ray images put before screeners, a share of them
with a library threat projected into them, and each screener's answers scored (docs/screening.md).

Two halves share a queue in Redis, so any number of stream workers feed it and any number of gateways
serve it:

- ``ScreeningFeed`` (the stream worker's sink): when a verdict of an X-ray frame of a screened lane is
  stored, the frame's image goes on the queue, as it is or, at the lane's share, with a threat
  projected into it (``plugins/xray/projection.py``). Only the screening image is changed: the frame's
  payload and its verdict are the scanner's and the detectors' own.
- ``ScreeningDesk`` (the gateway's review pages): a screener takes the next bag, answers threat (marking
  where) or clear; the answer is scored, a projection revealed, and the tallies per officer and threat
  class kept in Redis, where ``ScreeningCollector`` exports them to Prometheus.
"""

from __future__ import annotations

import asyncio
import fnmatch
import functools
import json
import logging
import math
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np
import redis.asyncio as aioredis
from aiohttp import web
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from smartcustoms.core import artefacts, preview
from smartcustoms.core.config import Config, ScreeningConfig
from smartcustoms.core.frames import DTYPES
from smartcustoms.core.keys import redis_prefix
from smartcustoms.core.metrics import SCREENING_ANSWERS, SCREENING_RESPONSE_SECONDS
from smartcustoms.core.sensors import Sensor
from smartcustoms.plugins.xray.library import ARTEFACT_NAME, load_library_dir
from smartcustoms.plugins.xray.projection import ThreatImage, frame_spacing, on_threat, project, threat_images
from smartcustoms.plugins.xray.scanners import Scanner, load_scanners, scanner_for
from smartcustoms.runtime.officer_auth import SESSION_KEY, json_object
from smartcustoms.v1 import frame_pb2

log = logging.getLogger(__name__)

NO_THREAT = "none"  # the threat class of a bag shown as the scanner took it
XRAY_PLUGIN = "xray_detector"  # whose calibration settings say each scanner's dark level
PLACE_MARGIN = 0.05  # a mark counts on the threat within this share of its box's diagonal of it
PLACE_MARGIN_MIN_PX = 8


def _prefix(namespace: str) -> str:
    return f"{redis_prefix(namespace)}screening:"


# --------------------------------------------------------------------------- scoring


def score(tip: Mapping[str, Any] | None, threat_called: bool, mark: tuple[float, float] | None) -> str:
    """One answer's result. A bag with a projected threat: ``hit`` when the screener called a threat and
    marked it on the threat (its outline, or within ``PLACE_MARGIN`` of its box's diagonal, at least
    ``PLACE_MARGIN_MIN_PX``), ``wrong_place`` when the mark is elsewhere, ``miss`` when it was cleared. A
    bag as the scanner took it: ``false_alarm`` when called a threat (the bag may hold a real one: the call
    is kept, the verdict is not touched), ``clear`` otherwise. ValueError: a threat called unmarked."""
    if threat_called and mark is None:
        raise ValueError("a threat call needs its mark: where the threat is, [x, y] in frame pixels")
    if tip is None:
        return "false_alarm" if threat_called else "clear"
    if not threat_called or mark is None:
        return "miss"
    x_min, y_min, x_max, y_max = tip["box"]
    margin = max(PLACE_MARGIN * math.hypot(x_max - x_min, y_max - y_min), PLACE_MARGIN_MIN_PX)
    outline = tip.get("outline") or [[x_min, y_min], [x_max, y_min], [x_max, y_max], [x_min, y_max]]
    return "hit" if on_threat(outline, mark, margin) else "wrong_place"


@dataclass(frozen=True)
class Score:
    """One officer's answers on one threat class (``none``: bags without a projection)."""

    officer: str
    threat_class: str
    results: Mapping[str, int]
    response_s_total: float

    @property
    def answers(self) -> int:
        return sum(self.results.values())

    @property
    def hit_rate(self) -> float | None:
        shown = sum(self.results.get(r, 0) for r in ("hit", "miss", "wrong_place"))
        return self.results.get("hit", 0) / shown if shown else None

    @property
    def false_alarm_rate(self) -> float | None:
        shown = self.results.get("false_alarm", 0) + self.results.get("clear", 0)
        return self.results.get("false_alarm", 0) / shown if shown else None

    def to_json(self) -> dict[str, Any]:
        answers = self.answers
        return {
            "officer": self.officer,
            "threat_class": self.threat_class,
            "answers": answers,
            "results": dict(self.results),
            "hit_rate": self.hit_rate,
            "false_alarm_rate": self.false_alarm_rate,
            "mean_response_s": self.response_s_total / answers if answers else None,
        }


def scores_from_tally(tally: Mapping[str, str]) -> list[Score]:
    """The tally hash (``answers|officer|class|result`` counts, ``seconds|officer|class`` sums) as scores."""
    results: dict[tuple[str, str], dict[str, int]] = {}
    seconds: dict[tuple[str, str], float] = {}
    for name, value in tally.items():
        kind, _, rest = name.partition("|")
        if kind == "answers":
            officer, threat_class, result = _split(rest, 3)
            results.setdefault((officer, threat_class), {})[result] = int(value)
        elif kind == "seconds":
            officer, threat_class = _split(rest, 2)
            seconds[(officer, threat_class)] = float(value)
    return [
        Score(
            officer, threat_class, results[(officer, threat_class)], seconds.get((officer, threat_class), 0.0)
        )
        for officer, threat_class in sorted(results)
    ]


def _split(text: str, parts: int) -> list[str]:
    """Split from the right: an officer's name may hold a ``|``, a class and a result may not."""
    return text.rsplit("|", parts - 1)


# --------------------------------------------------------------------------- the feed (stream worker)


# Queue a bag, and drop the oldest bags (their images too) past the queue's length, in one step.
# KEYS: queue, item; ARGV: item id, ttl s, queue length, item key prefix, then field, value pairs.
_ENQUEUE = """
redis.call('HSET', KEYS[2], unpack(ARGV, 5))
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('LPUSH', KEYS[1], ARGV[1])
local dropped = 0
while redis.call('LLEN', KEYS[1]) > tonumber(ARGV[3]) do
  local old = redis.call('RPOP', KEYS[1])
  redis.call('DEL', ARGV[4] .. old)
  dropped = dropped + 1
end
return dropped
"""
MAX_RENDERING = 2  # bags being rendered at once; more arriving meanwhile are skipped, and counted
ANSWERED_KEEP_S = (
    300  # an answered bag's images stay this long for its screener (the answer is in the record)
)


class ScreeningFeed:
    """Puts the X-ray frames of screened lanes on the screening queue, a lane's share of them with a
    threat projected into them. ``threats`` is called once, off the event loop, when the first bag is
    screened (reading the library's images takes a while)."""

    def __init__(
        self,
        client: aioredis.Redis,
        namespace: str,
        settings: ScreeningConfig,
        threats: Callable[[], Sequence[ThreatImage]],
        rng: np.random.Generator | None = None,
        darks: DarkLevels | None = None,
        sensor: Sensor | None = None,
    ) -> None:
        self.client = client
        self.prefix = _prefix(namespace)
        self.settings = settings
        self.rng = rng if rng is not None else np.random.default_rng()
        self.darks = darks if darks is not None else DarkLevels()
        self.sensor = sensor
        self._load_threats = threats
        self._threats: list[ThreatImage] | None = None
        self._loading = asyncio.Lock()
        self._rendering: set[asyncio.Task[bool]] = set()

    def share(self, source_id: str) -> float | None:
        """The share of projected bags for a source, or None when its frames are not screened."""
        for pattern, share in self.settings.lanes.items():
            if fnmatch.fnmatchcase(source_id, pattern):
                return float(share)
        return None

    def screens(self, record: frame_pb2.Frame) -> bool:
        """A dual-energy X-ray (unsigned counts, [channels >= 2, H, W]) of a screened lane."""
        dtype = DTYPES.get(record.dtype)
        return (
            record.modality == frame_pb2.MODALITY_XRAY
            and len(record.shape) == 3
            and record.shape[0] >= 2
            and dtype is not None
            and np.issubdtype(dtype, np.unsignedinteger)
            and self.share(record.source_id) is not None
        )

    def has_room(self) -> bool:
        """Whether a bag submitted now is rendered (else it is skipped, and counted)."""
        return len(self._rendering) < MAX_RENDERING

    def skipped(self) -> None:
        self._count("skipped")

    def submit(self, record: frame_pb2.Frame, payload: memoryview | bytes) -> bool:
        """Screen the bag in the background (its payload copied: the caller may release it at once);
        False when it is not screened, or skipped because ``MAX_RENDERING`` bags are being rendered."""
        if not self.screens(record):
            return False
        if not self.has_room():
            self.skipped()
            return False
        task = asyncio.create_task(self._offer_counted(record, bytes(payload)))
        self._rendering.add(task)
        task.add_done_callback(self._rendering.discard)
        return True

    async def settle(self, until: float | None = None) -> None:
        """Wait for the bags being rendered; with ``until`` (a ``time.monotonic()``), no longer than that:
        a stopping worker gives them what is left of its stop deadline, and those not queued by then are
        not screened. A cancellation (the worker's own stop) waits out the deadline all the same, then
        goes through."""
        if until is None:
            while self._rendering:
                await asyncio.wait(list(self._rendering))
            return
        cancelled = False
        while self._rendering:
            left_s = until - time.monotonic()
            if left_s <= 0:
                rendering = len(self._rendering)
                log.warning("%d bags still rendering at the stop deadline: not waited for", rendering)
                break
            try:
                await asyncio.shield(asyncio.wait(list(self._rendering), timeout=left_s))
            except asyncio.CancelledError:
                cancelled = True
        if cancelled:
            raise asyncio.CancelledError

    async def _offer_counted(self, record: frame_pb2.Frame, payload: bytes) -> bool:
        try:
            return await self.offer(record, payload)
        except Exception:  # a screening image is never worth a verdict: counted and logged
            self._count("failed")
            log.exception("frame %s not put before screeners", record.frame_id)
            return False

    async def offer(self, record: frame_pb2.Frame, payload: memoryview | bytes) -> bool:
        """Queue the frame for screening if its lane is screened; True when it was queued."""
        if not self.screens(record):
            return False
        share = self.share(record.source_id) or 0.0
        threats = await self._threat_images() if share > 0 else []
        projecting = bool(threats) and self.rng.random() < share
        threat = threats[int(self.rng.integers(len(threats)))] if projecting else None
        seed = int(self.rng.integers(2**63))
        dark = self.darks.of(record.source_id, record.metadata)
        shown = await asyncio.to_thread(screening_image, record, payload, threat, seed, dark)
        if shown is None:
            return False
        image, tip = shown
        await self._queue(record, image, tip)
        self._count("as_scanned" if tip is None else "projected")
        return True

    async def _threat_images(self) -> list[ThreatImage]:
        async with self._loading:
            if self._threats is None:
                self._threats = list(await asyncio.to_thread(self._load_threats))
        return self._threats

    def _count(self, outcome: str) -> None:
        if self.sensor is not None:
            self.sensor.screening_bag(outcome)

    async def _queue(
        self, record: frame_pb2.Frame, image: preview.Preview, tip: dict[str, Any] | None
    ) -> None:
        item_id = uuid.uuid4().hex
        fields: dict[str, str | bytes] = {
            "frame_id": record.frame_id,
            "source_id": record.source_id,
            "queued_at": repr(time.time()),
            "grey": image.data,
            "colour": image.colour,
            "scale": repr(image.scale),
            "tip": json.dumps(tip) if tip is not None else "",
        }
        pairs = [value for pair in fields.items() for value in pair]
        await self.client.eval(
            _ENQUEUE,
            2,
            f"{self.prefix}queue",
            f"{self.prefix}item:{item_id}",
            item_id,
            math.ceil(self.settings.item_ttl_s),
            self.settings.queue_length,
            f"{self.prefix}item:",
            *pairs,
        )


def screening_image(
    record: frame_pb2.Frame,
    payload: memoryview | bytes,
    threat: ThreatImage | None,
    seed: int,
    dark: tuple[float, float] = (0.0, 0.0),
) -> tuple[preview.Preview, dict[str, Any] | None] | None:
    """The frame's preview, with ``threat`` projected into it above the scanner's ``dark`` level; None
    for a frame that is not a dual-energy image. A threat that does not fit is left out (the bag is shown
    as it is)."""
    dtype = DTYPES.get(record.dtype)
    if dtype is None:
        return None
    array = np.frombuffer(payload, dtype=dtype).reshape(tuple(record.shape))
    if not preview.is_dual_energy(array):
        return None
    tip = None
    if threat is not None:
        spacing = frame_spacing(record.metadata, array.shape[1])
        try:
            projected = project(array, threat, spacing, np.random.default_rng(seed), dark=dark)
        except ValueError as error:
            log.warning("no threat projected into frame %s: %s", record.frame_id, error)
        else:
            array = projected.image
            tip = {
                "label": threat.label,
                "entry_id": threat.entry_id,
                "box": list(projected.box),
                "outline": [list(point) for point in projected.outline],
                "angle_deg": round(projected.angle_deg, 1),
                "mirrored": projected.mirrored,
            }
    return preview.dual_energy(array), tip


@dataclass(frozen=True)
class DarkLevels:
    """Each scanner's dark level, as the X-ray detector reads its frames: the scanner a frame belongs to in
    its ``calibrations_file`` (by source id, tube voltages, machine), else its ``calibration`` setting; 0
    for a scanner that flat-fields its images."""

    scanners: tuple[Scanner, ...] = ()
    own: Mapping[str, Any] = field(default_factory=dict)

    def of(self, source_id: str, metadata: Mapping[str, str]) -> tuple[float, float]:
        scanner = scanner_for(self.scanners, source_id, metadata)
        fields = self.own if scanner is None else scanner.calibration
        return float(fields.get("dark_high", 0.0)), float(fields.get("dark_low", 0.0))


def dark_levels(config: Config) -> DarkLevels:
    """The X-ray detector's calibrations, for the dark level a threat is projected above; none (logged)
    when its calibrations file cannot be read, as the detector itself would refuse to start."""
    settings = config.plugin(XRAY_PLUGIN).settings
    own = settings.get("calibration") or {}
    path = str(settings.get("calibrations_file") or "")
    try:
        return DarkLevels(load_scanners(path) if path else (), own if isinstance(own, Mapping) else {})
    except ValueError as error:
        log.error("screening: threats are projected above a dark level of 0: %s", error)
        return DarkLevels()


def threats_for(config: Config) -> list[ThreatImage]:
    """The threat images the screening settings name: ``threat_dir``, else the xray-library artefact's
    entries; an empty list (logged) when there are none to read, so screening goes on without projection."""
    settings = config.screening
    folder = str(artefacts.locate(ARTEFACT_NAME, settings.threat_dir, config.artefacts_dir))
    try:
        images = threat_images(load_library_dir(folder), settings.labels)
    except Exception as error:  # any file in it unreadable (an empty .npy is an EOFError): say which
        log.error("screening: no threat images from %s, bags are shown without projection: %r", folder, error)
        return []
    if not images:
        log.error("screening: %s holds no threat of the classes %s", folder, settings.labels or "any")
    return images


def screening_feed(
    config: Config, client: aioredis.Redis, sensor: Sensor | None = None
) -> ScreeningFeed | None:
    """The worker's feed, or None when no lane is screened."""
    if not config.screening.lanes:
        return None
    return ScreeningFeed(
        client,
        config.namespace,
        config.screening,
        functools.partial(threats_for, config),
        darks=dark_levels(config),
        sensor=sensor,
    )


# --------------------------------------------------------------------------- the desk (gateway)


class ScreeningError(ValueError):
    """An answer the desk cannot take; ``status`` is the HTTP status that says why."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


# The officer's bag: the one handed to them and not answered, else the oldest waiting, handed to them
# with its time-to-live renewed; false when none waits. One step, so that two requests of one officer
# (two gateways, a double click) cannot take two bags.
# KEYS: queue, the officer's current bag; ARGV: officer, now, ttl s, item key prefix.
_NEXT = """
local current = redis.call('GET', KEYS[2])
if current then
  local held = redis.call('HMGET', ARGV[4] .. current, 'served_to', 'answer')
  if held[1] == ARGV[1] and not held[2] then return current end
end
while true do
  local id = redis.call('RPOP', KEYS[1])
  if not id then return false end
  local key = ARGV[4] .. id
  if redis.call('EXISTS', key) == 1 then
    redis.call('HSET', key, 'served_to', ARGV[1], 'served_at', ARGV[2])
    redis.call('EXPIRE', key, ARGV[3])
    redis.call('SET', KEYS[2], id, 'EX', ARGV[3])
    return id
  end
end
"""
# Record an answer once, with its tallies; 1 recorded, 0 answered already, -1 handed to another
# officer, -2 no such bag. KEYS: item, tally, answers, the officer's current bag; ARGV: officer, answer,
# answers field, seconds field, response s, answers kept, item id, how long an answered bag's images stay.
_ANSWER = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -2 end
if redis.call('HGET', KEYS[1], 'served_to') ~= ARGV[1] then return -1 end
if redis.call('HSETNX', KEYS[1], 'answer', ARGV[2]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[2], ARGV[3], 1)
redis.call('HINCRBYFLOAT', KEYS[2], ARGV[4], ARGV[5])
redis.call('LPUSH', KEYS[3], ARGV[2])
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[6]) - 1)
if redis.call('GET', KEYS[4]) == ARGV[7] then redis.call('DEL', KEYS[4]) end
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 or ttl > tonumber(ARGV[8]) then redis.call('EXPIRE', KEYS[1], ARGV[8]) end
return 1
"""


# The bags waiting: the queue's ids whose images are still kept; the ids of bags that expired while
# they waited are taken off. KEYS: queue; ARGV: item key prefix.
_WAITING = """
local waiting = 0
for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if redis.call('EXISTS', ARGV[1] .. id) == 1 then
    waiting = waiting + 1
  else
    redis.call('LREM', KEYS[1], 0, id)
  end
end
return waiting
"""


class ScreeningDesk:
    """Hands out queued bags to screeners, one at a time each, and scores their answers."""

    def __init__(
        self,
        client: aioredis.Redis,
        namespace: str,
        settings: ScreeningConfig,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.prefix = _prefix(namespace)
        self.settings = settings
        self.clock = clock

    def _item(self, item_id: str) -> str:
        return f"{self.prefix}item:{item_id}"

    def _current(self, officer: str) -> str:
        return f"{self.prefix}current:{officer}"

    async def waiting(self) -> int:
        """The bags waiting, those that expired while they waited taken off the queue."""
        waiting = await self.client.eval(_WAITING, 1, f"{self.prefix}queue", self._item(""))
        return int(waiting)

    async def next(self, officer: str) -> dict[str, Any] | None:
        """The officer's bag: the one handed out and not yet answered, else the oldest waiting; None when
        the queue is empty."""
        officer = _officer(officer)
        ttl_s = math.ceil(self.settings.item_ttl_s)
        item = await self.client.eval(
            _NEXT,
            2,
            f"{self.prefix}queue",
            self._current(officer),
            officer,
            repr(self.clock()),
            ttl_s,
            self._item(""),
        )
        if item is None:
            return None
        item_id = _text(item)
        fields = await self.client.hmget(self._item(item_id), "source_id", "queued_at", "scale")
        if fields[2] is None:  # expired in the moment since (a ttl of seconds): try the next one
            return await self.next(officer)
        return {
            "item_id": item_id,
            "source_id": _text(fields[0]),
            "queued_at": float(_text(fields[1])),
            "scale": float(_text(fields[2])),
        }

    async def image(self, item_id: str, view: str, officer: str | None = None) -> bytes | None:
        """A bag's image; with ``officer`` named (a logged-in screener), only if it was handed to them."""
        served_to, raw = await self.client.hmget(
            self._item(item_id), "served_to", "colour" if view == "colour" else "grey"
        )
        if raw is None or (officer is not None and (served_to is None or _text(served_to) != officer)):
            return None
        return _raw(raw)

    async def answer(
        self, item_id: str, officer: str, threat_called: bool, mark: tuple[float, float] | None = None
    ) -> dict[str, Any]:
        """Score the officer's answer on a bag handed to them and reveal what it held; ScreeningError
        (400 a threat called without its mark, 404 no such bag, 403 handed to another officer, 409
        answered already)."""
        officer = _officer(officer)
        key = self._item(item_id)
        fields = await self.client.hmget(
            key, "served_to", "served_at", "tip", "frame_id", "source_id", "scale"
        )
        if fields[3] is None:
            raise ScreeningError(
                f"no bag {item_id} on the screening queue (answered long ago, or never)", 404
            )
        if fields[0] is None or _text(fields[0]) != officer:
            raise ScreeningError(f"bag {item_id} was not handed to {officer}", 403)
        tip = json.loads(_text(fields[2])) if fields[2] else None
        try:
            result = score(tip, threat_called, mark)
        except ValueError as error:
            raise ScreeningError(str(error), 400) from None
        response_s = max(0.0, self.clock() - float(_text(fields[1])))
        threat_class = tip["label"] if tip else NO_THREAT
        answer = {
            "item_id": item_id,
            "officer": officer,
            "frame_id": _text(fields[3]),
            "source_id": _text(fields[4]),
            "threat_called": threat_called,
            "mark": list(mark) if mark is not None else None,
            "result": result,
            "threat_class": threat_class,
            "response_s": round(response_s, 3),
            "answered_at": self.clock(),
            "tip": tip,
        }
        recorded = await self.client.eval(
            _ANSWER,
            4,
            key,
            f"{self.prefix}tally",
            f"{self.prefix}answers",
            self._current(officer),
            officer,
            json.dumps(answer),
            f"answers|{officer}|{threat_class}|{result}",
            f"seconds|{officer}|{threat_class}",
            repr(response_s),
            self.settings.answers_kept,
            item_id,
            ANSWERED_KEEP_S,
        )
        if recorded != 1:
            why = {
                0: (f"bag {item_id} was answered already", 409),
                -1: (f"bag {item_id} was not handed to {officer}", 403),
            }
            raise ScreeningError(*why.get(int(recorded), (f"no bag {item_id} on the screening queue", 404)))
        return {**answer, "scale": float(_text(fields[5]))}

    async def scores(self) -> list[Score]:
        raw = await self.client.hgetall(f"{self.prefix}tally")
        return scores_from_tally({_text(k): _text(v) for k, v in raw.items()})


def _officer(name: str) -> str:
    name = name.strip()
    if not name:
        raise ScreeningError("the officer who screens must be named", 400)
    return name


def _raw(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# --------------------------------------------------------------------------- the page


def add_screening_routes(app: web.Application, desk: ScreeningDesk) -> None:
    """``/screening``: the screener's page, and its JSON API under ``/api/screening``."""
    page = resources.files("smartcustoms.runtime").joinpath("screening.html").read_text()
    routes = web.RouteTableDef()

    def officer_of(request: web.Request, body: Mapping[str, Any]) -> str:
        session = request.get(SESSION_KEY)  # with officer_auth on, the officer is the session's account
        return session.name if session is not None else str(body.get("officer", ""))

    @routes.get("/screening")
    async def index(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    @routes.post("/api/screening/next")
    async def next_bag(request: web.Request) -> web.Response:
        body = await json_object(request)
        try:
            shown = await desk.next(officer_of(request, body))
        except ScreeningError as error:
            raise web.HTTPBadRequest(text=str(error)) from None
        return web.json_response({"item": shown, "waiting": await desk.waiting()})

    @routes.get("/api/screening/{item_id}/image")
    async def image(request: web.Request) -> web.Response:
        session = request.get(SESSION_KEY)  # a logged-in screener sees only the bags handed to them
        officer = None if session is None or session.account.may("supervisor") else session.name
        data = await desk.image(request.match_info["item_id"], request.query.get("view", "colour"), officer)
        if data is None:
            raise web.HTTPNotFound(text="no such bag handed to you on the screening queue")
        return web.Response(body=data, content_type="image/png")

    @routes.post("/api/screening/{item_id}/answer")
    async def answer(request: web.Request) -> web.Response:
        body = await json_object(request)
        called = body.get("threat")
        if not isinstance(called, bool):
            raise web.HTTPBadRequest(text="threat must be true or false")
        try:
            answered = await desk.answer(
                request.match_info["item_id"], officer_of(request, body), called, _mark(body.get("mark"))
            )
        except ScreeningError as error:
            raise _http(error) from None
        return web.json_response(answered)

    @routes.get("/api/screening/scores")
    async def scores(request: web.Request) -> web.Response:
        """Every officer's scores for a supervisor (or with officer_auth off); a screener's own else."""
        session = request.get(SESSION_KEY)
        own = None if session is None or session.account.may("supervisor") else session.name
        return web.json_response([s.to_json() for s in await desk.scores() if own in (None, s.officer)])

    app.add_routes(routes)


def _http(error: ScreeningError) -> web.HTTPException:
    kinds: dict[int, type[web.HTTPException]] = {
        403: web.HTTPForbidden,
        404: web.HTTPNotFound,
        409: web.HTTPConflict,
    }
    return kinds.get(error.status, web.HTTPBadRequest)(text=str(error))


def _mark(value: object) -> tuple[float, float] | None:
    """Where the screener marked the threat, frame pixels ``[x, y]``; None when not marked."""
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value)
    ):
        raise web.HTTPBadRequest(text="mark must be [x, y] in frame pixels")
    return float(value[0]), float(value[1])


# --------------------------------------------------------------------------- the metrics


class ScreeningCollector(Collector):
    """Exports the screening tallies at scrape time: answers by officer, threat class and result, and
    their response times' sum; every gateway shares the same counts."""

    def __init__(self, redis_url: str, namespace: str) -> None:
        import redis as sync_redis

        self._client = sync_redis.Redis.from_url(redis_url, socket_timeout=2.0)
        self._key = f"{_prefix(namespace)}tally"

    def collect(self):  # type: ignore[no-untyped-def]  # prometheus_client's Collector is untyped
        answers = CounterMetricFamily(
            SCREENING_ANSWERS.name, SCREENING_ANSWERS.documentation, labels=list(SCREENING_ANSWERS.labels)
        )
        seconds = CounterMetricFamily(
            SCREENING_RESPONSE_SECONDS.name,
            SCREENING_RESPONSE_SECONDS.documentation,
            labels=list(SCREENING_RESPONSE_SECONDS.labels),
        )
        tally = {_text(k): _text(v) for k, v in self._client.hgetall(self._key).items()}
        for entry in scores_from_tally(tally):
            for result, count in sorted(entry.results.items()):
                answers.add_metric([entry.officer, entry.threat_class, result], count)
            seconds.add_metric([entry.officer, entry.threat_class], entry.response_s_total)
        yield answers
        yield seconds


# --------------------------------------------------------------------------- the demo's line


def screening_line(config: Config, page_url: str) -> str:
    """The demo's line: the bags waiting for screeners and how many of them hold a projected threat."""
    import redis as sync_redis

    client = sync_redis.Redis.from_url(config.redis.url, socket_timeout=5.0)
    prefix = _prefix(config.namespace)
    try:
        queued = [_text(i) for i in client.lrange(f"{prefix}queue", 0, -1)]
        tips = [client.hget(f"{prefix}item:{item_id}", "tip") for item_id in queued]
    finally:
        client.close()
    waiting = [tip for tip in tips if tip is not None]  # not those that expired while they waited
    projected = [json.loads(_text(t))["label"] for t in waiting if t]
    lanes = ", ".join(f"{lane} {share:.0%} projected" for lane, share in config.screening.lanes.items())
    kinds = ", ".join(f"{projected.count(label)} {label}" for label in sorted(set(projected)))
    return (
        f"screening ({lanes}): {len(waiting)} bags wait for screeners at {page_url}, "
        f"{len(projected)} with a projected threat{f' ({kinds})' if kinds else ''}"
    )
