"""Window statistics: what a window of traffic looked like, in a form that merges.

A window is usually read in pieces (one partial per capture object, in parallel Lambdas) and
folded together. Everything here is a count, a min/max or a sum, so partials merge:

- integer counts, minima and maxima are exact whatever the split;
- float sums are added in fold order, so two windows have bit-identical sums only when they are
  built from the same per-object partials folded in the same order. fold() is that order, used
  by the reduce step and by add_capture()/add_rows() alike (each call makes one partial and
  folds it into the accumulator), so "one accumulator fed object by object" and "partials
  folded in object order" agree exactly.

Numeric features are counted between the baseline's sketch values (the bins of Reference), so
a window's CDF is known exactly at every point the baseline's is. Categorical features count
every baseline value exactly and at most MAX_UNSEEN other values; values past that go to one
overflow count. Which unseen values are kept is decided by a stable hash (the MAX_UNSEEN
smallest), not by arrival order, so merging stays exact and associative even when the cap
bites.
"""

from __future__ import annotations

import functools
import io
import math
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from driftcheck.attributions import AttributionPartial
from driftcheck.capture import csv_rows, read_capture, read_capture_blocks
from driftcheck.cells import (
    category_counts,
    numeric_column,
    split_columns,
    split_texts,
    type_matches,
    value_type,
)
from driftcheck.intake import CHUNK_ROWS, MAX_EXAMPLES, Intake, Row, Tally, gc_paused, smallest
from driftcheck.reference import CategoricalReference, NumericReference, Reference

MAX_UNSEEN = 1000
BLOCK_BYTES = 1 << 20  # how much of a capture file add_capture() reads at a time
FORMAT = "driftcheck.window/1"


@dataclass
class NumericPartial:
    """Counts of one numeric feature's values between the baseline's edges, and moments."""

    counts: NDArray[np.int64]  # len(edges) + 1 bins: (-inf, e0], (e0, e1], ..., (e_last, inf)
    count: int = 0  # finite values (the sum of counts)
    missing: int = 0
    non_numeric: int = 0  # present but not a finite number: a data type mismatch
    non_integral: int = 0  # finite but not whole, counted for Integral features
    minimum: float = math.inf
    maximum: float = -math.inf
    shifted_sum: float = 0.0  # sum of (x - shift), shift = the baseline mean
    shifted_squares: float = 0.0  # sum of (x - shift)^2: no cancellation for large means

    @classmethod
    def empty(cls, ref: NumericReference) -> NumericPartial:
        return cls(counts=np.zeros(ref.edges.size + 1, dtype=np.int64))

    def absorb(self, column: NDArray[np.float64], ref: NumericReference) -> None:
        """One chunk of one column (NaN = missing, inf = not a number; see cells)."""
        finite = np.isfinite(column)
        values = column if finite.all() else column[finite]
        if values.size != column.size:
            missing = int(np.count_nonzero(np.isnan(column)))
            self.missing += missing
            self.non_numeric += column.size - values.size - missing
        if not values.size:
            return
        # Sorting, then locating the edges in the sorted chunk, is ~10x faster than
        # locating each value among the edges, and yields min and max for free.
        ordered = np.sort(values)
        at_or_below = np.searchsorted(ordered, ref.edges, side="right")
        self.counts += np.diff(at_or_below, prepend=0, append=ordered.size)
        self.count += int(ordered.size)
        self.minimum = min(self.minimum, float(ordered[0]))
        self.maximum = max(self.maximum, float(ordered[-1]))
        shifted = values - ref.shift
        self.shifted_sum += float(np.sum(shifted))
        self.shifted_squares += float(np.dot(shifted, shifted))
        if ref.integral:
            self.non_integral += int(np.count_nonzero(values != np.floor(values)))

    def merged(self, other: NumericPartial) -> NumericPartial:
        return NumericPartial(
            counts=self.counts + other.counts,
            count=self.count + other.count,
            missing=self.missing + other.missing,
            non_numeric=self.non_numeric + other.non_numeric,
            non_integral=self.non_integral + other.non_integral,
            minimum=min(self.minimum, other.minimum),
            maximum=max(self.maximum, other.maximum),
            shifted_sum=self.shifted_sum + other.shifted_sum,
            shifted_squares=self.shifted_squares + other.shifted_squares,
        )

    @property
    def present(self) -> int:
        return self.count + self.non_numeric

    def to_json(self) -> dict[str, Any]:
        return {
            "counts": self.counts.tolist(),
            "count": self.count,
            "missing": self.missing,
            "non_numeric": self.non_numeric,
            "non_integral": self.non_integral,
            "min": self.minimum if self.count else None,
            "max": self.maximum if self.count else None,
            "shifted_sum": self.shifted_sum,
            "shifted_squares": self.shifted_squares,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], ref: NumericReference) -> NumericPartial:
        counts = np.asarray(data["counts"], dtype=np.int64)
        if counts.shape != (ref.edges.size + 1,):
            raise ValueError(f"feature {ref.name!r}: the partial has the wrong number of bins")
        count = int(data["count"])
        return cls(
            counts=counts,
            count=count,
            missing=int(data["missing"]),
            non_numeric=int(data["non_numeric"]),
            non_integral=int(data["non_integral"]),
            minimum=float(data["min"]) if count else math.inf,
            maximum=float(data["max"]) if count else -math.inf,
            shifted_sum=float(data["shifted_sum"]),
            shifted_squares=float(data["shifted_squares"]),
        )


@dataclass
class CategoricalPartial:
    """Counts per value of one categorical feature, with a bounded number of unseen values."""

    counts: dict[str, int] = field(default_factory=dict)
    other: int = 0  # unseen values beyond MAX_UNSEEN distinct
    present: int = 0
    missing: int = 0
    mismatched: int = 0  # values not of the baseline's inferred type

    def absorb(self, cells: Sequence[object], ref: CategoricalReference) -> None:
        counts, missing = category_counts(cells)
        self.missing += missing
        self.present += sum(counts.values())
        if ref.inferred_type != "String":
            self.mismatched += sum(
                n for v, n in counts.items() if not type_matches(value_type(v), ref.inferred_type)
            )
        mine = self.counts
        for value, n in counts.items():
            mine[value] = mine.get(value, 0) + n
        self._cap(ref)

    def merged(self, other: CategoricalPartial, ref: CategoricalReference) -> CategoricalPartial:
        counts = dict(self.counts)
        for value, n in other.counts.items():
            counts[value] = counts.get(value, 0) + n
        result = CategoricalPartial(
            counts=counts,
            other=self.other + other.other,
            present=self.present + other.present,
            missing=self.missing + other.missing,
            mismatched=self.mismatched + other.mismatched,
        )
        result._cap(ref)
        return result

    def distinct(self, ref: CategoricalReference) -> float:
        """Distinct values seen: exact below the cap, else estimated from the kept hashes
        (the k-minimum-values estimator: the k-th smallest of n uniform hashes ~ k / n)."""
        if not self.other:
            return float(len(self.counts))
        tracked = ref.tracked
        unseen = [value for value in self.counts if value not in tracked]
        largest = max(_hash(value) for value in unseen) + 1
        return float(len(self.counts) - len(unseen)) + (len(unseen) - 1) * 2.0**32 / largest

    def _cap(self, ref: CategoricalReference) -> None:
        tracked = ref.tracked
        unseen = [value for value in self.counts if value not in tracked]
        if len(unseen) <= MAX_UNSEEN:
            return
        unseen.sort(key=_rank)
        for value in unseen[MAX_UNSEEN:]:
            self.other += self.counts.pop(value)

    def to_json(self) -> dict[str, Any]:
        return {
            "counts": dict(self.counts),
            "other": self.other,
            "present": self.present,
            "missing": self.missing,
            "mismatched": self.mismatched,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CategoricalPartial:
        return cls(
            counts={str(k): int(v) for k, v in data["counts"].items()},
            other=int(data["other"]),
            present=int(data["present"]),
            missing=int(data["missing"]),
            mismatched=int(data["mismatched"]),
        )


Partial = NumericPartial | CategoricalPartial


class WindowStats:
    """Mergeable statistics of one window (or one piece of it) against one baseline."""

    def __init__(
        self,
        reference: Reference,
        partials: Sequence[Partial],
        tally: Tally | None = None,
        attributions: AttributionPartial | None = None,
    ) -> None:
        self.reference = reference
        self.partials: tuple[Partial, ...] = tuple(partials)
        self.tally = tally or Tally()
        # The answers' attributions, summed, when the baseline has some to compare with.
        self.attributions = attributions
        if attributions is None and reference.attributions is not None:
            self.attributions = AttributionPartial.empty(len(reference.features))

    @classmethod
    def empty(cls, reference: Reference) -> WindowStats:
        partials: list[Partial] = [
            NumericPartial.empty(f) if isinstance(f, NumericReference) else CategoricalPartial()
            for f in reference.columns
        ]
        return cls(reference, partials)

    def _intake(self, text_sink: bool = True) -> Intake:
        """An intake for this window's columns (the prediction read from outputs, if any)."""
        return Intake(
            self.reference.names,
            self._absorb,
            self._absorb_texts if text_sink else None,
            predicting=self.reference.prediction is not None,
            explain_sink=self.attributions.absorb if self.attributions is not None else None,
        )

    # -- reading -------------------------------------------------------------------------------

    def add_capture(self, lines: Iterable[bytes | str], source: str = "") -> None:
        """Read SageMaker data-capture JSON Lines (one record per line) into this window.

        `source` names the lines in malformed_examples ("source:line: reason"). The lines
        become one partial, folded into this accumulator (see the module docstring).
        """
        part = WindowStats.empty(self.reference)
        intake = part._intake()
        with gc_paused():
            if isinstance(lines, io.BufferedIOBase):
                # A binary file: read in blocks, split at b"\n" as iterating it would.
                blocks = iter(functools.partial(lines.read, BLOCK_BYTES), b"")
                read_capture_blocks(blocks, source, intake, universal_newlines=False)
            else:
                read_capture(lines, source, intake)
            intake.flush()
        part.tally = intake.tally()
        self._fold_in(part)

    def add_capture_blocks(self, blocks: Iterable[bytes], source: str = "") -> None:
        """add_capture() for a byte stream given in blocks of any size (an S3 body's chunks).

        Lines end at \r, \n or \r\n, as botocore's StreamingBody.iter_lines() splits them,
        so the result (malformed line numbers included) is what add_capture() gives for
        body.iter_lines(); it is just faster, most lines never being read one by one.
        """
        part = WindowStats.empty(self.reference)
        intake = part._intake()
        with gc_paused():
            read_capture_blocks(blocks, source, intake, universal_newlines=True)
            intake.flush()
        part.tally = intake.tally()
        self._fold_in(part)

    def add_csv(self, lines: Iterable[bytes | str]) -> None:
        """Read batch transform input: CSV lines, one row each in feature order, no header
        (quoted cells as the csv module reads them; blank lines skipped)."""

        def rows() -> Iterator[Row]:
            for line in lines:
                text = line.decode("utf-8", errors="replace") if isinstance(line, bytes) else line
                found = csv_rows(text)
                if not isinstance(found, str):  # a str says why there is no row (blank)
                    yield from found

        self.add_rows(rows())

    def add_rows(self, rows: Iterable[Row]) -> None:
        """Read rows already in feature order (batch transform input: CSV cells or values);
        they hold no predictions (missing, if the baseline has them: see
        Reference.without_prediction)."""
        part = WindowStats.empty(self.reference)
        intake = part._intake(text_sink=False)
        with gc_paused():
            intake.add_rows(rows)
            intake.flush()
        part.tally = intake.tally()
        self._fold_in(part)

    def add_columns(self, columns: Mapping[str, Sequence[object] | NDArray[Any]]) -> None:
        """Read rows held in memory as columns ({name: values}, a DataFrame's columns, say).

        Row i is read as the JSON object {name: columns[name][i] for every name}: a feature
        with no column is missing in every row, a name that is no feature is an extra column,
        and values are cells as in a capture (None or NaN: missing; text in a number: a type
        mismatch). The columns go to the statistics a chunk at a time, as an intake hands
        them over, so the window equals add_capture() of the same rows sent one per request
        as keyed JSON, float sums included. A column named as the baseline's prediction is
        the model's output. Raises: ValueError for columns that are not one-dimensional
        sequences of one length (nothing is read then).
        """
        rows = _column_length(columns)
        features = self.reference.columns
        picked = [columns.get(f.name) for f in features]
        part = WindowStats.empty(self.reference)
        with gc_paused():
            for start in range(0, rows, CHUNK_ROWS):
                stop = min(start + CHUNK_ROWS, rows)
                part._absorb_columns(
                    [
                        _column_chunk(values, start, stop, isinstance(ref, NumericReference))
                        for values, ref in zip(picked, features, strict=True)
                    ]
                )
        known = {f.name for f in features}
        extra = {name for name in columns if name not in known}
        part.tally = Tally(
            records=rows,
            rows=rows,
            keyed=frozenset(name for name in columns if name in known) if rows else frozenset(),
            extra_keys=smallest(extra) if rows else frozenset(),
            extra_rows=rows if extra else 0,
        )
        self._fold_in(part)

    # -- merging -------------------------------------------------------------------------------

    def merge(self, other: WindowStats) -> WindowStats:
        """self + other, a new window; neither input changes."""
        if other.reference.fingerprint != self.reference.fingerprint:
            raise ValueError("cannot merge windows counted against different baselines")
        partials = [
            _merged(a, b, ref)
            for a, b, ref in zip(self.partials, other.partials, self.reference.columns, strict=True)
        ]
        attributions = (
            self.attributions.merged(other.attributions)
            if self.attributions is not None and other.attributions is not None
            else None
        )
        return WindowStats(self.reference, partials, self.tally.merged(other.tally), attributions)

    def to_json(self) -> dict[str, Any]:
        """A compact JSON form, to pass partials between Lambdas (through S3)."""
        tally = self.tally
        explained = {"attributions": self.attributions.to_json()} if self.attributions else {}
        return explained | {
            "format": FORMAT,
            "baseline": self.reference.fingerprint,
            "records": tally.records,
            "rows": tally.rows,
            "malformed": tally.malformed,
            "malformed_examples": list(tally.examples),
            "widest": tally.widest,
            "keyed": sorted(tally.keyed),
            "extra_keys": sorted(tally.extra_keys),
            "extra_rows": tally.extra_rows,
            "bad_outputs": tally.bad_outputs,
            "features": [p.to_json() for p in self.partials],
        }

    @classmethod
    def from_json(cls, reference: Reference, data: Mapping[str, Any]) -> WindowStats:
        """The inverse of to_json. Raises: ValueError for another format or baseline."""
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise ValueError(f"not a window partial (expected format {FORMAT!r})")
        if data.get("baseline") != reference.fingerprint:
            raise ValueError("the window partial was counted against a different baseline")
        try:
            return cls._read(reference, data)
        except (KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"malformed window partial: {error!r}") from None

    @classmethod
    def _read(cls, reference: Reference, data: Mapping[str, Any]) -> WindowStats:
        features = data["features"]
        if len(features) != len(reference.columns):
            raise ValueError("the window partial has the wrong number of features")
        partials: list[Partial] = [
            NumericPartial.from_json(item, ref)
            if isinstance(ref, NumericReference)
            else CategoricalPartial.from_json(item)
            for item, ref in zip(features, reference.columns, strict=True)
        ]
        tally = Tally(
            records=int(data["records"]),
            rows=int(data["rows"]),
            malformed=int(data["malformed"]),
            examples=tuple(str(e) for e in data["malformed_examples"])[:MAX_EXAMPLES],
            widest=int(data["widest"]),
            keyed=frozenset(data["keyed"]),
            extra_keys=frozenset(data["extra_keys"]),
            extra_rows=int(data["extra_rows"]),
            bad_outputs=int(data.get("bad_outputs", 0)),
        )
        explained = None
        if reference.attributions is not None:
            explained = AttributionPartial.from_json(data["attributions"], len(reference.features))
        return cls(reference, partials, tally, explained)

    # -- internals -----------------------------------------------------------------------------

    def _absorb(self, rows: list[Row]) -> None:
        """One chunk of rows, exactly one cell per column."""
        numeric = [isinstance(f, NumericReference) for f in self.reference.columns]
        self._absorb_columns(split_columns(rows, numeric))

    def _absorb_texts(self, texts: list[str]) -> None:
        """One chunk of one-row CSV texts, exactly one cell per column (see Intake)."""
        numeric = [isinstance(f, NumericReference) for f in self.reference.columns]
        self._absorb_columns(split_texts(texts, numeric))

    def _absorb_columns(self, columns: list[NDArray[np.float64] | list[object]]) -> None:
        features = self.reference.columns
        for partial, ref, column in zip(self.partials, features, columns, strict=True):
            if isinstance(partial, NumericPartial) and isinstance(ref, NumericReference):
                partial.absorb(column, ref)  # type: ignore[arg-type]  # a float column
            elif isinstance(partial, CategoricalPartial) and isinstance(ref, CategoricalReference):
                partial.absorb(column, ref)  # type: ignore[arg-type]  # a column of cells

    def _fold_in(self, part: WindowStats) -> None:
        merged = self.merge(part)
        self.partials = merged.partials
        self.tally = merged.tally
        self.attributions = merged.attributions


def fold(parts: Iterable[WindowStats], *, reference: Reference | None = None) -> WindowStats:
    """Merge partials left to right, in the order given: ((p1 + p2) + p3) + ...

    The one fold used everywhere, so float sums come out the same however a window is read.
    `reference` makes the fold of no parts an empty window instead of an error.
    """
    result: WindowStats | None = None
    for part in parts:
        # Starting from an empty window, as an accumulator does, keeps the two bit-identical.
        result = (result or WindowStats.empty(part.reference)).merge(part)
    if result is None:
        if reference is None:
            raise ValueError("fold() of no partials needs the reference")
        return WindowStats.empty(reference)
    return result


def _merged(a: Partial, b: Partial, ref: NumericReference | CategoricalReference) -> Partial:
    if isinstance(a, NumericPartial) and isinstance(b, NumericPartial):
        return a.merged(b)
    if (
        isinstance(a, CategoricalPartial)
        and isinstance(b, CategoricalPartial)
        and isinstance(ref, CategoricalReference)
    ):
        return a.merged(b, ref)
    raise TypeError(f"feature {ref.name!r}: partials of different kinds")


def _hash(value: str) -> int:
    return zlib.crc32(value.encode("utf-8", "surrogatepass"))


def _rank(value: str) -> tuple[int, str]:
    return _hash(value), value


def _column_length(columns: Mapping[str, Sequence[object] | NDArray[Any]]) -> int:
    """The one length of add_columns()' columns; ValueError says what is wrong with them."""
    if not isinstance(columns, Mapping):
        raise ValueError("columns must be a mapping of feature name to values")
    lengths: dict[int, list[str]] = {}
    for name, values in columns.items():
        if not isinstance(name, str):
            raise ValueError(f"column names must be text, not {type(name).__name__}")
        if isinstance(values, str | bytes) or not hasattr(values, "__len__"):
            raise ValueError(f"column {name!r} is not a sequence of values")
        if isinstance(values, np.ndarray) and values.ndim != 1:
            raise ValueError(f"column {name!r} has {values.ndim} dimensions, not 1")
        lengths.setdefault(len(values), []).append(name)
    if len(lengths) > 1:
        sizes = ", ".join(f"{', '.join(names)}: {n}" for n, names in sorted(lengths.items()))
        raise ValueError(f"columns of different lengths ({sizes})")
    return next(iter(lengths), 0)


def _column_chunk(
    values: Sequence[object] | NDArray[Any] | None, start: int, stop: int, numeric: bool
) -> NDArray[np.float64] | list[object]:
    """Rows start..stop of one column in the form _absorb_columns takes."""
    if values is None:  # the feature has no column: missing in every row
        return np.full(stop - start, np.nan) if numeric else [None] * (stop - start)
    cells = values[start:stop]
    if numeric:
        return numeric_column(cells)
    return cells.tolist() if isinstance(cells, np.ndarray) else list(cells)
