"""The plugin state contract, run against the memory twin and against a real redis-server."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from smartcustoms.core.state import MemoryState, PluginState, RedisState, WrongKeyKind, open_state
from smartcustoms.runtime.services import EmbeddedRedis

SHORT_TTL_S = 0.2
REDIS_EXPIRY_DEADLINE_S = 5.0  # expiry is checked by polling until then, never by a fixed sleep
HOUR_S = 3600.0


class FakeClock:
    def __init__(self) -> None:
        self.now_s = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now_s


class Backend:
    """Makes states on one backend and lets time pass for them."""

    def __init__(self, kind: str, redis_url: str | None) -> None:
        self.kind = kind
        self.redis_url = redis_url
        self.clock = FakeClock()
        self.base_prefix = f"sc:test-{uuid.uuid4().hex[:12]}:state:"
        self.states: list[PluginState] = []
        self.memory_stores: dict[str, MemoryState] = {}

    def make(self, plugin: str = "plugin") -> PluginState:
        """The state of `plugin`: one memory store per plugin, or a prefix per plugin on Redis."""
        if self.redis_url is None:
            return self.memory_stores.setdefault(plugin, MemoryState(clock=self.clock))
        state = open_state(self.redis_url, f"{self.base_prefix}{plugin}:")
        self.states.append(state)
        return state

    def wait_for(self, condition: Callable[[], bool], after_s: float) -> None:
        """Let `after_s` pass, then `condition` must hold: the fake clock jumps; on Redis, poll."""
        if self.redis_url is None:
            self.clock.now_s += after_s + 0.001
            assert condition()
            return
        deadline = time.monotonic() + after_s + REDIS_EXPIRY_DEADLINE_S
        while not condition():
            assert time.monotonic() < deadline, (
                f"condition still false {after_s + REDIS_EXPIRY_DEADLINE_S} s on"
            )
            time.sleep(0.02)  # poll interval, bounded by the deadline

    def close(self) -> None:
        if self.redis_url is not None:
            with redis.Redis.from_url(self.redis_url) as client:
                names = list(client.scan_iter(match=f"{self.base_prefix}*"))
                if names:
                    client.delete(*names)
        for state in self.states:
            state.close()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    redis_url = None
    if request.param == "redis":
        service: EmbeddedRedis = request.getfixturevalue("redis_service")
        redis_url = service.url
    made = Backend(request.param, redis_url)
    yield made
    made.close()


@pytest.fixture
def state(backend: Backend) -> PluginState:
    return backend.make()


# ---------------------------------------------------------------- values


def test_get_put_delete(state: PluginState) -> None:
    assert state.get("importer:42") is None
    state.put("importer:42", '{"risk": 0.5}')
    state.put("tag:7", "zone-B")
    assert state.get("importer:42") == '{"risk": 0.5}'
    state.put("importer:42", "é replaced")
    assert state.get_many(["tag:7", "missing", "importer:42"]) == ["zone-B", None, "é replaced"]
    assert state.get_many([]) == []
    state.delete("importer:42")
    state.delete("never-written")
    assert state.get_many(["importer:42", "tag:7"]) == [None, "zone-B"]


def test_put_with_ttl_expires(backend: Backend, state: PluginState) -> None:
    state.put("short", "v", ttl_s=SHORT_TTL_S)
    state.put("kept", "old", ttl_s=SHORT_TTL_S)
    state.put("kept", "new")  # a put without ttl_s drops the earlier expiry
    assert state.get_many(["short", "kept"]) == ["v", "new"]
    backend.wait_for(lambda: state.get("short") is None, SHORT_TTL_S)
    assert state.get("kept") == "new"


def test_memory_ttl_expires_by_its_clock_not_before() -> None:
    clock = FakeClock()
    state = MemoryState(clock=clock)
    state.put("k", "v", ttl_s=10.0)
    clock.now_s += 9.999
    assert state.get("k") == "v"
    clock.now_s += 0.001
    assert state.get("k") is None


# ---------------------------------------------------------------- increment


def test_increment_returns_new_values(state: PluginState) -> None:
    assert state.increment("crossings") == 1.0
    assert state.increment("crossings") == 2.0
    assert state.increment("crossings", 5) == 7.0
    assert state.get("crossings") == "7"


def test_increment_with_float_amounts(state: PluginState) -> None:
    assert state.increment("value", 1.5) == 1.5
    assert state.increment("value", -0.25) == 1.25
    assert state.get("value") == "1.25"
    assert state.increment("decimal", 0.1) == 0.1
    assert state.increment("decimal", 0.2) == 0.3  # decimal addition, as Redis's INCRBYFLOAT
    assert state.get("decimal") == "0.3"


def test_increment_a_put_number_and_reject_text(state: PluginState) -> None:
    state.put("n", "10")
    assert state.increment("n", 2.5) == 12.5
    state.put("text", "abc")
    with pytest.raises(ValueError, match="not a number"):
        state.increment("text")
    assert state.get("text") == "abc"


def test_increment_ttl_sets_expiry_and_later_increments_keep_it(backend: Backend, state: PluginState) -> None:
    assert state.increment("c", ttl_s=SHORT_TTL_S) == 1.0
    assert state.increment("c") == 2.0  # no ttl_s: the expiry set above stays
    assert state.increment("kept") == 1.0
    backend.wait_for(lambda: state.get("c") is None, SHORT_TTL_S)
    assert state.get("kept") == "1"
    assert state.increment("c") == 1.0


# ---------------------------------------------------------------- windows


def test_apply_once_applies_a_token_only_once(state: PluginState) -> None:
    increments = {"n:hs": 1.0, "sum:hs": 2.5}
    assert state.apply_once("frame-1", increments, {"first:x": 50.0}, token_ttl_s=HOUR_S)
    assert not state.apply_once("frame-1", increments, {"first:x": 10.0}, token_ttl_s=HOUR_S)
    assert state.get_many(["n:hs", "sum:hs", "first:x"]) == ["1", "2.5", "50.0"]
    assert state.apply_once("frame-2", {"n:hs": 2.0}, {"first:x": 40.0}, token_ttl_s=HOUR_S)
    assert state.apply_once("frame-3", {}, {"first:x": 45.0}, token_ttl_s=HOUR_S)  # not lower: kept
    assert state.get_many(["n:hs", "first:x"]) == ["3", "40.0"]


def test_read_then_apply_once_reads_as_before_its_own_writes(state: PluginState) -> None:
    state.put("seen", "7")
    reads = ["n:hs", "seen", "first:x", "never"]
    values, applied = state.read_then_apply_once(
        reads, "frame-1", {"n:hs": 2.0, "new:c": 0.5}, {"first:x": 50.0}, token_ttl_s=HOUR_S
    )
    assert applied and values == [None, "7", None, None]  # as the keys stood before the writes
    values, applied = state.read_then_apply_once(
        reads, "frame-2", {"n:hs": 1.25}, {"first:x": 60.0}, token_ttl_s=HOUR_S
    )
    assert applied and values == ["2", "7", "50.0", None]
    values, applied = state.read_then_apply_once(  # redelivered: reads what it wrote, adds nothing
        reads, "frame-2", {"n:hs": 1.25}, {"first:x": 10.0}, token_ttl_s=HOUR_S
    )
    assert not applied and values == ["3.25", "7", "50.0", None]
    assert state.get_many(["n:hs", "new:c", "first:x"]) == ["3.25", "0.5", "50.0"]
    assert state.read_then_apply_once([], "frame-3", {}, token_ttl_s=HOUR_S) == ([], True)


def test_read_then_apply_once_refuses_before_writing(state: PluginState) -> None:
    state.put("text", "not a number")
    state.window_add("w", "e1", 100.0, window_s=HOUR_S)
    with pytest.raises(ValueError, match="not a number"):
        state.read_then_apply_once(["n"], "frame", {"n": 1.0, "text": 1.0}, token_ttl_s=HOUR_S)
    with pytest.raises(WrongKeyKind):  # a window holds no value: a counter or a minimum may not go there
        state.read_then_apply_once(["n"], "frame", {"n": 1.0}, {"w": 5.0}, token_ttl_s=HOUR_S)
    with pytest.raises(ValueError, match="not a number"):
        state.read_then_apply_once(["n"], "frame", {"n": 1.0}, {"text": 5.0}, token_ttl_s=HOUR_S)
    assert state.get_many(["n", "text"]) == [None, "not a number"]
    assert state.window_count("w", window_s=HOUR_S, as_of_s=200.0) == 1
    assert state.read_then_apply_once(["n"], "frame", {"n": 1.0}, token_ttl_s=HOUR_S) == ([None], True)


def test_counters_sum_as_numbers_and_read_back(state: PluginState) -> None:
    """Redis's batch script sums in doubles (the shortest text that reads back, 17 digits at most);
    MemoryState in decimal, written as INCRBYFLOAT writes (17 decimals at most)."""
    state.apply_once("a", {"x": 0.1, "big": 2.0**60, "neg": -2.5}, token_ttl_s=HOUR_S)
    state.apply_once("b", {"x": 0.2, "big": 1.0, "neg": 1.25}, token_ttl_s=HOUR_S)
    x, big, neg = state.get_many(["x", "big", "neg"])
    assert x is not None and float(x) == pytest.approx(0.3, rel=1e-15, abs=0) and len(x) <= 19
    assert big is not None and float(big) == 2.0**60 and neg == "-1.25"


@pytest.mark.parametrize("stored", ["nan", "inf", "-Infinity", " 5", "5 ", "0x10", "", "1,5"])
def test_a_counter_or_minimum_holding_anything_but_a_number_is_refused(
    state: PluginState, stored: str
) -> None:
    """As INCRBYFLOAT reads a number: no NaN or infinity, no spaces, no hex; nothing is written, and
    the error names the key at fault, not the token."""
    state.put("odd", stored)
    for counters, minimums in (({"ok": 1.0, "odd": 1.0}, {}), ({"ok": 1.0}, {"odd": 2.0})):
        with pytest.raises(ValueError, match="'odd' holds a value that is not a number"):
            state.read_then_apply_once(["ok"], "frame", counters, minimums, token_ttl_s=HOUR_S)
    assert state.get_many(["ok", "odd"]) == [None, stored]


def test_a_sum_past_a_double_is_refused(state: PluginState) -> None:
    state.apply_once("a", {"huge": 1e308}, token_ttl_s=HOUR_S)
    with pytest.raises(ValueError, match="'huge': the sum would not be a finite number"):
        state.apply_once("b", {"fine": 1.0, "huge": 1e308}, token_ttl_s=HOUR_S)
    assert state.get_many(["fine"]) == [None]
    assert state.apply_once("b", {"fine": 1.0}, token_ttl_s=HOUR_S)  # the token was not spent


def test_a_token_applied_before_changes_nothing_whatever_the_keys_hold(state: PluginState) -> None:
    assert state.apply_once("frame", {"n": 1.0}, token_ttl_s=HOUR_S)
    state.put("n", "not a number now")
    state.window_add("w", "e1", 100.0, window_s=HOUR_S)
    values, applied = state.read_then_apply_once(["n"], "frame", {"n": 1.0, "w": 1.0}, token_ttl_s=HOUR_S)
    assert (values, applied) == (["not a number now"], False)


def test_a_key_both_counted_and_kept_at_its_minimum_takes_the_lower_of_its_sum_and_the_minimum(
    state: PluginState,
) -> None:
    state.put("k", "10")
    assert state.apply_once("t1", {"k": -8.0}, {"k": 5.0}, token_ttl_s=HOUR_S)
    assert state.get("k") == "2"  # the sum, 2, is below the minimum offered
    assert state.apply_once("t2", {"k": 5.0}, {"k": 4.0}, token_ttl_s=HOUR_S)
    assert float(state.get("k") or "nan") == 4.0  # the sum, 7, is above it


def test_batch_calls_of_thousands_of_keys_awkward_in_json(state: PluginState) -> None:
    """A batch's reads and writes travel whole (RedisState packs them into one script argument each)."""
    keys = [f'c:{i}:é "q" \\ / \t{{}}[]' for i in range(2500)]  # more than a script's chunk of 1,000
    increments = {key: float(i) + 0.25 for i, key in enumerate(keys)}
    minimums = {f"first:{i}:😀": 100.0 + i for i in range(1200)}
    assert state.apply_once("big", increments, minimums, token_ttl_s=HOUR_S)
    assert not state.apply_once("big", increments, minimums, token_ttl_s=HOUR_S)
    got = state.get_many([*keys, "never", *minimums])
    assert got[:3] == ["0.25", "1.25", "2.25"] and got[2499] == "2499.25"
    assert got[2500] is None and got[2501:] == [repr(100.0 + i) for i in range(1200)]
    state.put("odd", 'a "quoted"\nvalue é 😀 \\ /')
    state.put("empty", "")
    assert state.get_many(["odd", "empty", "never"]) == ['a "quoted"\nvalue é 😀 \\ /', "", None]


def test_apply_once_on_text_changes_nothing(state: PluginState) -> None:
    state.put("text", "not a number")
    with pytest.raises(ValueError, match="not a number"):
        state.apply_once("frame", {"n": 1.0, "text": 1.0}, token_ttl_s=HOUR_S)
    assert state.get_many(["n", "text"]) == [None, "not a number"]
    assert state.apply_once("frame", {"n": 1.0}, token_ttl_s=HOUR_S)  # the token was not spent


def test_apply_once_token_expires(backend: Backend, state: PluginState) -> None:
    assert state.apply_once("frame", {"n": 1.0}, token_ttl_s=SHORT_TTL_S)
    backend.wait_for(lambda: state.apply_once("frame", {"n": 1.0}, token_ttl_s=HOUR_S), SHORT_TTL_S)
    assert state.get("n") == "2"


def test_apply_once_on_a_window_key_changes_nothing(state: PluginState) -> None:
    state.window_add("w", "e1", 100.0, window_s=HOUR_S)
    with pytest.raises(WrongKeyKind):
        state.apply_once("frame", {"n": 1.0, "w": 1.0}, token_ttl_s=HOUR_S)
    assert state.get("n") is None


def test_window_add_is_idempotent_per_event_id(state: PluginState) -> None:
    state.window_add("importer:42", "decl-1", 100.0, 2.0, window_s=HOUR_S)
    state.window_add("importer:42", "decl-1", 100.0, 5.0, window_s=HOUR_S)  # redelivered, new value
    state.window_add("importer:42", "decl-2", 101.0, window_s=HOUR_S)
    assert state.window_count("importer:42", window_s=HOUR_S, as_of_s=200.0) == 2
    assert state.window_sum("importer:42", window_s=HOUR_S, as_of_s=200.0) == 6.0
    state.window_add("importer:42", "decl-1", 300.0, 5.0, window_s=HOUR_S)  # same id, moved later
    assert state.window_count("importer:42", window_s=HOUR_S, as_of_s=200.0) == 1
    assert state.window_sum("importer:42", window_s=HOUR_S, as_of_s=301.0) == 6.0


def test_window_queries_are_point_in_time(state: PluginState) -> None:
    """As of t=110 with a 10 s window: events in [100, 110) only, whatever the write order."""
    events = {
        "after": (112.0, 1000.0),
        "at-t": (110.0, 100.0),
        "edge": (100.0, 1.0),
        "before": (99.5, 10000.0),
    }
    events |= {"inside": (105.0, 2.0), "just-before-t": (109.5, 4.0)}
    for event_id in ["after", "inside", "at-t", "before", "just-before-t", "edge"]:
        at_s, value = events[event_id]
        state.window_add("plate:AB123", event_id, at_s, value, window_s=HOUR_S)
    assert state.window_count("plate:AB123", window_s=10.0, as_of_s=110.0) == 3
    assert state.window_sum("plate:AB123", window_s=10.0, as_of_s=110.0) == 7.0
    assert state.window_count("plate:AB123", window_s=10.0, as_of_s=112.0) == 3  # 105, 109.5, 110
    assert state.window_sum("plate:AB123", window_s=10.0, as_of_s=112.0) == 106.0
    assert state.window_count("plate:AB123", window_s=HOUR_S, as_of_s=1000.0) == 6


def test_window_sum_of_fractions_and_of_nothing(state: PluginState) -> None:
    assert state.window_sum("declared:eur", window_s=60.0, as_of_s=50.0) == 0.0
    assert state.window_count("declared:eur", window_s=60.0, as_of_s=50.0) == 0
    for index in range(10):
        state.window_add("declared:eur", f"d{index}", float(index), 0.1, window_s=60.0)
    assert state.window_sum("declared:eur", window_s=60.0, as_of_s=50.0) == 1.0  # exactly: fsum
    assert state.window_sum("declared:eur", window_s=5.0, as_of_s=9.0) == 0.5  # events 4 to 8


def test_window_add_trims_events_older_than_its_window(state: PluginState) -> None:
    state.window_add("tag:7", "old", 0.0, window_s=10.0)
    state.window_add("tag:7", "edge", 10.0, window_s=10.0)
    assert state.window_count("tag:7", window_s=10.0, as_of_s=5.0) == 1
    state.window_add("tag:7", "new", 20.0, window_s=10.0)  # trims before 20 - 10: "old" goes, "edge" stays
    assert state.window_count("tag:7", window_s=10.0, as_of_s=5.0) == 0
    assert state.window_count("tag:7", window_s=100.0, as_of_s=100.0) == 2


def test_window_expires_window_s_after_its_last_write(backend: Backend, state: PluginState) -> None:
    state.window_add("plate:XY", "c1", 1.0, window_s=SHORT_TTL_S)
    assert state.window_count("plate:XY", window_s=SHORT_TTL_S, as_of_s=1.1) == 1
    backend.wait_for(
        lambda: state.window_count("plate:XY", window_s=SHORT_TTL_S, as_of_s=1.1) == 0, SHORT_TTL_S
    )
    assert state.window_sum("plate:XY", window_s=SHORT_TTL_S, as_of_s=1.1) == 0.0


# ---------------------------------------------------------------- keys


def test_keys_are_isolated_between_prefixes(backend: Backend) -> None:
    first, second = backend.make("first"), backend.make("second")
    first.put("k", "first")
    first.increment("n")
    first.window_add("w", "e1", 1.0, window_s=HOUR_S)
    assert second.get_many(["k", "n"]) == [None, None]
    assert second.window_count("w", window_s=HOUR_S, as_of_s=2.0) == 0
    second.put("k", "second")
    assert first.get("k") == "first"


@pytest.mark.integration
def test_redis_keys_live_under_the_prefix(redis_service: EmbeddedRedis) -> None:
    prefix = f"sc:test-{uuid.uuid4().hex[:12]}:state:named:"
    state = open_state(redis_service.url, prefix)
    try:
        assert isinstance(state, RedisState)
        state.put("k", "v")
        state.window_add("w", "e1", 1.0, window_s=HOUR_S)
        assert state.client.get(f"{prefix}k") == b"v"
        assert sorted(state.client.scan_iter(match=f"{prefix}*")) == [
            f"{prefix}k".encode(),
            f"{prefix}w".encode(),
            f"{prefix}w\x00values".encode(),
        ]
        state.delete("w")
        assert list(state.client.scan_iter(match=f"{prefix}w*")) == []
        state.window_add("w", "e1", 1.0, window_s=HOUR_S)
        state.put("w", "value")  # a value replacing a window leaves none of it behind
        assert list(state.client.scan_iter(match=f"{prefix}w*")) == [f"{prefix}w".encode()]
    finally:
        state.client.delete(f"{prefix}k", f"{prefix}w")
        state.close()


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.get(""),
        lambda s: s.get_many(["ok", ""]),
        lambda s: s.put("", "v"),
        lambda s: s.delete(""),
        lambda s: s.increment(""),
        lambda s: s.window_add("", "e", 1.0, window_s=1.0),
        lambda s: s.window_count("", window_s=1.0, as_of_s=1.0),
        lambda s: s.window_sum("", window_s=1.0, as_of_s=1.0),
        lambda s: s.put("a\x00values", "v"),
        lambda s: s.apply_once("t", {"ok": 1.0, "": 1.0}, token_ttl_s=1.0),
        lambda s: s.apply_once("t", {}, {"a\x00values": 1.0}, token_ttl_s=1.0),
        lambda s: s.read_then_apply_once(["ok", "a\x00b"], "t", {}, token_ttl_s=1.0),
        lambda s: s.read_then_apply_once([], "", {}, token_ttl_s=1.0),
    ],
)
def test_invalid_key_rejected(state: PluginState, call: Callable[[PluginState], Any]) -> None:
    with pytest.raises(ValueError, match="state key"):
        call(state)


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.put("k", "v", ttl_s=0.0),
        lambda s: s.increment("k", ttl_s=-1.0),
        lambda s: s.increment("k", float("nan")),
        lambda s: s.window_add("k", "e", 1.0, window_s=0.0),
        lambda s: s.window_add("k", "e", float("inf"), window_s=1.0),
        lambda s: s.window_count("k", window_s=-1.0, as_of_s=1.0),
        lambda s: s.window_sum("k", window_s=1.0, as_of_s=float("nan")),
    ],
)
def test_invalid_times_rejected(state: PluginState, call: Callable[[PluginState], Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        call(state)
    assert state.get("k") is None


def test_a_key_holds_a_value_or_a_window(state: PluginState) -> None:
    state.put("value", "1")
    with pytest.raises(WrongKeyKind):
        state.window_add("value", "e", 1.0, window_s=HOUR_S)
    with pytest.raises(WrongKeyKind):
        state.window_count("value", window_s=HOUR_S, as_of_s=2.0)
    with pytest.raises(WrongKeyKind):
        state.window_sum("value", window_s=HOUR_S, as_of_s=2.0)
    state.window_add("window", "e", 1.0, window_s=HOUR_S)
    assert state.get_many(["window", "value"]) == [None, "1"]
    with pytest.raises(WrongKeyKind):
        state.increment("window")
    state.put("window", "replaced")  # put replaces a window, as delete removes one
    assert state.get("window") == "replaced"
    state.delete("window")
    state.window_add("window", "f", 1.0, 3.0, window_s=HOUR_S)
    assert state.window_sum("window", window_s=HOUR_S, as_of_s=2.0) == 3.0


def test_read_your_writes_within_a_batch(backend: Backend) -> None:
    writer, reader = backend.make("shared"), backend.make("shared")  # two actors of one pool
    for index, plate in enumerate(["AB1", "CD2", "AB1"]):
        at_s = 1000.0 + index
        writer.window_add(f"plate:{plate}", f"frame-{index}", at_s, window_s=HOUR_S)
        writer.put(f"last:{plate}", str(at_s))
        assert writer.increment("frames") == index + 1
        assert reader.window_count(f"plate:{plate}", window_s=HOUR_S, as_of_s=at_s + 1) == (
            2 if index == 2 else 1
        )
        assert reader.get(f"last:{plate}") == str(at_s)
    assert writer.get_many(["frames", "last:AB1", "last:CD2"]) == ["3", "1002.0", "1001.0"]


@pytest.mark.integration
def test_redis_windows_of_many_events(redis_service: EmbeddedRedis) -> None:
    """More events than one Lua unpack() takes: summed and trimmed in chunks."""
    prefix = f"sc:test-{uuid.uuid4().hex[:12]}:state:many:"
    state = open_state(redis_service.url, prefix)
    try:
        assert isinstance(state, RedisState)
        count = 9_500
        state.client.zadd(f"{prefix}w", {f"e{index}": float(index) for index in range(count)})
        state.client.hset(f"{prefix}w\x00values", mapping={f"e{index}": 0.5 for index in range(count)})
        assert state.window_count("w", window_s=HOUR_S * 10, as_of_s=float(count)) == count
        assert state.window_sum("w", window_s=HOUR_S * 10, as_of_s=float(count)) == count * 0.5
        state.window_add("w", "last", 100_000.0, 2.0, window_s=10.0)  # trims all 9,500 others
        assert state.window_sum("w", window_s=HOUR_S * 100, as_of_s=200_000.0) == 2.0
        assert state.client.hlen(f"{prefix}w\x00values") == 1
    finally:
        state.delete("w")
        state.close()
