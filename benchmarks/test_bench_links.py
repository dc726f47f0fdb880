"""Crime analytics (issue 15): entity resolution of 100,000 entity mentions, beside the exact-name baseline.

Goal: 100,000 mentions resolved in under a minute on one core. The framework path is
``Resolver.resolve`` (addresses and vehicles on normalised keys; people and companies normalised,
blocked, scored pairwise, joined under the date-of-birth and address constraints); the bare baseline is
``ExactNameResolver.resolve`` on the same mentions (one dictionary pass). Mentions come from the case
simulator (seed ``SEED``, used for nothing else) at 20 times its usual rate: people, companies,
addresses and vehicles of case files, news and posts, their names spelt the simulator's ways. Nothing
asserts a time; the figures are printed with the machine. One round each (the resolution alone is tens of
seconds here). Run alone: ``.venv/bin/pytest benchmarks/test_bench_links.py -p no:cacheprovider -s``.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from benchkit.machine import describe, format_description

from smartcustoms.hardware.sim.cases import generate
from smartcustoms.plugins.crime.entities import Mention, mentions_of
from smartcustoms.plugins.crime.resolve import ExactNameResolver, Resolver

SEED = 4222  # no tuning, evaluation or test seed
MENTIONS = 100_000
GOAL_S = 60.0


def mentions(count: int) -> list[Mention]:
    out: list[Mention] = []
    seed = SEED
    while len(out) < count:
        world = generate(seed, rate_scale=20)
        out += [m for r in world.records for m in mentions_of(r.record_id, r.fields["entities"])]
        seed += 1
    return out[:count]


def test_entity_resolution_of_100000_mentions(benchmark: Any) -> None:
    batch = mentions(MENTIONS)
    schemata = Counter(m.schema for m in batch)
    timings: dict[str, float] = {}
    entities: dict[str, int] = {}

    def framework() -> None:
        started = time.perf_counter()
        resolution = Resolver().resolve(batch)
        timings["framework_s"] = time.perf_counter() - started
        entities["framework"] = len(set(resolution.entity_of.values()))
        entities["compared_pairs"] = resolution.compared_pairs

    started = time.perf_counter()
    baseline = ExactNameResolver().resolve(batch)
    timings["bare_s"] = time.perf_counter() - started
    benchmark.pedantic(framework, rounds=1, iterations=1)
    figures = {
        "mentions": len(batch),
        "schemata": dict(schemata),
        "seconds": round(timings["framework_s"], 2),
        "mentions_per_s": round(len(batch) / timings["framework_s"], 1),
        "compared_pairs": entities["compared_pairs"],
        "entities": entities["framework"],
        "bare_seconds": round(timings["bare_s"], 3),
        "bare_entities": len(set(baseline.entity_of.values())),
        "goal_s": GOAL_S,
        "goal_met": timings["framework_s"] < GOAL_S,
    }
    benchmark.extra_info.update({**figures, "machine": describe()})
    print()
    print("\n".join(format_description(describe())))
    kinds = ", ".join(f"{k} {v:,}" for k, v in schemata.items())
    print(
        f"entity resolution: {len(batch):,} mentions ({kinds}) "
        f"in {timings['framework_s']:.1f} s ({figures['mentions_per_s']:,.0f}/s, "
        f"{entities['compared_pairs']:,} pairs compared) into {entities['framework']:,} entities; "
        f"exact-name baseline {timings['bare_s']:.2f} s into {figures['bare_entities']:,}; "
        f"goal < {GOAL_S:.0f} s: {'met' if figures['goal_met'] else 'not met'}"
    )
