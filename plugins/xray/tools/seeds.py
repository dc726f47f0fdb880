"""Simulator seeds of the X-ray detector, disjoint by purpose (``XraySimulator(seed).generate(index)``
for index 0, 1, ...): nothing reads a seed kept for another purpose."""

from __future__ import annotations

LIBRARY_SEEDS = range(100, 200)  # the simulated library's signatures and the model's training scans
TUNING_SEEDS = range(200, 300)  # decision thresholds
NET_TRAINING_SEEDS = range(300, 400)  # the learned detector's training bags (tools/train_net.py)
NET_VALIDATION_SEEDS = range(400, 450)  # ... and the bags its thresholds are chosen on
EVALUATION_SEEDS_FROM = 1000  # held-out evaluation: any seed from here on (default 1000)


def check_evaluation_seed(seed: int) -> None:
    """ValueError for a seed that built the library or the model, or tuned the thresholds."""
    if seed < EVALUATION_SEEDS_FROM:
        raise ValueError(
            f"seed {seed} is not held out: library seeds {LIBRARY_SEEDS.start}-{LIBRARY_SEEDS.stop - 1}, "
            f"tuning seeds {TUNING_SEEDS.start}-{TUNING_SEEDS.stop - 1}; "
            f"evaluate on {EVALUATION_SEEDS_FROM} or above"
        )
