"""PromQL builders shared by the dashboards and the alert rules, so both aggregate the same way."""

from __future__ import annotations

from collections.abc import Sequence

from smartcustoms.dashboards.model import RATE_INTERVAL

# Label filters bound to the dashboards' template variables.
CONTROL_POINT = 'control_point=~"$control_point"'
MODALITY = 'modality=~"$modality"'
SOURCE = 'source=~"$source"'
PLUGIN = 'plugin=~"$plugin"'


def selector(metric: str, filters: Sequence[str] = ()) -> str:
    return f"{metric}{{{', '.join(filters)}}}" if filters else metric


def sum_by(by: Sequence[str], inner: str) -> str:
    return f"sum by ({', '.join(by)}) ({inner})" if by else f"sum({inner})"


def max_by(by: Sequence[str], inner: str) -> str:
    """For gauges every gateway of a namespace exports alike (the ledger's counts): one copy."""
    return f"max by ({', '.join(by)}) ({inner})"


def rate(metric: str, filters: Sequence[str] = (), window: str = RATE_INTERVAL) -> str:
    return f"rate({selector(metric, filters)}[{window}])"


def sum_rate(
    metric: str, by: Sequence[str] = (), filters: Sequence[str] = (), window: str = RATE_INTERVAL
) -> str:
    """Per-second rate of a counter, summed over every process and series into groups ``by``."""
    return sum_by(by, rate(metric, filters, window))


def quantile(
    q: float,
    histogram: str,
    by: Sequence[str] = (),
    filters: Sequence[str] = (),
    window: str = RATE_INTERVAL,
) -> str:
    """The ``q`` quantile of a histogram's observations within ``window``, per group ``by``."""
    return f"histogram_quantile({q}, {sum_rate(f'{histogram}_bucket', ('le', *by), filters, window)})"


def mean(
    histogram: str, by: Sequence[str] = (), filters: Sequence[str] = (), window: str = RATE_INTERVAL
) -> str:
    """Mean observation within ``window``: rate of the sum over rate of the count."""
    total = sum_rate(f"{histogram}_sum", by, filters, window)
    return f"{total} / {sum_rate(f'{histogram}_count', by, filters, window)}"
