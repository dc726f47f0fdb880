"""Where items come from: export files (JSON Lines, CSV), RSS/Atom feeds, and a JSON listings API.

Every source is an async iterator of ``Fetched`` (the item, its image bytes or None) with its own
``FeedStats``. Bad input is counted and skipped, never raised: a line that is not JSON, a CSV row that
does not fit the header, a feed that does not parse, an image that does not come. HTTP requests time
out (``timeout_s``), are retried with the SDK's backoff on timeouts and 5xx, and wait ``Retry-After``
on 429 (at most ``max_wait_s``); a request that still fails ends this poll of the source, which keeps
its resume point. The listings API is paged by cursor, ``GET {url}?cursor=C&limit=N`` answering
``{"items": [...], "next": C2 or null}``; the cursor after each page is kept in a ``ResumePoints``
store (Redis in the runtime), so a restarted poller goes on where it stopped.
"""

from __future__ import annotations

import asyncio
import csv
import json
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urljoin

import aiohttp

from smartcustoms.core.listing_images import LISTING_KIND
from smartcustoms.hardware.sdk.retry import RetryPolicy

from .items import FeedStats

__all__ = [
    "CsvSource",
    "Fetched",
    "HttpFetcher",
    "JsonLinesSource",
    "ListingsApiSource",
    "MemoryResumePoints",
    "RedisResumePoints",
    "ResumePoints",
    "RssSource",
    "Source",
]

DEFAULT_RETRY = RetryPolicy(initial_backoff_s=0.2, max_backoff_s=5.0, max_attempts=4)
MAX_RESPONSE_BYTES = 8 * 1024 * 1024


@dataclass
class Fetched:
    item: Any
    image: bytes | None = None


class Source(Protocol):
    name: str
    stats: FeedStats

    def fetch(self) -> AsyncIterator[Fetched]: ...


class ResumePoints(Protocol):
    """Where a poller keeps its cursor between runs."""

    def get(self, source: str) -> str | None: ...

    def put(self, source: str, cursor: str) -> None: ...


@dataclass
class MemoryResumePoints:
    cursors: dict[str, str] = field(default_factory=dict)

    def get(self, source: str) -> str | None:
        return self.cursors.get(source)

    def put(self, source: str, cursor: str) -> None:
        self.cursors[source] = cursor


class RedisResumePoints:
    """Cursors in Redis, at ``<prefix>feeds:resume:<source>``."""

    def __init__(self, client: Any, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    def get(self, source: str) -> str | None:
        raw = self.client.get(f"{self.prefix}feeds:resume:{source}")
        return raw.decode() if isinstance(raw, bytes) else raw

    def put(self, source: str, cursor: str) -> None:
        self.client.set(f"{self.prefix}feeds:resume:{source}", cursor)


# ------------------------------------------------------------------------------------------ files


class JsonLinesSource:
    """One JSON object a line; ``image_file`` (relative to the file) is read as the item's image."""

    def __init__(self, path: Path, name: str = "") -> None:
        self.path = path
        self.name = name or f"jsonl-{path.stem}"
        self.stats = FeedStats()

    async def fetch(self) -> AsyncIterator[Fetched]:
        with self.path.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                except json.JSONDecodeError as error:
                    self.stats.malformed += 1
                    self.stats.note(f"{self.path}: {error}")
                    continue
                yield Fetched(item, _local_image(self.path, item, self.stats))


class CsvSource:
    """A CSV export with a header row; a row with more cells than the header is malformed."""

    def __init__(self, path: Path, name: str = "") -> None:
        self.path = path
        self.name = name or f"csv-{path.stem}"
        self.stats = FeedStats()

    async def fetch(self) -> AsyncIterator[Fetched]:
        with self.path.open(encoding="utf-8", errors="replace", newline="") as handle:
            for row in csv.DictReader(handle):
                if None in row:  # cells beyond the header
                    self.stats.malformed += 1
                    continue
                yield Fetched(dict(row), _local_image(self.path, row, self.stats))


def _local_image(base: Path, item: Any, stats: FeedStats) -> bytes | None:
    name = item.get("image_file") if isinstance(item, dict) else None
    if not name:
        return None
    try:
        return (base.parent / str(name)).read_bytes()
    except OSError as error:
        stats.broken_images += 1
        stats.note(f"{name}: {error.strerror}")
        return None


# ------------------------------------------------------------------------------------------ HTTP


class HttpFetcher:
    """GET with a timeout, retries with backoff on timeouts and 5xx, and Retry-After on 429."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        stats: FeedStats,
        *,
        timeout_s: float = 10.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        max_wait_s: float = 30.0,
        rng: random.Random | None = None,
    ) -> None:
        self.session = session
        self.stats = stats
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.retry = retry
        self.max_wait_s = max_wait_s
        self.rng = rng or random.Random()

    async def get(self, url: str, params: dict[str, str] | None = None) -> bytes | None:
        """The body of a 200 answer, or None once the retries are spent or the answer is final (4xx)."""
        attempt = 0
        while True:
            attempt += 1
            wait_s = self.retry.delay_s(attempt, self.rng)
            try:
                async with self.session.get(url, params=params, timeout=self.timeout) as answer:
                    if answer.status == 200:
                        return await answer.content.read(MAX_RESPONSE_BYTES)
                    if answer.status == 429:
                        self.stats.rate_limited += 1
                        wait_s = _retry_after_s(answer.headers.get("Retry-After"), wait_s, self.max_wait_s)
                    elif answer.status >= 500:
                        self.stats.server_errors += 1
                    else:
                        self.stats.failures += 1
                        self.stats.note(f"GET {url}: HTTP {answer.status}")
                        return None
                    problem = f"HTTP {answer.status}"
            except (TimeoutError, aiohttp.ClientError) as error:
                problem = type(error).__name__
            if self.retry.gives_up_after(attempt):
                self.stats.failures += 1
                self.stats.note(f"GET {url}: {problem}, gave up after {attempt} attempts")
                return None
            self.stats.retries += 1
            await asyncio.sleep(wait_s)


def _iso_date(parsed: Any) -> str:
    """feedparser's parsed time (a UTC struct_time) as an ISO date, "" without one."""
    return time.strftime("%Y-%m-%d", parsed) if parsed else ""


def _retry_after_s(header: str | None, default_s: float, max_wait_s: float) -> float:
    try:
        return min(max(0.0, float(header)), max_wait_s) if header else default_s
    except ValueError:
        return default_s  # an HTTP date: rare from APIs; the backoff is good enough


class RssSource:
    """An RSS or Atom feed, by URL (``http://``, ``https://``) or file path; entries become items."""

    def __init__(
        self,
        location: str,
        name: str = "",
        *,
        timeout_s: float = 10.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        kind: str = LISTING_KIND,
    ) -> None:
        self.location = location
        self.name = name or "rss"
        self.kind = kind  # the records' kind: listings (a platform's feed) or news_item (a news feed)
        self.stats = FeedStats()
        self.timeout_s = timeout_s
        self.retry = retry

    async def fetch(self) -> AsyncIterator[Fetched]:
        import feedparser  # type: ignore[import-untyped]  # feedparser ships no type information

        body = await self._body()
        if body is None:
            return
        parsed = feedparser.parse(body)
        if parsed.bozo and not parsed.entries:
            self.stats.malformed += 1
            self.stats.note(f"{self.location}: not a feed ({parsed.get('bozo_exception')})")
            return
        self.stats.pages += 1
        for entry in parsed.entries:
            item = {
                "id": entry.get("id") or entry.get("link"),
                "title": entry.get("title", ""),
                "description": entry.get("summary", ""),
                "link": entry.get("link", ""),
                "published": entry.get("published", ""),
                "date": _iso_date(entry.get("published_parsed") or entry.get("updated_parsed")),
                "author": entry.get("author", ""),
                "feed": parsed.feed.get("title", ""),
            }
            if not item["id"]:
                self.stats.malformed += 1
                continue
            yield Fetched(item)

    async def _body(self) -> bytes | None:
        if not self.location.startswith(("http://", "https://")):
            try:
                return Path(self.location).read_bytes()
            except OSError as error:
                self.stats.failures += 1
                self.stats.note(f"{self.location}: {error.strerror}")
                return None
        async with aiohttp.ClientSession() as session:
            return await HttpFetcher(session, self.stats, timeout_s=self.timeout_s, retry=self.retry).get(
                self.location
            )


class ListingsApiSource:
    """A JSON listings API, paged by cursor, resumed from ``resume``; images fetched by ``image_url``."""

    def __init__(
        self,
        url: str,
        resume: ResumePoints,
        name: str = "",
        *,
        page_size: int = 100,
        max_pages: int = 1000,
        timeout_s: float = 10.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        max_wait_s: float = 30.0,
    ) -> None:
        self.url = url
        self.resume = resume
        self.name = name or "api"
        self.page_size = page_size
        self.max_pages = max_pages
        self.stats = FeedStats()
        self.timeout_s = timeout_s
        self.retry = retry
        self.max_wait_s = max_wait_s

    async def fetch(self) -> AsyncIterator[Fetched]:
        async with aiohttp.ClientSession() as session:
            http = HttpFetcher(
                session, self.stats, timeout_s=self.timeout_s, retry=self.retry, max_wait_s=self.max_wait_s
            )
            cursor = self.resume.get(self.name) or ""
            for _ in range(self.max_pages):
                page = await self._page(http, cursor)
                if page is None:
                    return
                items, cursor_next = page
                for item in items:
                    yield Fetched(item, await self._image(http, item))
                if cursor_next:
                    cursor = cursor_next
                    self.resume.put(self.name, cursor)  # after the page's items were handed on
                if not cursor_next or not items:
                    return

    async def _page(self, http: HttpFetcher, cursor: str) -> tuple[list[Any], str] | None:
        body = await http.get(self.url, {"cursor": cursor, "limit": str(self.page_size)})
        if body is None:
            return None
        try:
            page = json.loads(body)
            items, cursor_next = page["items"], page.get("next") or ""
            if not isinstance(items, list):
                raise TypeError("items is not a list")
        except (ValueError, KeyError, TypeError) as error:
            self.stats.malformed += 1
            self.stats.note(f"{self.url} cursor {cursor!r}: bad page ({error})")
            return None
        self.stats.pages += 1
        return items, str(cursor_next)

    async def _image(self, http: HttpFetcher, item: Any) -> bytes | None:
        path = item.get("image_url") if isinstance(item, dict) else None
        if not path:
            return None
        image = await http.get(urljoin(self.url, str(path)))
        if image is None:
            self.stats.broken_images += 1
        return image
