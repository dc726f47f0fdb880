"""Offline tools of the air cargo queue: ``smartcustoms eval queue`` (``evaluate``, ``cli``).

Seeds: the predictor's settings were chosen on days of the ``main`` simulator profile with seeds below
``HELD_OUT_SEED``; the evaluation runs days from ``HELD_OUT_SEED`` on, of ``main`` and of ``alt`` (a
generator with other occupancy distributions, rush profile and counters, never tuned on).
"""

from __future__ import annotations

HELD_OUT_SEED = 1000
EVALUATION_DAYS = 4
