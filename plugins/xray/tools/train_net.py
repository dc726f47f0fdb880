"""Train the learned X-ray detector (``plugins/xray/learned.py``) and export it to ONNX.

    pip install torch==2.13.0        # the training tool alone needs PyTorch (CPU build)
    python -m smartcustoms.plugins.xray.tools.train_net --out plugins/xray/net [--bags 2000] [--minutes 65]

Data: bags of ``VariedXraySimulator`` (many designs per class, random physics per scan, any rotation,
pixel sizes of 0.57-1.43 mm), training bags from ``NET_TRAINING_SEEDS`` and validation bags from
``NET_VALIDATION_SEEDS`` (``seeds.py``); the independent generator (``xray_alt``) is never read here.
Each bag's threat mask gives every 8 mm cell a class (or leaves a cell on an object's rim out of the
loss). The network is trained on 256 x 256 crops (51 cm) with flips, quarter turns and per-channel gains
(a scanner calibrated differently), then each class's threshold is chosen on the validation bags: the
lowest at which it still finds a threat with that class's false alarms within ``--false-alarms``
per bag. The card beside the model
(``xray_net.json``) records the seeds, the thresholds and the validation figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import multiprocessing
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from smartcustoms.core.geometry import iou
from smartcustoms.hardware.sim.xray import THREAT_CLASSES, XraySimulator
from smartcustoms.plugins.xray.learned import (
    CARD_FILE,
    EXTENT_PROBABILITY,
    MODEL_FILE,
    NET_CLASSES,
    NET_PIXEL_MM,
    NET_STRIDE,
    net_input,
    regions,
)
from smartcustoms.plugins.xray.tools.seeds import NET_TRAINING_SEEDS, NET_VALIDATION_SEEDS

VERSION = "2"
IGNORE = 255  # a cell on a threat's rim: left out of the loss
CELL_IS_THREAT = 0.3  # share of a cell's pixels a threat must cover to be its class
CELL_IS_CLEAR = 0.05  # ... and at most this for the cell to count as background
BAGS_PER_SEED = 20
CROP = 256
MIN_THRESHOLD = 0.3  # no class alarms on a probability below this
DEEP_WIDTH = 96  # channels of the network's stride-8 part
MATERIAL_FLOOR = 0.05  # scaled line integral added below the material channel's ratio
BATCH = 16  # crops per training step


def simulator_class(name: str) -> type[XraySimulator]:
    """``varied``: many designs per class (the default); ``standard``: the project's simulator's shapes."""
    if name == "standard":
        return XraySimulator
    from smartcustoms.hardware.sim.xray_varied import VariedXraySimulator

    return VariedXraySimulator


Sample = tuple[np.ndarray, np.ndarray, list[tuple[str, tuple[int, int, int, int]]], float]


def draw(seed: int, index: int, simulator: str = "varied") -> Sample:
    """One training bag: its network input (float16), cell labels (uint8), truth boxes in input pixels
    and the pixel size it was drawn at."""
    rng = np.random.default_rng([seed, index, 7])
    height = int(rng.integers(560, 1400)) // 8 * 8
    source = simulator_class(simulator)(
        seed, height, 2 * height, threat_rate=0.7, randomise=True, threat_mask=True
    )
    scan = source.generate(index)
    x = net_input(scan.image, scan.pixel_size_mm)
    assert scan.threat_mask is not None
    labels = cell_labels(scan.threat_mask, scan.pixel_size_mm, x.shape[1:])
    scale = scan.pixel_size_mm / NET_PIXEL_MM
    boxes = [(t.label, _scaled(t.box, scale)) for t in scan.truth]
    return x.astype(np.float16), labels, boxes, scan.pixel_size_mm


def _scaled(box: tuple[int, int, int, int], scale: float) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = (round(v * scale) for v in box)
    return x0, y0, x1, y1


def cell_labels(mask: np.ndarray, pixel_size_mm: float, grid: tuple[int, int]) -> np.ndarray:
    """uint8 (h / NET_STRIDE, w / NET_STRIDE): the class of each cell (index into NET_CLASSES), or IGNORE."""
    scale = pixel_size_mm / NET_PIXEL_MM
    height, width = max(8, round(mask.shape[0] * scale)), max(8, round(mask.shape[1] * scale))
    cells_h, cells_w = grid[0] // NET_STRIDE, grid[1] // NET_STRIDE
    shares = np.zeros((len(NET_CLASSES), cells_h, cells_w), np.float32)
    for k in range(1, len(NET_CLASSES)):
        label = NET_CLASSES[k]
        present = (mask == 1 + THREAT_CLASSES.index(label)).astype(np.float32)
        if not present.any():
            continue
        resized = np.zeros(grid, np.float32)
        resized[:height, :width] = cv2.resize(present, (width, height), interpolation=cv2.INTER_AREA)
        shares[k] = resized.reshape(cells_h, NET_STRIDE, cells_w, NET_STRIDE).mean(axis=(1, 3))
    best = shares.argmax(0)
    top = shares.max(0)
    labels = np.where(top >= CELL_IS_THREAT, best, 0).astype(np.uint8)
    labels[(top > CELL_IS_CLEAR) & (top < CELL_IS_THREAT)] = IGNORE
    return labels


def _draw_job(job: tuple[int, int, str]) -> Sample:
    return draw(*job)


def dataset(seeds: Sequence[int], bags: int, workers: int, simulator: str = "varied") -> list[Sample]:
    """``bags`` bags, ``BAGS_PER_SEED`` of each seed in turn, drawn by ``workers`` processes."""
    if bags > len(seeds) * BAGS_PER_SEED:
        raise ValueError(f"at most {len(seeds) * BAGS_PER_SEED} bags from seeds {seeds[0]}-{seeds[-1]}")
    jobs = [(seeds[i // BAGS_PER_SEED], i % BAGS_PER_SEED, simulator) for i in range(bags)]
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        return list(pool.imap(_draw_job, jobs, chunksize=4))


# --------------------------------------------------------------------------- the network


def build_network() -> Any:
    """About 0.35 M weights; output stride 4 (8 mm cells), a receptive field of about 255 pixels (51 cm)."""
    import torch
    from torch import nn

    def block(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )

    class XrayNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(block(3, 16, 2), block(16, 32, 2), block(32, 32))  # stride 4
            self.deep = nn.Sequential(
                block(32, DEEP_WIDTH, 2),
                block(DEEP_WIDTH, DEEP_WIDTH, dilation=2),
                block(DEEP_WIDTH, DEEP_WIDTH, dilation=4),
                block(DEEP_WIDTH, DEEP_WIDTH, dilation=8),
            )  # stride 8
            self.merge = nn.Sequential(block(32 + DEEP_WIDTH, 48), nn.Conv2d(48, len(NET_CLASSES), 1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            high, low = x[:, :1], x[:, 1:2]
            # the material: the dual-energy contrast of the two line integrals, which a convolution
            # cannot form by itself (it is a ratio); near 0 where nothing attenuates
            material = (low - high) / (low + high + MATERIAL_FLOOR)
            near = self.stem(torch.cat([x, material], 1))
            far = nn.functional.interpolate(self.deep(near), size=near.shape[-2:], mode="nearest")
            return self.merge(torch.cat([near, far], 1))  # type: ignore[no-any-return]

    return XrayNet()


def _crops(
    data: list[Sample], batch: int, rng: np.random.Generator
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    cells = CROP // NET_STRIDE
    while True:
        xs = np.zeros((batch, 2, CROP, CROP), np.float32)
        ys = np.full((batch, cells, cells), IGNORE, np.int64)
        for b in range(batch):
            x, y, boxes, _ = data[int(rng.integers(len(data)))]
            _, height, width = x.shape
            if boxes and rng.random() < 0.5:  # around the threat
                _, (x0, y0, x1, y1) = boxes[0]
                cx = int(rng.integers(min(x0, x1 - 1), max(x0 + 1, x1))) - CROP // 2
                cy = int(rng.integers(min(y0, y1 - 1), max(y0 + 1, y1))) - CROP // 2
            else:
                cx, cy = (
                    int(rng.integers(0, max(1, width - CROP))),
                    int(rng.integers(0, max(1, height - CROP))),
                )
            cx = min(max(cx, 0), max(0, width - CROP)) // NET_STRIDE * NET_STRIDE
            cy = min(max(cy, 0), max(0, height - CROP)) // NET_STRIDE * NET_STRIDE
            patch = x[:, cy : cy + CROP, cx : cx + CROP].astype(np.float32)
            target = y[
                cy // NET_STRIDE : cy // NET_STRIDE + cells, cx // NET_STRIDE : cx // NET_STRIDE + cells
            ]
            gains = rng.uniform(0.85, 1.18, size=(2, 1, 1)).astype(np.float32)  # another scanner's levels
            patch = patch * gains + rng.normal(0, 0.004, size=patch.shape).astype(np.float32)
            turns, flip = int(rng.integers(4)), bool(rng.random() < 0.5)
            patch, target = np.rot90(patch, turns, axes=(1, 2)), np.rot90(target, turns)
            if flip:
                patch, target = patch[:, :, ::-1], target[:, ::-1]
            xs[b, :, : patch.shape[1], : patch.shape[2]] = patch
            ys[b, : target.shape[0], : target.shape[1]] = target
        yield xs, ys


def train(data: list[Sample], minutes: float, seed: int, log: Any = print) -> Any:
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = build_network()
    weights = torch.tensor([1.0, 2.0, 2.0, 1.5, 2.0])  # threats are rarer than background cells
    loss_of = torch.nn.CrossEntropyLoss(weight=weights, ignore_index=IGNORE)
    optimiser = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-4)
    started, step, running = time.monotonic(), 0, 0.0
    net.train()
    for xs, ys in _crops(data, BATCH, rng):
        progress = (time.monotonic() - started) / (minutes * 60)
        if progress >= 1:
            break
        for group in optimiser.param_groups:  # cosine decay over the time budget
            group["lr"] = 3e-3 * 0.5 * (1 + math.cos(math.pi * progress))
        out = net(torch.from_numpy(xs))
        loss = loss_of(out, torch.from_numpy(ys))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        step += 1
        value = float(loss.detach())
        running = 0.98 * running + 0.02 * value if step > 1 else value
        if step % 100 == 0:
            log(f"step {step}: loss {running:.4f} ({time.monotonic() - started:.0f} s)")
    log(f"{step} steps of {BATCH} crops in {time.monotonic() - started:.0f} s")
    net.eval()
    return net


def probabilities(net: Any, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        out: np.ndarray = torch.softmax(net(torch.from_numpy(x.astype(np.float32))[None]), 1)[0].numpy()
    return out


def choose_thresholds(
    net: Any, data: list[Sample], false_alarms: float, min_cells: int
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Per class the lowest threshold at which the network finds a threat with its false alarms per bag
    still within ``false_alarms`` on the validation bags (IoU >= 0.3 counts as found; ``MIN_THRESHOLD``
    at least), and the figures at it; a class found by nothing within the budget gets no threshold."""
    maps = [(probabilities(net, x), boxes, x.shape[1:]) for x, _, boxes, _ in data]
    return thresholds_from(maps, false_alarms, min_cells)


def thresholds_from(
    maps: Sequence[tuple[np.ndarray, list[Any], tuple[int, int]]], false_alarms: float, min_cells: int
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """``choose_thresholds`` on the network's probabilities of each validation bag."""
    chosen: dict[str, float] = {}
    figures: dict[str, dict[str, float]] = {}
    for label in NET_CLASSES[1:]:
        scored: list[tuple[float, bool]] = []  # every group of the class, and whether it found a threat
        objects = 0
        for probability, boxes, grid in maps:
            truths = [box for name, box in boxes if name == label]
            objects += len(truths)
            groups = regions(probability, {label: MIN_THRESHOLD}, NET_STRIDE, grid, min_cells)
            matched: set[int] = set()
            for group in sorted(groups, key=lambda g: -g.score):
                partner = next(
                    (i for i, t in enumerate(truths) if i not in matched and iou(group.box, t) >= 0.3), None
                )
                if partner is not None:
                    matched.add(partner)
                scored.append((group.score, partner is not None))
        best: tuple[float, int, int] | None = (
            None  # (threshold, found, false alarms) at the last hit in budget
        )
        found = false = 0
        for score, hit in sorted(scored, key=lambda item: -item[0]):
            found, false = found + hit, false + (not hit)
            if hit and false / len(maps) <= false_alarms:
                best = (score, found, false)
        if best is not None:  # a class that finds nothing within the budget is left out: it never alarms
            chosen[label] = math.floor(best[0] * 10_000) / 10_000  # at or below the score that set it
        figures[label] = {
            "objects": objects,
            "detected": round(best[1] / max(1, objects), 4) if best else 0.0,
            "false_alarms_per_bag": round(best[2] / len(maps), 4) if best else 0.0,
        }
    return chosen, figures


def export(net: Any, folder: Path) -> str:
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(1, 2, 256, 512)
    with warnings.catch_warnings():  # the TorchScript exporter: the newer one needs onnxscript besides
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            net,
            (example,),
            str(folder / MODEL_FILE),
            input_names=["lines"],
            output_names=["probabilities"],
            dynamic_axes={"lines": {2: "height", 3: "width"}, "probabilities": {2: "cells_h", 3: "cells_w"}},
            opset_version=17,
            dynamo=False,
        )
    return hashlib.sha256((folder / MODEL_FILE).read_bytes()).hexdigest()


def softmaxed(net: Any) -> Any:
    """The trained network followed by a softmax over classes, as exported."""
    import torch

    class Softmaxed(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self.net(x), 1)

    return Softmaxed().eval()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for xray_net.onnx and xray_net.json")
    parser.add_argument("--bags", type=int, default=2000, help="training bags")
    parser.add_argument("--validation-bags", type=int, default=300)
    parser.add_argument("--minutes", type=float, default=65.0, help="training time")
    parser.add_argument("--false-alarms", type=float, default=0.0125, help="per class and bag, on validation")
    parser.add_argument("--min-cells", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0, help="of the crops and the initial weights")
    parser.add_argument(
        "--simulator", choices=("varied", "standard"), default="varied", help="bags drawn from"
    )
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.workers)
    started = time.monotonic()
    training = dataset(list(NET_TRAINING_SEEDS), args.bags, args.workers, args.simulator)
    validation = dataset(list(NET_VALIDATION_SEEDS), args.validation_bags, args.workers, args.simulator)
    took = time.monotonic() - started
    print(f"{len(training)} training and {len(validation)} validation bags in {took:.0f} s")
    net = train(training, args.minutes, args.seed)
    thresholds, figures = choose_thresholds(net, validation, args.false_alarms, args.min_cells)
    digest = export(softmaxed(net), args.out)
    card = {
        "version": VERSION,
        "sha256": digest,
        "thresholds": thresholds,
        "min_cells": args.min_cells,
        "false_alarms_per_class_and_bag": args.false_alarms,
        "extent_probability": EXTENT_PROBABILITY,
        "validation": figures,
        "trained_on": {
            "simulator": simulator_class(args.simulator).__name__,
            "seeds": [NET_TRAINING_SEEDS.start, NET_TRAINING_SEEDS.stop - 1],
            "bags": args.bags,
            "validation_seeds": [NET_VALIDATION_SEEDS.start, NET_VALIDATION_SEEDS.stop - 1],
            "validation_bags": args.validation_bags,
            "minutes": args.minutes,
            "torch": torch.__version__,
            "seed": args.seed,
        },
    }
    (args.out / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps(card, indent=2))


if __name__ == "__main__":
    main()
