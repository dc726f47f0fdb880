"""Trends and anomalies: weekly counts of cases per series, against a seasonal baseline.

A case counts in four series: its commodity alone, and its commodity with its route, its method and
its place (``series_of``). Each series' count in a week is judged against its baseline: the mean of
the ``RECENT_WEEKS`` weeks before and of the weeks around the same week a year before (the season),
as the rate of a Poisson count. The week leaves its band when a count that high (or higher) would come
by chance less than ``ALPHA`` of the time: the band's top is the smallest count that does so
(``band_top``). The recent rate carries one case spread over its weeks (``PRIOR_CASES``), so a quiet
stretch of a small series is not taken for silence; a series never seen before has about one case in
26 weeks, and a new route for illicit cigarettes alerts with its third case in a week, while a busy
series needs a real jump. Nothing is judged before ``WARM_UP_WEEKS`` of history exist. Counts only
rise above a band here: a drop is not an alert.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Band", "band", "band_top", "baseline_weeks", "series_of", "week_of"]

RECENT_WEEKS = 12
SEASON_HALF_WIDTH = 3  # weeks either side of the same week a year before
YEAR_WEEKS = 52
WARM_UP_WEEKS = 12
ALPHA = 0.0002
FLOOR_RATE = 0.03
PRIOR_CASES = 1.0  # one case spread over the baseline: a quiet stretch is not taken for silence
MIN_COUNT = 2
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


def band_top(rate: float) -> int:
    """The smallest count that a Poisson(rate) week reaches less than ``ALPHA`` of the time."""
    count = MIN_COUNT
    while _poisson_tail(rate, count) >= ALPHA:
        count += 1
    return count


@dataclass(frozen=True)
class Band:
    expected: float  # the baseline rate, cases a week
    top: int  # counts at or above this leave the band


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
    return Band(round(rate, 3), band_top(rate))


def needed_weeks(weeks: Sequence[int]) -> list[int]:
    """Every week whose count the bands of ``weeks`` need, the weeks themselves included."""
    return sorted({b for w in weeks for b in (w, *baseline_weeks(w))})
