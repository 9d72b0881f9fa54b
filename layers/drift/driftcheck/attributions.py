"""Feature-attribution drift: which features drive the model's answers, baseline against window.

A model that ships attributions (an endpoint answering in SageMaker Clarify's online
explainability shape, see `clarify_answer`) explains every answer feature by feature. The mean
absolute attribution of each feature over many rows is its global SHAP value (Clarify's name);
ranked, those say what the model leans on. When the ranking moves (a feature the model relied
on stops varying, another starts to dominate), the model is being used differently from how it
was validated, even if no single input's distribution crossed its threshold.

The baseline's global SHAP values are the candidate's own TreeSHAP contributions (xgboost's
pred_contribs) on the baseline's rows, written by the pipeline's BaselineData step as the
"attributions" entry of statistics.json:

    {"method": "tree_shap", "item_count": 1200, "global_shap_values": {"feature": 0.31, ...}}

A window's are summed from its captured answers (AttributionPartial: sums and a count, so
partials merge like the rest of the window). The two rankings are compared by nDCG, as Model
Monitor's feature-attribution drift check does: with F the features in the baseline's order,
F' in the window's, and a(f) the baseline's value of f,

    nDCG = sum_i a(F'_i) / log2(i + 1)  /  sum_i a(F_i) / log2(i + 1)

1 is the same ranking; two features of nearly equal weight swapping places cost almost nothing;
the top feature falling far costs most. Model Monitor logs a violation below 0.9, the default
of DriftSettings.attribution_limit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

# Fewer explained rows than this and a window's ranking is mostly sampling noise: not judged.
MIN_EXPLAINED_ROWS = 100
TOP = 5  # features shown in the finding and the report, each ranking

NO_BASELINE = "the baseline has no attributions (the model's baseline predates them)"
NO_ATTRIBUTIONS = "no captured answer carries attributions (does the endpoint ship them?)"
TOO_FEW = "{rows} explained rows, fewer than the {least} a ranking needs"


@dataclass(frozen=True, eq=False)
class AttributionReference:
    """The baseline's global SHAP values, in feature order."""

    values: NDArray[np.float64]
    item_count: int
    method: str


@dataclass
class AttributionPartial:
    """A window's absolute attributions summed per feature, and the rows they came from."""

    sums: NDArray[np.float64]
    rows: int = 0

    @classmethod
    def empty(cls, width: int) -> AttributionPartial:
        return cls(np.zeros(width, dtype=np.float64))

    def absorb(self, rows: Sequence[Sequence[float]]) -> None:
        if rows:
            self.sums += np.abs(np.asarray(rows, dtype=np.float64)).sum(axis=0)
            self.rows += len(rows)

    @property
    def means(self) -> NDArray[np.float64]:
        """Each feature's mean |attribution| (its global SHAP value); rows must be > 0."""
        return self.sums / self.rows

    def merged(self, other: AttributionPartial) -> AttributionPartial:
        return AttributionPartial(self.sums + other.sums, self.rows + other.rows)

    def to_json(self) -> dict[str, Any]:
        return {"sums": self.sums.tolist(), "rows": self.rows}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], width: int) -> AttributionPartial:
        sums = np.asarray(data["sums"], dtype=np.float64)
        if sums.shape != (width,):
            raise ValueError("the window's attribution sums have the wrong width")
        return cls(sums, int(data["rows"]))


@dataclass(frozen=True)
class AttributionDrift:
    """The window's ranking against the baseline's."""

    ndcg: float
    limit: float
    rows: int  # explained rows in the window
    baseline: tuple[tuple[str, float], ...]  # (feature, global SHAP value), largest first
    window: tuple[tuple[str, float], ...]

    @property
    def drifted(self) -> bool:
        return self.ndcg < self.limit

    def description(self) -> str:
        """The violation's text (Model Monitor's explainability violation has no feature)."""
        return (
            f"nDCG {self.ndcg:.4f} of the window's feature-attribution ranking against the "
            f"baseline's is below {self.limit:g}: the top features were "
            f"{_names(self.baseline)}, now {_names(self.window)}"
        )

    def to_json(self, top: int = TOP) -> dict[str, Any]:
        return {
            "ndcg": round(self.ndcg, 4),
            "limit": self.limit,
            "drifted": self.drifted,
            "rows": self.rows,
            "baseline_top": [name for name, _ in self.baseline[:top]],
            "window_top": [name for name, _ in self.window[:top]],
        }


def ndcg(baseline: NDArray[np.float64], window: NDArray[np.float64]) -> float:
    """Clarify's nDCG of the window's ranking, gains being the baseline's values. Ties in the
    window keep the baseline's order (a tie is no evidence of change)."""
    discounts = 1.0 / np.log2(np.arange(2, baseline.size + 2))
    ideal = float(np.sort(baseline)[::-1] @ discounts)
    if ideal <= 0:
        return 1.0  # a baseline with no attribution at all ranks nothing
    by_baseline = np.argsort(-baseline, kind="stable")
    ranked = by_baseline[np.argsort(-window[by_baseline], kind="stable")]
    return float(baseline[ranked] @ discounts) / ideal


def judge(
    reference: AttributionReference,
    partial: AttributionPartial,
    names: Sequence[str],
    limit: float,
) -> AttributionDrift | str:
    """The window's attribution drift, or why it is not judged."""
    if partial.rows == 0:
        return NO_ATTRIBUTIONS
    if partial.rows < MIN_EXPLAINED_ROWS:
        return TOO_FEW.format(rows=partial.rows, least=MIN_EXPLAINED_ROWS)
    window = partial.means
    return AttributionDrift(
        ndcg=ndcg(reference.values, window),
        limit=limit,
        rows=partial.rows,
        baseline=ranking(names, reference.values),
        window=ranking(names, window),
    )


def ranking(names: Sequence[str], values: NDArray[np.float64]) -> tuple[tuple[str, float], ...]:
    order = np.argsort(-values, kind="stable")
    return tuple((names[i], float(values[i])) for i in order)


def _names(ranked: Sequence[tuple[str, float]]) -> str:
    return ", ".join(name for name, _ in ranked[:3])


# -- the baseline's entry ---------------------------------------------------------------------


def baseline_entry(names: Sequence[str], contributions: NDArray[np.float64]) -> dict[str, Any]:
    """statistics.json's "attributions" from per-row contributions (rows x features, the
    bias column already dropped). Raises: ValueError unless one finite value per cell."""
    values = np.asarray(contributions, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != len(names) or not values.shape[0]:
        raise ValueError(f"attributions must be rows of {len(names)} values, one per feature")
    if not np.all(np.isfinite(values)):
        raise ValueError("an attribution is not a finite number")
    means = np.abs(values).mean(axis=0)
    return {
        "method": "tree_shap",
        "item_count": int(values.shape[0]),
        "global_shap_values": {name: float(v) for name, v in zip(names, means, strict=True)},
    }


def parse_reference(
    entry: object, names: Sequence[str], problems: list[str]
) -> AttributionReference | None:
    """statistics.json's "attributions", or None without one; problems listed."""
    if entry is None:
        return None
    values = entry.get("global_shap_values") if isinstance(entry, Mapping) else None
    count = entry.get("item_count") if isinstance(entry, Mapping) else None
    if not isinstance(values, Mapping) or not isinstance(count, int) or count < 1:
        problems.append(
            "statistics.json: 'attributions' needs global_shap_values (feature: number) "
            "and a positive item_count"
        )
        return None
    missing = [n for n in names if n not in values]
    extra = sorted(set(values) - set(names))
    if missing or extra:
        problems.append(
            "statistics.json: attributions' features differ from the baseline's "
            f"(missing {missing[:5]}, not features {extra[:5]})"
        )
        return None
    found = [values[n] for n in names]
    if not all(_non_negative(v) for v in found):
        problems.append("statistics.json: a global SHAP value is not a finite number >= 0")
        return None
    method = entry.get("method") if isinstance(entry, Mapping) else None
    return AttributionReference(
        np.asarray(found, dtype=np.float64), count, method if isinstance(method, str) else ""
    )


def _non_negative(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


# -- Clarify's online explainability answer ----------------------------------------------------


def is_clarify_answer(payload: object) -> bool:
    """Whether a JSON answer is Clarify's: {"predictions": {...}, "explanations": {...}}."""
    return (
        isinstance(payload, Mapping)
        and isinstance(payload.get("predictions"), Mapping)
        and "explanations" in payload
    )


def clarify_predictions(payload: Mapping[str, Any]) -> tuple[str, str] | None:
    """The answer's model output: (its content type, its text), or None if it has none."""
    inner = payload["predictions"]
    data, content_type = inner.get("data"), inner.get("content_type")
    if not isinstance(data, str) or not isinstance(content_type, str):
        return None
    return content_type, data


def clarify_attributions(
    payload: Mapping[str, Any], rows: int, names: Sequence[str]
) -> list[list[float]]:
    """Each explained record's attributions in feature order (first label, first value, as
    Clarify lists them). A record Clarify did not explain (null), or whose explanation does
    not cover every feature with a number, is left out: a partial row would skew the means."""
    explanations = payload.get("explanations")
    records = explanations.get("kernel_shap") if isinstance(explanations, Mapping) else None
    if not isinstance(records, list) or len(records) != rows:
        return []
    index = {name: i for i, name in enumerate(names)}
    found: list[list[float]] = []
    for record in records:
        row = _record_attributions(record, index)
        if row is not None:
            found.append(row)
    return found


def _record_attributions(record: object, index: Mapping[str, int]) -> list[float] | None:
    if not isinstance(record, list) or len(record) != len(index):
        return None
    row: list[float | None] = [None] * len(index)
    for position, item in enumerate(record):
        if not isinstance(item, Mapping):
            return None
        header = item.get("feature_header")
        at = index.get(header) if isinstance(header, str) else position
        try:
            value = item["attributions"][0]["attribution"][0]
        except (KeyError, IndexError, TypeError):
            return None
        if at is None or row[at] is not None or not _number(value):
            return None
        row[at] = float(value)
    return row  # type: ignore[return-value]  # every position filled: len(record) == len(index)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
