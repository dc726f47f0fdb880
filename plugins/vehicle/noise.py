"""A scan's noise, measured on the scan: the photon count per pixel its differences behave as if it had.

The anomaly test needs the standard deviation of the smoothed difference of attenuations where nothing
differs. Photon noise gives one pixel's attenuation a standard deviation of ``1 / sqrt(N t)`` (``N``
photons per pixel of open beam, ``t`` the transmission), and the mean of a window of ``w x w`` pixels
``1 / (w sqrt(N t))``: so every flat part of the scan that matches its reference says what ``N`` is.
A scanner brighter or noisier than the setting ``photons_per_pixel`` says (a real portal's figure is
rarely known), a scan resampled along the vehicle (neighbouring pixels then share their noise) or a
reference with noise of its own all show in it; so the scan's own ``N`` is used.

``scan_photons``: the smoothed difference sampled every half window each way (about independent),
where the aligned reference is flat (its edge term small: no misalignment to mistake for noise),
outside the cargo space (a load there is no noise), within what the scan can tell (above its clipped
air, below its clipping floor, not where the reference was resampled from saturated pixels), with an
attenuation below ``MAX_ATTENUATION`` (darker, too few flat pixels and a coarse export's steps
dominate). Those samples are binned by the reference's attenuation (the air, then every 0.5); a bin
whose pixels sit at the scan's lowest or highest count is left out (its noise is clipped). In each bin
with enough samples the standard deviation is taken robustly (1.4826 times the median absolute
deviation: a concealment's pixels are a minority), a coarse export's quantisation (a uniform step)
subtracted, and turned into ``N = exp(a) / (w^2 sigma^2)``; the estimate is the sample-weighted median
of the bins'. Too few bins: the setting. The estimate is held within ``MAX_FACTOR`` of the setting.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from smartcustoms.plugins.vehicle.levels import Levels

MAX_ATTENUATION = 4.0
# bins of the reference's attenuation: the air, then the vehicle's
BIN_EDGES = (0.0, 0.02, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, MAX_ATTENUATION)
MIN_BIN_SAMPLES = 25
MIN_BINS = 2
MAX_FACTOR = 64.0  # the estimate stays within this factor of the setting
MAX_CLIPPED = 0.01
FLAT_EDGE = 0.003  # the edge term (attenuation) below which the reference counts as flat
_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class NoiseEstimate:
    """Photons per pixel of open beam, as the scan's differences show; ``bins`` the attenuation bins that
    gave it (0: the setting, the scan did not tell)."""

    photons: float
    bins: int

    @property
    def measured(self) -> bool:
        return self.bins > 0


NO_ESTIMATE = NoiseEstimate(0.0, 0)


def scan_photons(
    scan: np.ndarray,
    difference: np.ndarray,
    reference: np.ndarray,
    edges: np.ndarray,
    usable: np.ndarray,
    levels: Levels,
    window: int,
    configured: float,
) -> NoiseEstimate:
    """The scan's photons per pixel (see the module) from its smoothed ``difference``, the aligned
    ``reference`` attenuation, the ``edges`` term and ``usable`` (bool: where the comparison may look at
    the scan for its noise), all [H, W] of one shape, with the scan's own attenuation ``scan``. A bin
    where more than ``MAX_CLIPPED`` of the scan's pixels sit at its lowest or highest attenuation is left
    out: its noise is clipped (an open beam at the top of the scale clips half the air's noise away)."""
    step = max(1, (window + 1) // 2)  # half-overlapping windows: about independent, twice the samples
    sampled = scan[::step, ::step]
    lowest, highest = float(scan.min()), float(scan.max())
    d = difference[::step, ::step].astype(np.float64)
    a = reference[::step, ::step].astype(np.float64)
    keep = usable[::step, ::step] & (edges[::step, ::step] < FLAT_EDGE) & (a < MAX_ATTENUATION)
    keep &= a < levels.floor_attenuation - 0.5
    if levels.ceiling_attenuation > 0:
        keep &= a > levels.ceiling_attenuation + 0.05  # clipped air holds no noise
    d, a, sampled = d[keep], a[keep], sampled[keep]
    clipped = (sampled <= lowest + 1e-6) | (sampled >= highest - 1e-6)
    estimates, weights = [], []
    span = max(levels.open_beam - levels.dark, 1.0)
    for low, high in itertools.pairwise(BIN_EDGES):
        inside = (a >= low) & (a < high)
        if np.count_nonzero(inside) < MIN_BIN_SAMPLES or np.mean(clipped[inside]) > MAX_CLIPPED:
            continue
        values = d[inside]
        sigma = _MAD_TO_SIGMA * float(np.median(np.abs(values - np.median(values))))
        level = float(np.median(a[inside]))
        variance = sigma**2
        if levels.step > 1.0:  # a coarse export: its steps' share of the variance is not photons'
            quantum = levels.step / math.sqrt(12.0) / (span * math.exp(-level)) / window
            variance -= quantum**2
        if variance <= 0:
            continue
        estimates.append(math.exp(level) / (window**2 * variance))
        weights.append(float(np.count_nonzero(inside)))
    if len(estimates) < MIN_BINS:
        return NoiseEstimate(configured, 0)
    order = np.argsort(estimates)
    cumulative = np.cumsum(np.asarray(weights)[order])
    median = float(np.asarray(estimates)[order][np.searchsorted(cumulative, cumulative[-1] / 2)])
    return NoiseEstimate(
        float(np.clip(median, configured / MAX_FACTOR, configured * MAX_FACTOR)), len(estimates)
    )
