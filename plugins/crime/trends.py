"""Trends and anomalies: weekly counts of cases per series, against a seasonal baseline.

A case counts in four series: its commodity alone, and its commodity with its route, its method and
its place (``series_of``). Each series' count in a week is judged against its baseline: the mean of
the ``RECENT_WEEKS`` weeks before and of the weeks around the same week a year before (the season),
as the rate of a Poisson count. The week leaves its band when a count that high (or higher) would come
by chance less than ``ALPHA`` of the time: the band's top is the smallest count that does so
(``band_top``). The recent rate carries one case spread over its weeks (``PRIOR_CASES``), so a quiet
stretch of a small series is not taken for silence; a series never seen before has about one case in
26 weeks, and a new route for illicit cigarettes alerts with its third case in a week, while a busy
series needs a real jump. Nothing is judged before ``WARM_UP_WEEKS`` of history exist.

A series also leaves its band downwards. A single week is too short for that: at ``ALPHA`` even a week
without a case is only significant at a rate above 8.5 cases a week, more than any customs series here
has. So a drop is judged on the sum of the last ``DROP_WEEKS`` closed weeks (a week is closed once a
case of a later week has arrived: an open week's count can still grow) against ``DROP_WEEKS`` times the
rate of the window's first week: it leaves the band when a count that low (or lower) would come by
chance less than ``ALPHA`` of the time (``band_bottom``, the lower tail as ``band_top`` is the upper).
A series whose window expects fewer than about 8.5 cases never alerts low: no count of it is rare
enough. A drop alerts at its onset only: the window before it was inside the band. Drops are judged
only once a year of history gives the window its season: before that a season on its way down reads
as a drop (on the tuning worlds, seeds 1-8, 3 false drop alerts of 10 without this rule, 2 of 9 with it).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "Band",
    "band",
    "band_bottom",
    "band_top",
    "baseline_weeks",
    "drop_band",
    "series_of",
    "week_of",
]

RECENT_WEEKS = 12
SEASON_HALF_WIDTH = 3  # weeks either side of the same week a year before
YEAR_WEEKS = 52
WARM_UP_WEEKS = 12
ALPHA = 0.0002
FLOOR_RATE = 0.03
PRIOR_CASES = 1.0  # one case spread over the baseline: a quiet stretch is not taken for silence
MIN_COUNT = 2
DROP_WEEKS = 4  # closed weeks summed to judge a drop
DIMENSIONS = ("route", "method", "place")
_MONDAY0 = dt.date(1970, 1, 5).toordinal()


def week_of(date_text: str) -> int:
    """Weeks since Monday 5 January 1970 of an ISO date (or date-time); -1 if unreadable."""
    try:
        day = dt.date.fromisoformat(date_text[:10])
    except ValueError:
        return -1
    return (day.toordinal() - _MONDAY0) // 7


def week_monday(week: int) -> str:
    return dt.date.fromordinal(_MONDAY0 + 7 * week).isoformat()


def series_of(fields: Mapping[str, str]) -> list[str]:
    """The series a case counts in: ``commodity=X`` and ``route=X|value`` (method, place alike)."""
    commodity = fields.get("commodity", "").strip()
    if not commodity:
        return []
    series = [f"commodity={commodity}"]
    series += [f"{d}={commodity}|{fields[d].strip()}" for d in DIMENSIONS if fields.get(d, "").strip()]
    return series


def baseline_weeks(week: int) -> list[int]:
    """The weeks a week's count is judged against: recent ones, and the same season a year before."""
    recent = range(week - RECENT_WEEKS, week)
    season = range(week - YEAR_WEEKS - SEASON_HALF_WIDTH, week - YEAR_WEEKS + SEASON_HALF_WIDTH + 1)
    return [*recent, *season]


def _poisson_tail(rate: float, count: int) -> float:
    """P(X >= count) for X ~ Poisson(rate)."""
    term, below = math.exp(-rate), 0.0
    for k in range(count):
        below += term
        term *= rate / (k + 1)
    return max(0.0, 1.0 - below)


def _poisson_head(rate: float, count: int) -> float:
    """P(X <= count) for X ~ Poisson(rate)."""
    return 1.0 - _poisson_tail(rate, count + 1) if count >= 0 else 0.0


def band_bottom(rate: float) -> int:
    """The largest count that a Poisson(rate) week reaches or goes below less than ``ALPHA`` of the
    time; -1 when none does (even no case at all is not that rare at this rate)."""
    count = -1
    while _poisson_head(rate, count + 1) < ALPHA:
        count += 1
    return count


def band_top(rate: float) -> int:
    """The smallest count that a Poisson(rate) week reaches less than ``ALPHA`` of the time."""
    count = MIN_COUNT
    while _poisson_tail(rate, count) >= ALPHA:
        count += 1
    return count


@dataclass(frozen=True)
class Band:
    expected: float  # the baseline rate, cases a week (cases a window for ``drop_band``)
    top: int  # counts at or above this leave the band
    bottom: int = -1  # counts at or below this leave the band downwards (-1: none does)


def band(history: Mapping[int, int], week: int, first_week: int) -> Band | None:
    """The band of ``week`` from a series' weekly counts; None while history is too short."""
    if week - first_week < WARM_UP_WEEKS:
        return None
    weeks = [w for w in baseline_weeks(week) if w >= first_week]
    recent = [history.get(w, 0) for w in weeks if w >= week - RECENT_WEEKS]
    season = [history.get(w, 0) for w in weeks if w < week - RECENT_WEEKS]
    rate = (sum(recent) + PRIOR_CASES) / (len(recent) + 1)
    if season:  # as much weight to last year's season as to the recent weeks
        rate = (rate + sum(season) / len(season)) / 2
    rate = max(rate, FLOOR_RATE)
    return Band(round(rate, 3), band_top(rate), band_bottom(rate))


def drop_window(end_week: int) -> range:
    """The closed weeks whose sum a drop is judged on, ending with ``end_week``."""
    return range(end_week - DROP_WEEKS + 1, end_week + 1)


def drop_band(history: Mapping[int, int], end_week: int, first_week: int) -> Band | None:
    """The band of the ``DROP_WEEKS`` weeks ending with ``end_week``, summed: the rate of the window's
    first week (its baseline, before the window) times ``DROP_WEEKS``; None until the window has a
    season a year before it."""
    start = drop_window(end_week)[0]
    if start - first_week < YEAR_WEEKS + SEASON_HALF_WIDTH:
        return None
    first = band(history, start, first_week)
    if first is None:
        return None
    rate = first.expected * DROP_WEEKS
    return Band(round(rate, 3), band_top(rate), band_bottom(rate))


def window_count(history: Mapping[int, int], end_week: int) -> int:
    return sum(history.get(w, 0) for w in drop_window(end_week))


def needed_weeks(weeks: Sequence[int]) -> list[int]:
    """Every week whose count the bands of ``weeks`` need, the weeks themselves included."""
    return sorted({b for w in weeks for b in (w, *baseline_weeks(w))})


def drop_needed_weeks(end_week: int) -> list[int]:
    """Every week the drop bands of the windows ending with ``end_week`` and the week before need."""
    return needed_weeks([*drop_window(end_week - 1), end_week])
