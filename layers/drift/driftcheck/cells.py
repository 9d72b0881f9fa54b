"""Cells to columns: the one place that decides what a cell means.

Numeric columns become float64 arrays with two sentinels, so one array carries all three
outcomes a cell can have:

- NaN: missing (an empty or blank cell, JSON null, or the text "nan");
- +inf: present but not a usable number (text that is not a number, a nested JSON value, or an
  infinity: none of these can enter sums or CDFs, so all count as data type mismatches);
- any finite value: the number.

The fast path hands a whole chunk to numpy (`np.array(rows, dtype=float64)`), which parses text
in C with the same rules as Python's float(). Only when that fails (an empty cell, a word) does
a column fall back to a per-cell loop, and that loop uses float() itself, so a value is read the
same way whichever path its chunk took: counts never depend on how a window was split.

Categorical cells become strings: text as it is, JSON scalars as their JSON text, so "1" in a CSV
payload and 1 in a JSON payload are the same category.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Literal, cast

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
ValueType = Literal["Integral", "Fractional", "String"]
NOT_A_NUMBER = math.inf


def split_columns(
    rows: Sequence[Sequence[object]], numeric: Sequence[bool]
) -> list[FloatArray | list[object]]:
    """Rows of exactly len(numeric) cells -> one column per feature (floats or raw cells)."""
    width = len(numeric)
    if all(numeric):
        table = _float_table(rows, width)
        if table is not None:
            return list(np.ascontiguousarray(table.T))
    grid = _object_grid(rows, width)
    if grid is None:
        columns = [list(column) for column in zip(*rows, strict=True)] or [[]] * width
        return [
            numeric_column(column) if is_numeric else column
            for column, is_numeric in zip(columns, numeric, strict=True)
        ]
    return [
        numeric_column(grid[:, j]) if is_numeric else grid[:, j].tolist()
        for j, is_numeric in enumerate(numeric)
    ]


def split_texts(texts: Sequence[str], numeric: Sequence[bool]) -> list[FloatArray | list[object]]:
    """One-row CSV texts of exactly len(numeric) cells each (no quotes, CR or LF) -> the
    columns split_columns() gives for [text.split(",") for text in texts], value for value.

    The texts are joined and split once (no list per row), and each numeric column is parsed
    by numpy in one call; a column with empty cells is parsed again with "nan" for them (NaN,
    as cell_float gives an empty cell); anything else that fails takes numeric_column's
    per-cell path, so every cell is still read by float() or cell_float.
    """
    width = len(numeric)
    cells = ",".join(texts).split(",")
    if len(cells) != len(texts) * width:
        return split_columns([text.split(",") for text in texts], numeric)
    if all(numeric):
        try:
            table = np.array(cells, dtype=np.float64).reshape(len(texts), width)
        except (ValueError, TypeError, OverflowError):
            pass
        else:
            return list(np.ascontiguousarray(table.T))
    columns: list[FloatArray | list[object]] = []
    for j, is_numeric in enumerate(numeric):
        column = cells[j::width]
        columns.append(_text_column(column) if is_numeric else cast("list[object]", column))
    return columns


def _text_column(cells: list[str]) -> FloatArray:
    try:
        return np.array(cells, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):
        pass
    if "" in cells:
        try:
            return np.array([cell or "nan" for cell in cells], dtype=np.float64)
        except (ValueError, TypeError, OverflowError):
            pass
    return numeric_column(cells)


def numeric_column(cells: Sequence[object] | NDArray[np.object_]) -> FloatArray:
    """One column of cells -> floats with the NaN / +inf sentinels described above."""
    try:
        values = np.asarray(cells, dtype=np.float64)
        if values.shape == (len(cells),):
            return values
    except (ValueError, TypeError, OverflowError):
        pass
    return np.fromiter(map(cell_float, cells), dtype=np.float64, count=len(cells))


def cell_float(cell: object) -> float:
    """One cell -> a float, NaN (missing) or +inf (not a number). Mirrors numpy's fast path."""
    if cell is None:
        return math.nan
    try:
        return float(cell)  # type: ignore[arg-type]
    except (ValueError, TypeError, OverflowError):
        if isinstance(cell, str) and not cell.strip():
            return math.nan
        return NOT_A_NUMBER


def category_counts(cells: Iterable[object]) -> tuple[Counter[str], int]:
    """Occurrences of each category, and the number of missing cells."""
    cells = list(cells)
    counts: Counter[str | None]
    try:
        counts = Counter(cells)  # type: ignore[arg-type]
        all_text = all(key.__class__ is str for key in counts)
    except TypeError:  # an unhashable JSON value (a list, an object)
        all_text = False
    if not all_text:
        # 1, 1.0 and True are equal dictionary keys in Python; canonical text keeps them apart.
        counts = Counter(map(category, cells))
    missing = counts.pop(None, 0)
    for blank in [key for key in counts if key is not None and not key.strip()]:
        missing += counts.pop(blank)
    return counts, missing  # type: ignore[return-value]


def category(cell: object) -> str | None:
    """The category a cell names; None when it is missing."""
    if cell is None:
        return None
    if isinstance(cell, str):
        return cell if cell.strip() else None
    if isinstance(cell, bool):
        return "true" if cell else "false"
    if isinstance(cell, float):
        if math.isnan(cell):
            return None
        # 4.0 from a JSON payload or a numpy row is the category "4", as in a CSV payload.
        return str(int(cell)) if cell.is_integer() else repr(cell)
    if isinstance(cell, int):
        return str(cell)
    return json.dumps(cell, sort_keys=True, separators=(",", ":"), default=str)


def value_type(text: str) -> ValueType:
    """What a categorical value looks like: an integer, another number, or text."""
    try:
        int(text)
    except ValueError:
        pass
    else:
        return "Integral"
    try:
        number = float(text)
    except ValueError:
        return "String"
    return "Fractional" if math.isfinite(number) else "String"


def type_matches(actual: ValueType, expected: str) -> bool:
    """Whether a value of type `actual` satisfies a baseline `inferred_type` of `expected`."""
    if expected == "Integral":
        return actual == "Integral"
    if expected == "Fractional":
        return actual in ("Integral", "Fractional")
    return True


def _float_table(rows: Sequence[Sequence[object]], width: int) -> FloatArray | None:
    try:
        table = np.array(rows, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):
        return None
    return table if table.shape == (len(rows), width) else None


def _object_grid(rows: Sequence[Sequence[object]], width: int) -> NDArray[np.object_] | None:
    """Rows as a 2-D object array (row-major, so fast); None when a cell is itself a list
    that numpy would turn into an extra dimension."""
    try:
        grid = np.array(rows, dtype=object)
    except ValueError:
        return None
    return grid if grid.shape == (len(rows), width) else None
