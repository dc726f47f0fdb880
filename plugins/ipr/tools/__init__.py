"""Offline tools of the ipr_monitor plugin: build the catalogue, evaluate on simulated markets."""

from __future__ import annotations

TUNING_SEEDS = (1, 2)
EVALUATION_SEEDS_FROM = 1000
EVALUATION_SEEDS = (1000, 1001, 1002)
LISTINGS_PER_SEED = 1500
