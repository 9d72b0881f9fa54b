"""Distances between a baseline and a window: L-infinity (Deequ's Simple/Robust), PSI, chi-square
(against the baseline's shares, and the two-sample test of homogeneity).

Pure functions on counts and CDFs so each can be checked against published vectors (Deequ's
KLLDistanceTest) apart from the window machinery.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

# Deequ's default critical value of the two-sample Kolmogorov-Smirnov test (alpha ~ 0.003).
C_ALPHA = 1.8
# Both sides of a PSI bin are floored here so an empty bin costs a large but finite amount.
PSI_FLOOR = 1e-4
# Cochran's rule: below 5 expected values in a cell the chi-square approximation of Pearson's
# statistic fails (one value where 0.1 was expected adds 8.1 to it), so such cells are pooled.
MIN_EXPECTED = 5.0


def c_alpha(alpha: float) -> float:
    """Deequ's critical value for an explicit significance level: sqrt(-ln(alpha / 2) / 2)."""
    return math.sqrt(-math.log(alpha / 2.0) / 2.0)


def robust(linf: float, n: float, m: float, critical: float = C_ALPHA) -> float:
    """Deequ's "Robust" distance: L-infinity less the KS critical distance for n and m samples.

    Small samples differ by chance; subtracting c * sqrt((n + m) / (n * m)) keeps a window of
    a few dozen rows from raising drift on noise alone.
    """
    if n <= 0 or m <= 0:
        return 0.0
    return max(0.0, linf - critical * math.sqrt((n + m) / (n * m)))


def linf_cdfs(baseline_cdf: NDArray[np.float64], window_cdf: NDArray[np.float64]) -> float:
    """Deequ's "Simple" numeric distance: the largest gap between two CDFs at common points."""
    if baseline_cdf.size == 0:
        return 0.0
    return float(np.max(np.abs(baseline_cdf - window_cdf)))


def wasserstein_cdfs(
    points: NDArray[np.float64], baseline_cdf: NDArray[np.float64], window_cdf: NDArray[np.float64]
) -> float:
    """The Wasserstein-1 distance, the area between two CDFs, from their values at common
    sorted points (the first below, the last above, both samples): trapezoids between
    neighbouring points, exact when both CDFs are linear there."""
    gap = np.abs(baseline_cdf - window_cdf)
    return float(np.sum(np.diff(points) * (gap[:-1] + gap[1:])) / 2.0)


def linf_frequencies(baseline: Mapping[str, int], window: Mapping[str, int]) -> float:
    """Deequ's "Simple" categorical distance: the largest gap between normalized frequencies
    over the union of categories (a category missing on one side counts 0 there)."""
    n = float(sum(baseline.values()))
    m = float(sum(window.values()))
    if n <= 0 or m <= 0:
        return 0.0
    return max(
        (abs(baseline.get(k, 0) / n - window.get(k, 0) / m) for k in baseline.keys() | window),
        default=0.0,
    )


def psi(baseline: NDArray[np.float64], window: NDArray[np.float64]) -> float:
    """Population stability index of two vectors of bin fractions, each floored at PSI_FLOOR."""
    b = np.maximum(baseline, PSI_FLOOR)
    w = np.maximum(window, PSI_FLOOR)
    return float(np.sum((w - b) * np.log(w / b)))


def chi_square(observed: NDArray[np.float64], expected: NDArray[np.float64]) -> float:
    """Pearson's statistic: sum((observed - expected)^2 / expected); expected must be > 0."""
    return float(np.sum((observed - expected) ** 2 / expected))


def homogeneity(baseline: NDArray[np.float64], window: NDArray[np.float64]) -> tuple[float, int]:
    """Pearson's test that two samples' counts over the same cells (categories, or bins)
    come from one distribution: the 2 x k contingency table's statistic with pooled shares,
    n m / (n + m) * sum((w - b)^2 / pooled) over the cells' shares in each sample. Unlike
    chi_square it counts the baseline as the sample it is, so a small baseline does not
    make its own noise look like drift. Cells expected to hold fewer than MIN_EXPECTED values
    of the smaller sample are merged, smallest first. Returns (statistic, degrees of
    freedom); 0 degrees of freedom (one cell left, or an empty sample) is no test."""
    b = np.asarray(baseline, dtype=np.float64)
    w = np.asarray(window, dtype=np.float64)
    n, m = float(b.sum()), float(w.sum())
    if n <= 0 or m <= 0:
        return 0.0, 0
    b, w = _pooled_cells(b, w, min(n, m) / (n + m))
    if b.size < 2:
        return 0.0, 0
    pooled = (b + w) / (n + m)
    statistic = n * m / (n + m) * float(np.sum((w / m - b / n) ** 2 / pooled))
    return statistic, b.size - 1


def _pooled_cells(
    b: NDArray[np.float64], w: NDArray[np.float64], smaller: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The cells with MIN_EXPECTED values expected of the smaller sample (`smaller` is its
    share of both): empty cells dropped, then the two smallest merged until none is short."""
    keep = (b + w) > 0
    if not keep.all():
        b, w = b[keep], w[keep]
    if b.size < 2 or float(np.min(b + w)) * smaller >= MIN_EXPECTED:
        return b, w  # nothing to pool (most windows: deciles, a few common categories)
    cells = list(zip((b + w).tolist(), b.tolist(), w.tolist(), strict=True))
    heapq.heapify(cells)
    while len(cells) > 1 and cells[0][0] * smaller < MIN_EXPECTED:
        t1, b1, w1 = heapq.heappop(cells)
        t2, b2, w2 = heapq.heappop(cells)
        heapq.heappush(cells, (t1 + t2, b1 + b2, w1 + w2))
    return np.array([c[1] for c in cells]), np.array([c[2] for c in cells])
