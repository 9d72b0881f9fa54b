"""The baseline, compiled for comparison from its two Model Monitor files.

statistics.json and constraints.json are the single source of truth: re-pointing a monitor at
another baseline is pointing it at other files, and a baseline Model Monitor itself suggested
works as well as one of ours. Compiling checks the files once and lists everything wrong with
them, so a broken baseline fails the run at its start with one clear message.

A numeric feature compiles to its KLL sketch read as a step CDF: `edges` are the sketch's sorted
distinct values (an item on level i weighs 2**i, as in Deequ) and `cdf[i]` the weighted share of
sketch values <= edges[i]. Windows count their values between those edges, so baseline and
window CDFs are compared at the same points with no interpolation on either side.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from driftcheck.attributions import AttributionReference
from driftcheck.attributions import parse_reference as parse_attributions
from driftcheck.features import CategoricalMethod, DriftSettings, Kind, Method
from driftcheck.formats import OTHER

PSI_QUANTILES = tuple(q / 10 for q in range(1, 10))


class BaselineInvalid(ValueError):
    """statistics.json / constraints.json cannot serve as a baseline; `problems` lists why."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        listing = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"the baseline is invalid: {len(self.problems)} problem(s)\n{listing}")


@dataclass(frozen=True, eq=False)
class NumericReference:
    """A numeric feature's baseline: its CDF at the sketch's values, and its counts."""

    name: str
    inferred_type: str
    edges: NDArray[np.float64]
    cdf: NDArray[np.float64]
    count: int
    missing: int
    completeness: float
    shift: float  # the baseline mean; windows sum (x - shift) so variances stay accurate
    psi_cuts: NDArray[np.intp]  # indices into edges: the baseline's deciles
    spread: float = 0.0  # the baseline's standard deviation (0: unknown or constant)
    mean: float | None = None  # the baseline's mean, when statistics.json gives one
    low: float = 0.0  # the baseline's min and max
    high: float = 0.0
    checked: bool = True
    kind: Kind = field(default="numeric", init=False)

    @property
    def integral(self) -> bool:
        return self.inferred_type == "Integral"


@dataclass(frozen=True, eq=False)
class CategoricalReference:
    """A categorical feature's baseline: counts per value and the allowed domain."""

    name: str
    inferred_type: str
    counts: Mapping[str, int]  # may hold OTHER when the baseline had too many values
    count: int
    missing: int
    completeness: float
    domain: frozenset[str] | None  # constraints' domains; None: no domain check
    checked: bool = True
    kind: Kind = field(default="categorical", init=False)

    @functools.cached_property
    def tracked(self) -> frozenset[str]:
        """Values a window always counts exactly (never folded into its overflow bucket)."""
        return frozenset(self.counts).union(self.domain or ()) - {OTHER}

    @property
    def has_other(self) -> bool:
        return OTHER in self.counts


FeatureReference = NumericReference | CategoricalReference


@dataclass(frozen=True, eq=False)
class Reference:
    """A compiled baseline: features in column order, the settings, and a fingerprint that
    ties window partials to the baseline they were counted against.

    `prediction` is the model's output on the baseline's rows, when the baseline has it: the
    top-level "prediction" entry of statistics.json and constraints.json, beside "features"
    (which list the request's columns only, so tools that read them by position, and
    baselines from before, are unaffected). A window reads it from each record's
    endpointOutput; None (an older baseline, or input without outputs) skips it.

    `attributions` are the model's global SHAP values on the baseline's rows, when the
    baseline has them (statistics.json's "attributions", see driftcheck.attributions): a
    window reads them from answers that ship attributions, which only outputs hold, so a
    baseline without a prediction has none."""

    features: tuple[FeatureReference, ...]
    settings: DriftSettings
    evaluate: bool  # monitoring_config.evaluate_constraints
    compare: bool  # distribution_constraints.perform_comparison
    item_count: int
    fingerprint: str
    prediction: NumericReference | None = None
    attributions: AttributionReference | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The request's columns (the inputs), in order."""
        return tuple(f.name for f in self.features)

    @property
    def columns(self) -> tuple[FeatureReference, ...]:
        """What a window counts: the features, then the prediction when there is one."""
        if self.prediction is None:
            return self.features
        return (*self.features, self.prediction)

    def without_prediction(self) -> Reference:
        """This baseline for input that holds no model outputs (a batch transform's input)."""
        if self.prediction is None:
            return self
        return dataclasses.replace(
            self, prediction=None, attributions=None, fingerprint=self.fingerprint + "-inputs"
        )

    @classmethod
    def from_baseline(
        cls, statistics: Mapping[str, Any], constraints: Mapping[str, Any]
    ) -> Reference:
        """Compile and validate. Raises: BaselineInvalid (a ValueError) listing every problem."""
        problems: list[str] = []
        if not isinstance(statistics, Mapping):
            raise BaselineInvalid(["statistics.json is not a JSON object"])
        if not isinstance(constraints, Mapping):
            raise BaselineInvalid(["constraints.json is not a JSON object"])
        constrained = _constraint_features(constraints, problems)
        features = _compile_features(statistics, constrained, problems)
        unknown = sorted(set(constrained) - _statistics_names(statistics))
        if unknown and statistics.get("features"):
            problems.append(
                "constraints.json has features statistics.json does not: " + ", ".join(unknown)
            )
        settings, evaluate, compare = _monitoring_config(constraints, problems)
        item_count = _count(_dig(statistics, "dataset", "item_count"))
        prediction = _prediction(statistics, constraints, {f.name for f in features}, problems)
        explained = parse_attributions(
            statistics.get("attributions"), [f.name for f in features], problems
        )
        if explained is not None and prediction is None:
            problems.append("statistics.json: attributions without a prediction entry")
        if problems or settings is None:
            raise BaselineInvalid(problems)
        return cls(
            features=tuple(features),
            settings=settings,
            evaluate=evaluate,
            compare=compare,
            item_count=item_count if item_count is not None else 0,
            fingerprint=_fingerprint(statistics, constraints),
            prediction=prediction,
            attributions=explained,
        )


def _prediction(
    statistics: Mapping[str, Any],
    constraints: Mapping[str, Any],
    features: set[str],
    problems: list[str],
) -> NumericReference | None:
    """The model output's baseline (statistics.json's "prediction"), or None without one."""
    entry = statistics.get("prediction")
    if entry is None:
        return None
    name = entry.get("name") if isinstance(entry, Mapping) else None
    if not isinstance(name, str) or not name or "numerical_statistics" not in entry:
        problems.append("statistics.json: 'prediction' must be a named numeric feature entry")
        return None
    if name in features:
        problems.append(f"statistics.json: the prediction's name {name!r} is a feature's")
        return None
    constraint = constraints.get("prediction", {})
    if not isinstance(constraint, Mapping):
        problems.append("constraints.json: 'prediction' must be an object")
        return None
    return _numeric(name, entry, constraint, problems)


def _compile_features(
    statistics: Mapping[str, Any],
    constrained: Mapping[str, Mapping[str, Any]],
    problems: list[str],
) -> list[FeatureReference]:
    entries = statistics.get("features")
    if not isinstance(entries, list) or not entries:
        problems.append("statistics.json: 'features' must be a non-empty list")
        return []
    features: list[FeatureReference] = []
    names: set[str] = set()
    for index, entry in enumerate(entries):
        name = entry.get("name") if isinstance(entry, Mapping) else None
        if not isinstance(name, str) or not name:
            problems.append(f"statistics.json: features[{index}] has no name")
            continue
        if name in names:
            problems.append(f"statistics.json: feature {name!r} appears twice")
            continue
        names.add(name)
        constraint = constrained.get(name, {})
        compiled: FeatureReference | None
        if "numerical_statistics" in entry:
            compiled = _numeric(name, entry, constraint, problems)
        elif "string_statistics" in entry:
            compiled = _categorical(name, entry, constraint, problems)
        else:
            problems.append(f"feature {name!r}: neither numerical_statistics nor string_statistics")
            compiled = None
        if compiled is not None:
            features.append(compiled)
    return features


def _statistics_names(statistics: Mapping[str, Any]) -> set[str]:
    entries = statistics.get("features")
    if not isinstance(entries, list):
        return set()
    return {e["name"] for e in entries if isinstance(e, Mapping) and isinstance(e.get("name"), str)}


def _numeric(
    name: str, entry: Mapping[str, Any], constraint: Mapping[str, Any], problems: list[str]
) -> NumericReference | None:
    stats = entry["numerical_statistics"]
    present, missing = _common(name, stats, problems)
    levels = _dig(stats, "distribution", "kll", "sketch", "data")
    values, weights = _sketch_items(levels)
    if values is None or weights is None:
        problems.append(
            f"feature {name!r}: distribution.kll.sketch.data must be a list of lists of "
            "finite numbers holding at least one value"
        )
        return None
    if present is None or missing is None:
        return None
    if present == 0:
        problems.append(f"feature {name!r}: num_present is 0, there is nothing to compare with")
        return None
    edges, inverse = np.unique(values, return_inverse=True)
    cumulative = np.cumsum(np.bincount(inverse, weights=weights))
    cdf = cumulative / cumulative[-1]
    mean = stats.get("mean")
    shift = float(mean) if _finite(mean) else float(np.median(edges))
    spread, low, high = (stats.get(key) for key in ("std_dev", "min", "max"))
    inferred = entry.get("inferred_type")
    return NumericReference(
        name=name,
        inferred_type="Integral" if inferred == "Integral" else "Fractional",
        edges=edges,
        cdf=cdf,
        count=present,
        missing=missing,
        completeness=_completeness(name, constraint, present, missing, problems),
        shift=shift,
        psi_cuts=np.unique(np.searchsorted(cdf, PSI_QUANTILES, side="left")),
        spread=float(spread) if _finite(spread) and spread > 0 else 0.0,
        mean=float(mean) if _finite(mean) else None,
        low=min(float(low), float(edges[0])) if _finite(low) else float(edges[0]),
        high=max(float(high), float(edges[-1])) if _finite(high) else float(edges[-1]),
        checked=_checked(constraint),
    )


def _categorical(
    name: str, entry: Mapping[str, Any], constraint: Mapping[str, Any], problems: list[str]
) -> CategoricalReference | None:
    stats = entry["string_statistics"]
    present, missing = _common(name, stats, problems)
    buckets = _dig(stats, "distribution", "categorical", "buckets")
    counts: dict[str, int] = {}
    if not isinstance(buckets, list):
        problems.append(f"feature {name!r}: distribution.categorical.buckets must be a list")
        return None
    for bucket in buckets:
        value = bucket.get("value") if isinstance(bucket, Mapping) else None
        count = _count(bucket.get("count")) if isinstance(bucket, Mapping) else None
        if not isinstance(value, str) or count is None:
            problems.append(
                f"feature {name!r}: every categorical bucket needs a string value and a count"
            )
            return None
        counts[value] = counts.get(value, 0) + count
    if sum(counts.values()) == 0:
        problems.append(f"feature {name!r}: the categorical buckets hold no values")
        return None
    domain = _domain(name, constraint, problems)
    if present is None or missing is None:
        return None
    inferred = entry.get("inferred_type")
    return CategoricalReference(
        name=name,
        inferred_type=inferred if inferred in ("Integral", "Fractional") else "String",
        counts=counts,
        count=sum(counts.values()),
        missing=missing,
        completeness=_completeness(name, constraint, present, missing, problems),
        domain=domain,
        checked=_checked(constraint),
    )


def _common(name: str, stats: Any, problems: list[str]) -> tuple[int, int] | tuple[None, None]:
    present = _count(_dig(stats, "common", "num_present"))
    missing = _count(_dig(stats, "common", "num_missing"))
    if present is None or missing is None:
        problems.append(
            f"feature {name!r}: common.num_present and common.num_missing must be counts"
        )
        return None, None
    return present, missing


def _sketch_items(
    levels: Any,
) -> tuple[NDArray[np.float64], NDArray[np.float64]] | tuple[None, None]:
    if not isinstance(levels, list) or not all(
        isinstance(level, list) and all(_finite(v) for v in level) for level in levels
    ):
        return None, None
    arrays = [np.asarray(level, dtype=np.float64) for level in levels]
    values = np.concatenate(arrays) if arrays else np.empty(0)
    if values.size == 0:
        return None, None
    weights = np.concatenate(
        [np.full(array.size, 2.0**level) for level, array in enumerate(arrays)]
    )
    return values, weights


def _constraint_features(
    constraints: Mapping[str, Any], problems: list[str]
) -> dict[str, Mapping[str, Any]]:
    entries = constraints.get("features", [])
    if not isinstance(entries, list):
        problems.append("constraints.json: 'features' must be a list")
        return {}
    by_name: dict[str, Mapping[str, Any]] = {}
    for index, entry in enumerate(entries):
        name = entry.get("name") if isinstance(entry, Mapping) else None
        if not isinstance(name, str) or not name:
            problems.append(f"constraints.json: features[{index}] has no name")
        else:
            by_name[name] = entry
    return by_name


def _completeness(
    name: str, constraint: Mapping[str, Any], present: int, missing: int, problems: list[str]
) -> float:
    value = constraint.get("completeness")
    if value is None:
        total = present + missing
        return present / total if total else 1.0
    if not _finite(value) or not 0.0 <= value <= 1.0:
        problems.append(f"feature {name!r}: completeness must be a number between 0 and 1")
        return 1.0
    return float(value)


def _domain(name: str, constraint: Mapping[str, Any], problems: list[str]) -> frozenset[str] | None:
    domains = _dig(constraint, "string_constraints", "domains")
    if domains is None:
        return None
    if not isinstance(domains, list) or not all(isinstance(v, str) for v in domains):
        problems.append(f"feature {name!r}: string_constraints.domains must be a list of strings")
        return None
    return frozenset(domains)


def _checked(constraint: Mapping[str, Any]) -> bool:
    """False when a per-feature override disables evaluation (both spellings AWS uses)."""
    for overrides in (
        constraint.get("monitoringConfigOverrides"),
        _dig(constraint, "string_constraints", "monitoring_config_overrides"),
    ):
        if isinstance(overrides, Mapping) and _disabled(overrides.get("evaluate_constraints")):
            return False
    return True


def _monitoring_config(
    constraints: Mapping[str, Any], problems: list[str]
) -> tuple[DriftSettings | None, bool, bool]:
    """Settings from monitoring_config; absent keys take DriftSettings' defaults."""
    config = constraints.get("monitoring_config", {})
    if not isinstance(config, Mapping):
        problems.append("constraints.json: monitoring_config must be an object")
        return None, True, True
    distribution = config.get("distribution_constraints", {})
    if not isinstance(distribution, Mapping):
        problems.append("constraints.json: distribution_constraints must be an object")
        return None, True, True
    defaults = DriftSettings()
    threshold = distribution.get("comparison_threshold", defaults.threshold)
    in_share = distribution.get("prediction_in_drifted_share")
    values: dict[str, Any] = {
        "threshold": threshold,
        "categorical_threshold": distribution.get("categorical_comparison_threshold", threshold),
        "method": _method(distribution.get("comparison_method"), problems),
        "categorical_method": _categorical_method(
            distribution.get("categorical_drift_method"), problems
        ),
        "psi_threshold": distribution.get("psi_threshold", defaults.psi_threshold),
        "wasserstein_threshold": distribution.get(
            "wasserstein_threshold", defaults.wasserstein_threshold
        ),
        "chi2_p_value": distribution.get("chi_squared_p_value", defaults.chi2_p_value),
        "prediction_threshold": distribution.get(
            "prediction_comparison_threshold", defaults.prediction_threshold
        ),
        "prediction_in_share": _enabled(in_share) if in_share is not None else False,
        "check_level": distribution.get("check_significance_level", defaults.check_level),
        "alarm_share": distribution.get("alarm_share", defaults.alarm_share),
        "attribution_limit": distribution.get("attribution_ndcg_limit", defaults.attribution_limit),
        "datatype_threshold": config.get("datatype_check_threshold", defaults.datatype_threshold),
        "domain_threshold": config.get("domain_content_threshold", defaults.domain_threshold),
    }
    try:
        settings = DriftSettings(**values)
    except ValueError as error:
        problems.append(f"constraints.json: monitoring_config: {error}")
        return None, True, True
    evaluate = not _disabled(config.get("evaluate_constraints"))
    compare = not _disabled(distribution.get("perform_comparison"))
    return settings, evaluate, compare


# Every spelling seen in AWS's docs and files, lower-cased (the docs' table says linf_robust,
# its schema block and every generated file say Robust).
_METHODS: dict[str, Method] = {
    "robust": "robust",
    "linf_robust": "robust",
    "simple": "simple",
    "linf_simple": "simple",
}
_CATEGORICAL_METHODS: dict[str, CategoricalMethod] = {
    "linfinity": "linf",
    "linf": "linf",
    "chisquared": "chisquared",
    "chi_squared": "chisquared",
}


def _method(value: Any, problems: list[str]) -> Method:
    if value is None:
        return "robust"
    if str(value).lower() not in _METHODS:
        problems.append("constraints.json: comparison_method must be Robust or Simple")
    return _METHODS.get(str(value).lower(), "robust")


def _categorical_method(value: Any, problems: list[str]) -> CategoricalMethod:
    if value is None:
        return "linf"
    if str(value).lower() not in _CATEGORICAL_METHODS:
        problems.append(
            "constraints.json: categorical_drift_method must be LInfinity or ChiSquared"
        )
    return _CATEGORICAL_METHODS.get(str(value).lower(), "linf")


def _enabled(value: Any) -> bool:
    return isinstance(value, str) and value.lower() == "enabled"


def _disabled(value: Any) -> bool:
    return isinstance(value, str) and value.lower() == "disabled"


def _dig(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _count(value: Any) -> int | None:
    """A non-negative count; Jackson may write one as 20 or 20.0."""
    if not _finite(value) or value < 0 or value != int(value):
        return None
    return int(value)


def _fingerprint(statistics: Mapping[str, Any], constraints: Mapping[str, Any]) -> str:
    canonical = json.dumps([statistics, constraints], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:16]
