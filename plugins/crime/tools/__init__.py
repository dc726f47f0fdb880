"""Offline tools of the crime_analytics plugin: evaluate on simulated case worlds."""

from __future__ import annotations

TUNING_SEEDS = (1, 2)
EVALUATION_SEEDS_FROM = 1000
EVALUATION_SEEDS = (1000, 1001, 1002)
