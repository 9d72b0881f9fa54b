"""A window's statistics.json, in the same schema as the baseline's.

Counts, missing, mean, sum, std_dev, min and max are exact (from the partial's counts and
shifted sums). The distribution is estimated: a window keeps counts between the baseline's sketch
values, not its values, so the 10 equal-width buckets over the window's min..max and the
one-level sketch of quantile points are read off the window's CDF, interpolated linearly between
those edges (the first and last bins are bounded by the window's min and max). With a baseline
of 2048 sketch points this is within a fraction of a percent of rank; it is for dashboards, not
for re-computing distances, which use the exact bin counts.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from driftcheck.formats import (
    BUCKETS,
    OTHER,
    bucket_bounds,
    categorical_entry,
    numeric_entry,
    statistics_document,
)
from driftcheck.reference import CategoricalReference, NumericReference
from driftcheck.window import CategoricalPartial, NumericPartial, WindowStats

SKETCH_SIZE = 2048


def window_statistics(window: WindowStats) -> dict[str, Any]:
    """statistics.json for the window (with the model output's entry and the answers'
    attributions, as in its baseline)."""
    entries = []
    for partial, ref in zip(window.partials, window.reference.columns, strict=True):
        if isinstance(partial, NumericPartial) and isinstance(ref, NumericReference):
            entries.append(numeric_statistics(partial, ref))
        elif isinstance(partial, CategoricalPartial) and isinstance(ref, CategoricalReference):
            entries.append(categorical_statistics(partial, ref))
    prediction = entries.pop() if window.reference.prediction is not None else None
    document = statistics_document(window.tally.rows, entries, prediction)
    explained = window.attributions
    if explained is not None and explained.rows:
        # The same entry as the baseline's, of the window's answers (their mean |attribution|).
        means = explained.means.tolist()
        document["attributions"] = {
            "method": "shipped",  # whatever the endpoint computed them with
            "item_count": explained.rows,
            "global_shap_values": dict(zip(window.reference.names, means, strict=True)),
        }
    return document


def numeric_statistics(partial: NumericPartial, ref: NumericReference) -> dict[str, Any]:
    """One numeric feature's entry: exact moments, estimated distribution."""
    n = partial.count
    inferred = "Fractional" if partial.non_integral or not ref.integral else "Integral"
    if not n:
        return numeric_entry(
            ref.name,
            inferred,
            present=partial.present,
            missing=partial.missing,
            mean=0.0,
            total=0.0,
            std_dev=0.0,
            minimum=0.0,
            maximum=0.0,
            bucket_counts=[],
            sketch=[],
        )
    mean, std_dev = moments(partial, ref)
    xs, cs = cdf_knots(partial, ref)
    return numeric_entry(
        ref.name,
        inferred,
        present=partial.present,
        missing=partial.missing,
        mean=mean,
        total=ref.shift * n + partial.shifted_sum,
        std_dev=std_dev,
        minimum=partial.minimum,
        maximum=partial.maximum,
        bucket_counts=_bucket_counts(xs, cs, partial),
        sketch=_quantile_points(xs, cs, n, integral=inferred == "Integral"),
    )


def moments(partial: NumericPartial, ref: NumericReference) -> tuple[float, float]:
    """The window's exact mean and (population) standard deviation; (0, 0) when empty."""
    n = partial.count
    if not n:
        return 0.0, 0.0
    mean_offset = partial.shifted_sum / n
    variance = max(partial.shifted_squares / n - mean_offset**2, 0.0)
    return ref.shift + mean_offset, math.sqrt(variance)


def categorical_statistics(
    partial: CategoricalPartial, ref: CategoricalReference
) -> dict[str, Any]:
    """One categorical feature's entry: counts per value, most frequent first."""
    buckets = sorted(partial.counts.items(), key=lambda item: (-item[1], item[0]))
    if partial.other:
        buckets.append((OTHER, partial.other))
    return categorical_entry(
        ref.name,
        ref.inferred_type if not partial.mismatched else "String",
        present=partial.present,
        missing=partial.missing,
        distinct=partial.distinct(ref),
        buckets=buckets,
    )


def cdf_knots(
    partial: NumericPartial, ref: NumericReference
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The window's piecewise-linear CDF (count of values <= x) as knots (x, count), with
    x nondecreasing from min to max; several knots may share an x where a value repeats."""
    low, high = partial.minimum, partial.maximum
    at_edges = np.cumsum(partial.counts)[:-1].astype(np.float64)
    xs = np.clip(np.concatenate(([low], ref.edges, [high])), low, high)
    cs = np.concatenate(([0.0], at_edges, [float(partial.count)]))
    return xs, cs


def _bucket_counts(
    xs: NDArray[np.float64], cs: NDArray[np.float64], partial: NumericPartial
) -> list[int]:
    n = partial.count
    if partial.minimum == partial.maximum:
        return [0] * (BUCKETS - 1) + [n]  # all in the last bucket, which is closed
    last = np.r_[xs[1:] != xs[:-1], True]  # the CDF is right-continuous: the last knot at x
    inner = bucket_bounds(partial.minimum, partial.maximum)[1:-1]
    below = np.rint(np.interp(inner, xs[last], cs[last])).astype(np.int64)
    counts: list[int] = np.diff(np.concatenate(([0], below, [n]))).tolist()
    return counts


def _quantile_points(
    xs: NDArray[np.float64], cs: NDArray[np.float64], n: int, *, integral: bool
) -> list[float]:
    size = min(n, SKETCH_SIZE)
    ranks = (np.arange(size) + 0.5) / size * n
    last = np.r_[cs[1:] != cs[:-1], True]  # a flat stretch: values resume after its last x
    points = np.interp(ranks, cs[last], xs[last])
    # Whole-number data: a point inside the bin (a, b] stands for a whole number in it, and
    # ceil() finds one because the bins' ends are themselves values of the data.
    chosen: list[float] = (np.ceil(points) if integral else points).tolist()
    return chosen
