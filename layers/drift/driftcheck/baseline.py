"""Baseline: statistics.json and constraints.json from training data, as Model Monitor writes them.

Numeric features get the analyzer's summary (population std_dev), 10 equal-width buckets between
min and max, and a KLL sketch with the analyzer's parameters (c = 0.64, k = 2048). The sketch is
a valid one-level KLL summary: with at most 2048 present values it holds every value, in arrival
order, exactly as a real KLL sketch does before its first compaction; with more it holds 2048
equally weighted quantile points, np.quantile(values, (i + 0.5) / 2048, "inverted_cdf"), which
are actual data values. Every sketch value then has weight 1, so the sketch's total weight is not
num_present; readers normalise by the weight, and the robust correction uses num_present.

Categorical features get counts per value (the 1000 most frequent; the rest summed under
"__other__") and, in constraints.json, their domain: the values seen. When the values did not
fit in 1000, the domain is left out (as Model Monitor leaves it out for high-cardinality strings):
a partial domain would flag every window.

Training data is trusted to be clean: a numeric feature with text in it, or a feature with no
values at all, is an error, not a statistic.

With `predictions` (the model's output for each row, as its endpoint would answer), the
documents also describe the output, under a top-level "prediction" beside "features" (see
Reference): a numeric entry named "prediction" (prefixed with "_" while a feature has the name)
and its constraint, which the drift check compares with each window's endpointOutput.

With `attributions` too (the model's per-row, per-feature attributions for the same rows),
statistics.json gets their global SHAP values, the "attributions" entry the drift check ranks
a window's shipped attributions against (see driftcheck.attributions).
"""

from __future__ import annotations

import csv
import operator
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TextIO

import numpy as np
from numpy.typing import NDArray

from driftcheck.attributions import baseline_entry
from driftcheck.cells import category_counts, split_columns, value_type
from driftcheck.features import DriftSettings, FeatureSpec, check_features, prediction_name
from driftcheck.formats import (
    OTHER,
    bucket_bounds,
    categorical_entry,
    constraints_document,
    feature_constraint,
    numeric_entry,
    statistics_document,
)
from driftcheck.intake import CHUNK_ROWS, gc_paused

SKETCH_SIZE = 2048
MAX_CATEGORIES = 1000

Documents = tuple[dict[str, Any], dict[str, Any]]


def baseline(
    rows: Iterable[Sequence[object]],
    features: Sequence[FeatureSpec],
    settings: DriftSettings,
    *,
    predictions: Sequence[float] | NDArray[np.float64] | None = None,
    attributions: NDArray[np.float64] | None = None,
) -> Documents:
    """(statistics.json, constraints.json) for rows of cells in feature order, and the
    model's predictions for those rows, in the same order, if given (and its attributions,
    a row of one value per feature for each row, with them).

    Raises: ValueError for a row of the wrong length, features that cannot be summarised
    (every such feature listed), or predictions that are not one finite number per row.
    """
    check_features(features)
    columns = [_Column(f) for f in features]
    numeric = [f.kind == "numeric" for f in features]
    width = len(features)
    count = 0
    chunk: list[Sequence[object]] = []
    with gc_paused():
        for row in rows:
            count += 1
            if len(row) != width:
                raise ValueError(f"row {count} has {len(row)} cells; {width} features expected")
            chunk.append(row)
            if len(chunk) >= CHUNK_ROWS:
                _absorb(columns, split_columns(chunk, numeric))
                chunk = []
        if chunk:
            _absorb(columns, split_columns(chunk, numeric))
    problems = [problem for column in columns for problem in column.problems()]
    output = None
    if predictions is not None:
        output = _Column(FeatureSpec(prediction_name([f.name for f in features]), "numeric"))
        values = np.asarray(predictions, dtype=np.float64)
        if values.shape != (count,):
            problems.append(f"{values.size} predictions for {count} rows")
        elif not np.all(np.isfinite(values)):
            problems.append("a prediction is not a finite number")
        else:
            output.absorb(values)
    explained = None
    if attributions is not None:
        if predictions is None:
            problems.append("attributions without predictions")
        elif np.shape(attributions)[:1] != (count,):
            problems.append(f"{len(attributions)} rows of attributions for {count} rows")
        else:
            try:
                explained = baseline_entry([f.name for f in features], attributions)
            except ValueError as error:
                problems.append(str(error))
    if problems:
        raise ValueError("cannot build a baseline: " + "; ".join(problems))
    summaries = [column.summary() for column in columns]
    predicted = output.summary() if output is not None else (None, None)
    statistics = statistics_document(count, [entry for entry, _ in summaries], predicted[0])
    if explained is not None:
        statistics["attributions"] = explained
    constraints = constraints_document(
        [constraint for _, constraint in summaries], settings, predicted[1]
    )
    return statistics, constraints


def baseline_csv(
    stream: TextIO,
    features: Sequence[FeatureSpec],
    settings: DriftSettings,
    *,
    header: bool,
    columns: Sequence[str] | None = None,
) -> Documents:
    """baseline() of a training CSV. Columns are found by name: the header's, or `columns`
    when there is no header (default: the feature names, in order). Other columns, such as
    the target, are ignored."""
    check_features(features)
    reader = csv.reader(stream)
    if header:
        if columns is not None:
            raise ValueError("columns names a headerless CSV's columns; this CSV has a header")
        names = next(reader, None)
        if names is None:
            raise ValueError("the CSV is empty: no header row")
        names[:1] = [name.lstrip("\ufeff") for name in names[:1]]  # a UTF-8 byte order mark
    else:
        names = list(columns) if columns is not None else [f.name for f in features]
    positions = _positions(names, features)
    return baseline(_project(reader, positions), features, settings)


class _Column:
    """One feature's values as the baseline reads them."""

    def __init__(self, feature: FeatureSpec) -> None:
        self.feature = feature
        self.chunks: list[NDArray[np.float64]] = []
        self.categories: Counter[str] = Counter()
        self.missing = 0
        self.non_numeric = 0

    def absorb(self, column: NDArray[np.float64] | list[object]) -> None:
        if isinstance(column, np.ndarray):
            finite = np.isfinite(column)
            nan = int(np.count_nonzero(np.isnan(column)))
            self.missing += nan
            self.non_numeric += column.size - int(np.count_nonzero(finite)) - nan
            self.chunks.append(column[finite])
        else:
            counts, missing = category_counts(column)
            self.categories.update(counts)
            self.missing += missing

    def problems(self) -> list[str]:
        name = self.feature.name
        if self.non_numeric:
            return [f"numeric feature {name!r} has {self.non_numeric} values that are not numbers"]
        present = sum(c.size for c in self.chunks) + self.categories.total()
        return [] if present else [f"feature {name!r} has no values"]

    def summary(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(statistics entry, constraints entry)."""
        if self.feature.kind == "numeric":
            return self._numeric()
        return self._categorical()

    def _numeric(self) -> tuple[dict[str, Any], dict[str, Any]]:
        values = np.concatenate(self.chunks)
        ordered = np.sort(values)
        n = int(ordered.size)
        integral = bool(np.all(ordered == np.floor(ordered)))
        inferred = "Integral" if integral else "Fractional"
        minimum, maximum = float(ordered[0]), float(ordered[-1])
        total = float(np.sum(values))
        lower = np.searchsorted(ordered, bucket_bounds(minimum, maximum)[:-1], side="left")
        entry = numeric_entry(
            self.feature.name,
            inferred,
            present=n,
            missing=self.missing,
            mean=total / n,
            total=total,
            std_dev=float(np.std(values)),
            minimum=minimum,
            maximum=maximum,
            bucket_counts=np.diff(lower, append=n).tolist(),
            sketch=_sketch(values, ordered),
        )
        constraint = feature_constraint(
            self.feature.name,
            inferred,
            n / (n + self.missing),
            non_negative=minimum >= 0,
        )
        return entry, constraint

    def _categorical(self) -> tuple[dict[str, Any], dict[str, Any]]:
        ranked = sorted(self.categories.items(), key=lambda item: (-item[1], item[0]))
        kept = ranked[:MAX_CATEGORIES]
        overflow = sum(count for _, count in ranked[MAX_CATEGORIES:])
        present = self.categories.total()
        inferred = _categorical_type(self.categories)
        entry = categorical_entry(
            self.feature.name,
            inferred,
            present=present,
            missing=self.missing,
            distinct=len(ranked),
            buckets=kept + ([(OTHER, overflow)] if overflow else []),
        )
        constraint = feature_constraint(
            self.feature.name,
            inferred,
            present / (present + self.missing),
            domains=None if overflow else [value for value, _ in kept],
        )
        return entry, constraint


def _absorb(
    columns: Sequence[_Column], split: Sequence[NDArray[np.float64] | list[object]]
) -> None:
    for column, cells in zip(columns, split, strict=True):
        column.absorb(cells)


def _sketch(values: NDArray[np.float64], ordered: NDArray[np.float64]) -> list[float]:
    if values.size <= SKETCH_SIZE:
        return [float(v) for v in values]
    points = (np.arange(SKETCH_SIZE) + 0.5) / SKETCH_SIZE
    return [float(v) for v in np.quantile(ordered, points, method="inverted_cdf")]


def _categorical_type(categories: Counter[str]) -> str:
    """Integral or Fractional when every value is a number, else String (the analyzer's
    inference; comparison still treats the feature as categorical)."""
    types = {value_type(value) for value in categories}
    if types == {"Integral"}:
        return "Integral"
    if types <= {"Integral", "Fractional"}:
        return "Fractional"
    return "String"


def _positions(names: Sequence[str], features: Sequence[FeatureSpec]) -> list[int]:
    index: dict[str, int] = {}
    for position, name in enumerate(names):
        index.setdefault(name, position)
    absent = [f.name for f in features if f.name not in index]
    if absent:
        raise ValueError(f"the CSV has no column for: {', '.join(absent)}")
    return [index[f.name] for f in features]


def _project(reader: Iterator[list[str]], positions: Sequence[int]) -> Iterator[Sequence[str]]:
    """Each non-empty CSV row cut down to the features' cells, in feature order."""
    pick: Callable[[list[str]], Sequence[str]]
    if len(positions) == 1:
        only = positions[0]
        pick = lambda row: (row[only],)  # noqa: E731 - a one-column itemgetter returns a str
    else:
        pick = operator.itemgetter(*positions)
    for number, row in enumerate(reader, 1):
        if not row:
            continue
        try:
            yield pick(row)
        except IndexError:
            raise ValueError(
                f"CSV record {number} has {len(row)} cells; column {max(positions) + 1} is needed"
            ) from None
