"""Keyed state for plugins: the history a risk score is judged against.

A risk plugin scores one record at a time, but against history: an importer's declarations of the
last 90 days, a plate's crossings this week, the zone a tag was last read in. ``PluginState`` keeps
that history under keys the plugin chooses. ``RedisState`` keeps it in the runtime's Redis, shared by
every actor of the plugin's pool and every worker process; ``MemoryState`` is its fake twin for unit
tests, with the same semantics. Crossings of a plate in the 7 days before this one:

    state = open_state(config.redis.url, plugin_state_prefix(config.namespace, "plate_risk"))
    week_s = 7 * 86400.0
    key = f"plate:{crossing.plate}"
    state.window_add(key, crossing.frame_id, crossing.at_s, window_s=week_s)
    earlier = state.window_count(key, window_s=week_s, as_of_s=crossing.at_s)
    score = min(1.0, earlier / 10)

What every implementation promises:

- Read-your-writes: a write is applied before its call returns, so a read later in the same batch
  sees it, from this process or any other.
- Keys are non-empty strings without NUL characters (``ValueError`` otherwise). A key holds either a
  value (``put``, ``increment``) or a window of events (``window_add``): ``put`` and ``delete``
  replace or remove either kind; ``get`` sees no value under a window; ``increment`` on a window and
  window calls on a value raise ``WrongKeyKind``.
- Values are strings: plugins serialise as they like. Times and durations are seconds (floats);
  TTLs are rounded up to whole milliseconds, at least one.
"""

from __future__ import annotations

import abc
import contextlib
import json
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Context, Decimal, InvalidOperation
from typing import cast

import redis

__all__ = ["MemoryState", "PluginState", "RedisState", "WrongKeyKind", "open_state"]

# A window `key` is a sorted set at prefix + key (event id by at_s) and this hash beside it (event id
# -> value). Keys cannot hold NUL, so no key of a plugin is ever another key's companion hash.
_VALUES_SUFFIX = "\x00values"
_LUA_UNPACK_CHUNK = 1000  # Lua's unpack() fails beyond ~8,000 values: big lists go in chunks

_INCREMENT = """
-- KEYS: value; ARGV: amount, ttl_ms ('' keeps the current expiry)
local total = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
if ARGV[2] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return total
"""

# The two batch calls take their keys in one JSON argument, not in KEYS: redis-py packs and parses
# each argument and reply in Python, ~5 us apiece, which for the thousands of counters a batch of
# records touches was most of a risk plugin's time. A key named inside an argument is fine on one
# Redis node (the runtime's); Redis Cluster would refuse it.
_GET_MANY = f"""
-- ARGV: JSON array of keys (prefixed). Returns a JSON array of their values, false where none
local names, values = cjson.decode(ARGV[1]), {{}}
for first = 1, #names, {_LUA_UNPACK_CHUNK} do
  local chunk = redis.call('MGET', unpack(names, first, math.min(first + {_LUA_UNPACK_CHUNK - 1}, #names)))
  for i = 1, #chunk do values[#values + 1] = chunk[i] end
end
return cjson.encode(values)
"""

_APPLY_ONCE = f"""
-- KEYS: token. ARGV: token ttl_ms, the state's key prefix, then JSON arrays of keys without it and
-- of numbers as text: keys read first, counter keys, their amounts, the keys kept at their minimum,
-- their values. Returns {{JSON array of the values read, as they were before (false where none), 1
-- if the token was new and everything applied, else 0}}.
local prefix = ARGV[2]
local reads, counters, amounts = cjson.decode(ARGV[3]), cjson.decode(ARGV[4]), cjson.decode(ARGV[5])
local lows, values = cjson.decode(ARGV[6]), cjson.decode(ARGV[7])
for kind, names in ipairs({{reads, counters, lows}}) do
  for i = 1, #names do names[i] = prefix .. names[i] end
end
local function mget(names, into)
  for first = 1, #names, {_LUA_UNPACK_CHUNK} do
    local chunk = redis.call('MGET', unpack(names, first, math.min(first + {_LUA_UNPACK_CHUNK - 1}, #names)))
    for i = 1, #chunk do into[#into + 1] = chunk[i] end
  end
  return into
end
local read, held = mget(reads, {{}}), {{}}
for i = 1, #reads do held[reads[i]] = read[i] end
local unread = {{}}
for kind, names in ipairs({{counters, lows}}) do
  for i = 1, #names do if held[names[i]] == nil then unread[#unread + 1] = names[i] end end
end
local found = mget(unread, {{}})
for i = 1, #unread do held[unread[i]] = found[i] end
if redis.call('EXISTS', KEYS[1]) == 1 then return {{cjson.encode(read), 0}} end
-- Refuse before writing anything (a script stops half done on an error), naming the key by its place
-- ('[1:i]' the i-th counter, '[2:i]' the i-th minimum): a key without a string value must hold
-- nothing (one EXISTS for all of those), a value be a finite number as INCRBYFLOAT reads one (no
-- spaces, hex, nan or inf), and a new sum be finite.
local function number(text)
  if text == '' or text:find('[^%d%.eE%+%-]') then return nil end
  local n = tonumber(text)
  if n == nil or n ~= n or n == math.huge or n == -math.huge then return nil end
  return n
end
local empty, empty_at = {{}}, {{}}
for kind, names in ipairs({{counters, lows}}) do
  for i = 1, #names do
    local current = held[names[i]]
    if not current then
      empty[#empty + 1] = names[i]
      empty_at[#empty_at + 1] = '[' .. kind .. ':' .. i .. ']'
    elseif not number(current) then
      return redis.error_reply('ERR value is not a valid float [' .. kind .. ':' .. i .. ']')
    end
  end
end
for first = 1, #empty, {_LUA_UNPACK_CHUNK} do
  local last = math.min(first + {_LUA_UNPACK_CHUNK - 1}, #empty)
  if redis.call('EXISTS', unpack(empty, first, last)) > 0 then
    for i = first, last do
      if redis.call('EXISTS', empty[i]) == 1 then
        local kind_error = 'WRONGTYPE Operation against a key holding the wrong kind of value '
        return redis.error_reply(kind_error .. empty_at[i])
      end
    end
  end
end
-- New values summed here in double precision and written with one MSET a chunk, not one INCRBYFLOAT
-- a key: the shortest of 15 or 17 digits that reads back as the same double.
local function text(n)
  local short = string.format('%.15g', n)
  if tonumber(short) == n then return short end
  return string.format('%.17g', n)
end
local pairs_ = {{}}
for i = 1, #counters do
  local total = number(held[counters[i]] or '0') + tonumber(amounts[i])
  if total ~= total or total == math.huge or total == -math.huge then
    return redis.error_reply('ERR increment would produce NaN or Infinity [1:' .. i .. ']')
  end
  held[counters[i]] = text(total)  -- a key that is a minimum too is compared with its new value
  pairs_[#pairs_ + 1] = counters[i]
  pairs_[#pairs_ + 1] = held[counters[i]]
end
for i = 1, #lows do
  local current = held[lows[i]]
  if not current or tonumber(values[i]) < number(current) then
    pairs_[#pairs_ + 1] = lows[i]
    pairs_[#pairs_ + 1] = values[i]
  end
end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
for first = 1, #pairs_, {2 * _LUA_UNPACK_CHUNK} do
  redis.call('MSET', unpack(pairs_, first, math.min(first + {2 * _LUA_UNPACK_CHUNK - 1}, #pairs_)))
end
return {{cjson.encode(read), 1}}
"""

_WINDOW_ADD = f"""
-- KEYS: events (sorted set: event id by at_s), values (hash: event id -> value)
-- ARGV: at_s, event id, value, trim bound ('(' + at_s - window_s), ttl_ms
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[4])
for first = 1, #old, {_LUA_UNPACK_CHUNK} do
  local last = math.min(first + {_LUA_UNPACK_CHUNK - 1}, #old)
  redis.call('HDEL', KEYS[2], unpack(old, first, last))
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return 0
"""

_WINDOW_VALUES = f"""
-- KEYS: events, values (as in window_add); ARGV: lowest at_s, '(' + as_of_s (exclusive)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[2])
local values = {{}}
for first = 1, #ids, {_LUA_UNPACK_CHUNK} do
  local last = math.min(first + {_LUA_UNPACK_CHUNK - 1}, #ids)
  local chunk = redis.call('HMGET', KEYS[2], unpack(ids, first, last))
  for i = 1, #chunk do values[#values + 1] = chunk[i] end
end
return values
"""


class WrongKeyKind(TypeError):
    """A window call on a key that holds a value, or ``increment`` on a key that holds a window."""


class PluginState(abc.ABC):
    """Keyed state of one plugin, shared by every actor of its pool and every worker process.

    Plain values (``get``, ``put``, ``delete``, ``increment``) and windows of timestamped events
    (``window_add``, ``window_count``, ``window_sum``). The module docstring lists the rules every
    implementation follows: read-your-writes, valid keys, one kind of state per key.
    """

    def get(self, key: str) -> str | None:
        """The value under ``key``; None if it was never put, was deleted, expired, or is a window."""
        return self.get_many([key])[0]

    @abc.abstractmethod
    def get_many(self, keys: Sequence[str]) -> list[str | None]:
        """The values under ``keys``, in their order, in one round trip; None where ``get`` gives None."""

    @abc.abstractmethod
    def put(self, key: str, value: str, *, ttl_s: float | None = None) -> None:
        """Store ``value`` under ``key``, replacing what the key held (a value or a window).

        It expires ``ttl_s`` seconds from now, or never if ``ttl_s`` is None (an earlier expiry goes).
        """

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove what ``key`` holds, a value or a window; nothing happens if it holds nothing."""

    @abc.abstractmethod
    def increment(self, key: str, amount: float = 1.0, *, ttl_s: float | None = None) -> float:
        """Add ``amount`` to the number under ``key`` (0 if none) and return the new value.

        The value stays a decimal string (``get`` reads "1", "3.25"); Redis adds in long double and
        ``MemoryState`` in decimal, so the 17th decimal may differ. ``ttl_s`` (re)sets the expiry to
        ``ttl_s`` seconds from now; without it the key keeps the expiry it had, if any. Raises
        ``ValueError`` if the key holds a value that is not a number.

        Not idempotent: a redelivered record that increments again counts twice. Counts that must
        survive redelivery belong in a window, keyed by the record's id (``window_add``).
        """

    @abc.abstractmethod
    def apply_once(
        self,
        token: str,
        increments: Mapping[str, float],
        minimums: Mapping[str, float] | None = None,
        *,
        token_ttl_s: float,
    ) -> bool:
        """Add each of ``increments`` to its key and lower each key of ``minimums`` to its value (a
        key with no value takes it), all at once and only if ``token`` was not applied before.

        Returns whether it applied them. The batch form of ``increment``, and idempotent: a plugin
        passes one token per frame (its frame id), so a redelivered frame changes nothing, in one
        round trip however many keys it touches. ``token`` is remembered for ``token_ttl_s``; the
        counters and minimums never expire. Minimums keep a first-seen time: ``get`` reads them.
        Counters are summed in double precision on Redis (the shortest of 15 or 17 digits that reads
        back as the sum) and in decimal in ``MemoryState``.
        """

    @abc.abstractmethod
    def read_then_apply_once(
        self,
        keys: Sequence[str],
        token: str,
        increments: Mapping[str, float],
        minimums: Mapping[str, float] | None = None,
        *,
        token_ttl_s: float,
    ) -> tuple[list[str | None], bool]:
        """``get_many(keys)`` then ``apply_once(token, increments, minimums)``, all at once: the values
        as they were before the writes, and whether the writes applied.

        For a batch whose writes do not depend on what it reads (counts and sums it adds, first times
        it lowers): one round trip instead of two, and each key the writes touch is read once. A token
        applied before changes nothing, and the values read include what it wrote then.
        """

    @abc.abstractmethod
    def window_add(
        self, key: str, event_id: str, at_s: float, value: float = 1.0, *, window_s: float
    ) -> None:
        """Record event ``event_id`` at event time ``at_s`` with ``value`` in the window under ``key``.

        Idempotent per ``event_id``: adding an id again replaces its time and value, so a redelivered
        record is not counted twice. Events before this ``at_s - window_s`` are trimmed, and the whole
        key expires ``window_s`` seconds after its last write (by Redis's clock, or MemoryState's).
        Queries therefore see full history only with a ``window_s`` no longer than the one written
        with, and only back to ``window_s`` before the newest event written: a record arriving that
        late sees less.
        """

    @abc.abstractmethod
    def window_count(self, key: str, *, window_s: float, as_of_s: float) -> int:
        """The number of events with ``as_of_s - window_s <= at_s < as_of_s``, point-in-time.

        The upper bound is exclusive: a record scored as of its own event time never counts itself,
        nor any event at or after that time, whatever order they were written in.
        """

    @abc.abstractmethod
    def window_sum(self, key: str, *, window_s: float, as_of_s: float) -> float:
        """The sum of the values of the events ``window_count`` counts (0.0 if none)."""

    def close(self) -> None:  # noqa: B027  (optional hook, as httpx's BaseTransport.close)
        """Release what the state holds open (connections); calls after it may fail."""


# ---------------------------------------------------------------- argument checks, shared by both


def check_key(key: str) -> str:
    """``key``, if a plugin may use it: not empty, no NUL (reserved for the window companion)."""
    if not key:
        raise ValueError("a state key must not be empty")
    if "\x00" in key:
        raise ValueError(f"a state key must not contain NUL: {key!r}")
    return key


def _checked(keys: Iterable[str]) -> list[str]:
    """``keys`` as a list, if ``check_key`` passes them all (checked at once: batches hold thousands)."""
    listed = list(keys)
    if "" in listed or "\x00" in "".join(listed):
        for key in listed:
            check_key(key)
    return listed


def _finite(name: str, number: float) -> float:
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {number}")
    return number


def _positive(name: str, seconds: float) -> float:
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"{name} must be a positive number of seconds, got {seconds}")
    return seconds


def _ttl_ms(ttl_s: float) -> int:
    """Seconds to whole milliseconds, rounded up, at least 1 (round() first: 1.1 s is 1100 ms)."""
    return max(1, math.ceil(round(_positive("ttl_s", ttl_s) * 1000, 6)))


def _window_bounds(window_s: float, as_of_s: float) -> tuple[float, float]:
    """[lowest, highest) event times a query sees."""
    return _finite("as_of_s", as_of_s) - _positive("window_s", window_s), as_of_s


def _wrong_kind(key: str) -> WrongKeyKind:
    return WrongKeyKind(f"state key {key!r} holds the other kind of state (a value vs a window)")


def _not_a_number(key: str) -> ValueError:
    return ValueError(f"state key {key!r} holds a value that is not a number")


def _not_finite(key: str) -> ValueError:
    return ValueError(f"state key {key!r}: the sum would not be a finite number")


# ---------------------------------------------------------------- Redis


class RedisState(PluginState):
    """State in Redis, every key under ``prefix + key``: the caller gives each plugin its own prefix.

    ``client`` is synchronous (Ray actors are) and may decode responses or not; ``close`` closes it.
    Writes that touch several Redis keys run as Lua scripts, so no reader sees them half done.
    """

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._increment = client.register_script(_INCREMENT)
        self._window_add = client.register_script(_WINDOW_ADD)
        self._apply_once = client.register_script(_APPLY_ONCE)
        self._window_values = client.register_script(_WINDOW_VALUES)
        self._get_many = client.register_script(_GET_MANY)

    def get_many(self, keys: Sequence[str]) -> list[str | None]:
        if not keys:
            return []
        reply = self._get_many(args=[_json_array(map(self._name, keys))])
        return [None if value is False else value for value in json.loads(reply)]

    def put(self, key: str, value: str, *, ttl_s: float | None = None) -> None:
        name = self._name(key)
        pipe = self.client.pipeline(transaction=True)
        pipe.set(name, value, px=None if ttl_s is None else _ttl_ms(ttl_s))
        pipe.delete(name + _VALUES_SUFFIX)  # what is left of a window this value replaces
        pipe.execute()

    def delete(self, key: str) -> None:
        name = self._name(key)
        self.client.delete(name, name + _VALUES_SUFFIX)

    def increment(self, key: str, amount: float = 1.0, *, ttl_s: float | None = None) -> float:
        args = [_finite("amount", amount), "" if ttl_s is None else _ttl_ms(ttl_s)]
        with _translated_errors(key):
            return float(self._increment(keys=[self._name(key)], args=args))

    def apply_once(
        self,
        token: str,
        increments: Mapping[str, float],
        minimums: Mapping[str, float] | None = None,
        *,
        token_ttl_s: float,
    ) -> bool:
        return self.read_then_apply_once((), token, increments, minimums, token_ttl_s=token_ttl_s)[1]

    def read_then_apply_once(
        self,
        keys: Sequence[str],
        token: str,
        increments: Mapping[str, float],
        minimums: Mapping[str, float] | None = None,
        *,
        token_ttl_s: float,
    ) -> tuple[list[str | None], bool]:
        minimums = minimums or {}
        amounts = [repr(_finite("amount", amount)) for amount in increments.values()]
        lows = [repr(_finite("minimum", low)) for low in minimums.values()]
        args: list[str | int] = [_ttl_ms(token_ttl_s), self.prefix, _json_array(_checked(keys))]
        args += [_json_array(_checked(increments)), _json_array(amounts)]
        args += [_json_array(_checked(minimums)), _json_array(lows)]
        with _translated_errors(token, (list(increments), list(minimums))):
            read, applied = self._apply_once(keys=[self._name(token)], args=args)
        values = json.loads(read) or []  # cjson writes an empty array as {}
        return [None if value is False else value for value in values], bool(applied)

    def window_add(
        self, key: str, event_id: str, at_s: float, value: float = 1.0, *, window_s: float
    ) -> None:
        trim_before = f"({_finite('at_s', at_s) - _positive('window_s', window_s)!r}"
        args: list[str | float] = [at_s, event_id, _finite("value", value), trim_before, _ttl_ms(window_s)]
        with _translated_errors(key):
            self._window_add(keys=self._window_names(key), args=args)

    def window_count(self, key: str, *, window_s: float, as_of_s: float) -> int:
        lowest_s, as_of_s = _window_bounds(window_s, as_of_s)
        with _translated_errors(key):
            return self.client.zcount(self._name(key), lowest_s, f"({as_of_s!r}")

    def window_sum(self, key: str, *, window_s: float, as_of_s: float) -> float:
        lowest_s, as_of_s = _window_bounds(window_s, as_of_s)
        with _translated_errors(key):
            values = self._window_values(keys=self._window_names(key), args=[lowest_s, f"({as_of_s!r}"])
        return math.fsum(float(raw) for raw in cast(list[bytes | str | None], values) if raw is not None)

    def close(self) -> None:
        self.client.close()

    def _name(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _window_names(self, key: str) -> list[str]:
        name = self._name(key)
        return [name, name + _VALUES_SUFFIX]


def open_state(redis_url: str, prefix: str) -> RedisState:
    """State on the Redis at ``redis_url``, every key under ``prefix`` (one per plugin)."""
    return RedisState(redis.Redis.from_url(redis_url), prefix)


def _json_array(texts: Iterable[str]) -> str:
    """``texts`` as a JSON array for a script (``[]``, never cjson's ``{}`` for an empty table)."""
    return json.dumps(list(texts), ensure_ascii=False)


@contextlib.contextmanager
def _translated_errors(key: str, places: tuple[list[str], list[str]] | None = None) -> Iterator[None]:
    """Redis's errors for a key of the wrong kind, or not a number, as ``MemoryState`` raises them; a
    batch script names its key by its place, "[1:i]" in the first of ``places``, "[2:i]" the second."""
    try:
        yield
    except redis.ResponseError as error:  # scripts prefix the message: match inside it
        message = str(error)
        if places is not None and (place := re.search(r"\[([12]):(\d+)\]", message)):
            key = places[int(place.group(1)) - 1][int(place.group(2)) - 1]
        if "WRONGTYPE" in message:
            raise _wrong_kind(key) from error
        if "not a valid float" in message:
            raise _not_a_number(key) from error
        if "NaN or Infinity" in message:
            raise _not_finite(key) from error
        raise


# ---------------------------------------------------------------- memory


@dataclass
class _Value:
    text: str
    expires_at_s: float | None


@dataclass
class _Window:
    expires_at_s: float
    events: dict[str, tuple[float, float]] = field(default_factory=dict)  # event id -> (at_s, value)


class MemoryState(PluginState):
    """State in this process, the fake twin of ``RedisState``: same semantics, expiry by ``clock``.

    Thread-safe. Every instance is a store of its own, as if it had its own prefix.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._entries: dict[str, _Value | _Window] = {}
        self._lock = threading.Lock()

    def get_many(self, keys: Sequence[str]) -> list[str | None]:
        for key in keys:
            check_key(key)
        with self._lock:
            entries = [self._live(key) for key in keys]
        return [entry.text if isinstance(entry, _Value) else None for entry in entries]

    def put(self, key: str, value: str, *, ttl_s: float | None = None) -> None:
        check_key(key)
        with self._lock:
            self._entries[key] = _Value(value, None if ttl_s is None else self._expiry_s(ttl_s))

    def delete(self, key: str) -> None:
        check_key(key)
        with self._lock:
            self._entries.pop(key, None)

    def increment(self, key: str, amount: float = 1.0, *, ttl_s: float | None = None) -> float:
        check_key(key)
        _finite("amount", amount)
        with self._lock:
            entry = self._live(key)
            if isinstance(entry, _Window):
                raise _wrong_kind(key)
            total = _add_decimal(key, None if entry is None else entry.text, amount)
            kept_s = None if entry is None else entry.expires_at_s
            self._entries[key] = _Value(total, kept_s if ttl_s is None else self._expiry_s(ttl_s))
        return float(total)

    def apply_once(
        self,
        token: str,
        increments: Mapping[str, float],
        minimums: Mapping[str, float] | None = None,
        *,
        token_ttl_s: float,
    ) -> bool:
        return self.read_then_apply_once((), token, increments, minimums, token_ttl_s=token_ttl_s)[1]

    def read_then_apply_once(
        self,
        keys: Sequence[str],
        token: str,
        increments: Mapping[str, float],
        minimums: Mapping[str, float] | None = None,
        *,
        token_ttl_s: float,
    ) -> tuple[list[str | None], bool]:
        minimums = minimums or {}
        for key in (*keys, token, *increments, *minimums):
            check_key(key)
        for amount in increments.values():
            _finite("amount", amount)
        for low in minimums.values():
            _finite("minimum", low)
        with self._lock:
            entries = [self._live(key) for key in keys]
            read = [entry.text if isinstance(entry, _Value) else None for entry in entries]
            return read, self._apply_once_locked(token, increments, minimums, token_ttl_s)

    def _apply_once_locked(
        self, token: str, increments: Mapping[str, float], minimums: Mapping[str, float], token_ttl_s: float
    ) -> bool:
        if self._live(token) is not None:
            return False
        for key in (*increments, *minimums):
            if isinstance(self._live(key), _Window):
                raise _wrong_kind(key)
        totals = {}  # all of them before writing any: a value that is not a number changes nothing
        for key, amount in increments.items():
            entry = self._live(key)
            totals[key] = _add_decimal(key, entry.text if isinstance(entry, _Value) else None, amount)
            if not math.isfinite(float(totals[key])):
                raise _not_finite(key)  # past a double: Redis's batch script sums in doubles
        for key in minimums:
            entry = self._live(key)
            if isinstance(entry, _Value):
                _add_decimal(key, entry.text, 0.0)  # raises if it is not a number
        self._entries[token] = _Value("1", self._expiry_s(token_ttl_s))
        for key, total in totals.items():
            self._entries[key] = _Value(total, None)
        for key, low in minimums.items():
            entry = self._live(key)
            if not isinstance(entry, _Value) or low < float(entry.text):
                self._entries[key] = _Value(repr(low), None)
        return True

    def window_add(
        self, key: str, event_id: str, at_s: float, value: float = 1.0, *, window_s: float
    ) -> None:
        check_key(key)
        trim_before_s = _finite("at_s", at_s) - _positive("window_s", window_s)
        _finite("value", value)
        with self._lock:
            window = self._window(key) or _Window(expires_at_s=0.0)
            window.events[event_id] = (at_s, value)
            window.events = {id_: event for id_, event in window.events.items() if event[0] >= trim_before_s}
            window.expires_at_s = self._expiry_s(window_s)
            self._entries[key] = window

    def window_count(self, key: str, *, window_s: float, as_of_s: float) -> int:
        return len(self._values_in_window(key, window_s, as_of_s))

    def window_sum(self, key: str, *, window_s: float, as_of_s: float) -> float:
        return math.fsum(self._values_in_window(key, window_s, as_of_s))

    def _values_in_window(self, key: str, window_s: float, as_of_s: float) -> list[float]:
        check_key(key)
        lowest_s, as_of_s = _window_bounds(window_s, as_of_s)
        with self._lock:
            window = self._window(key)
            events = [] if window is None else list(window.events.values())
        return [value for at_s, value in events if lowest_s <= at_s < as_of_s]

    def _window(self, key: str) -> _Window | None:
        entry = self._live(key)
        if isinstance(entry, _Value):
            raise _wrong_kind(key)
        return entry

    def _live(self, key: str) -> _Value | _Window | None:
        """The entry under ``key``, dropped if it has expired (call with the lock held)."""
        entry = self._entries.get(key)
        if entry is not None and entry.expires_at_s is not None and self._clock() >= entry.expires_at_s:
            del self._entries[key]
            return None
        return entry

    def _expiry_s(self, ttl_s: float) -> float:
        return self._clock() + _ttl_ms(ttl_s) / 1000


# Exact for any sum of two doubles written out in full (~770 digits at most), as Redis's long double
# is near enough for the decimals plugins add.
_EXACT = Context(prec=1000)


def _add_decimal(key: str, current: str | None, amount: float) -> str:
    """``current + amount`` written as Redis's INCRBYFLOAT writes it: fixed point, 17 decimals at
    most, no trailing zeros ("1", "0.3")."""
    if current is not None and current != current.strip():
        raise _not_a_number(key)  # Redis reads no spaces around a number
    try:
        total = _EXACT.add(Decimal("0" if current is None else current), Decimal(repr(amount)))
    except InvalidOperation:
        raise _not_a_number(key) from None
    if not total.is_finite():
        raise _not_a_number(key)
    text = f"{total.quantize(Decimal('1e-17'), context=_EXACT):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
