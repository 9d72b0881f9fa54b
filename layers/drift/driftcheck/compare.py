"""The verdict: per-feature distances, drift, and the data-quality violations of a window.

Drift and data quality are kept apart. A feature has drifted when its distribution moved
(L-infinity beyond its threshold, PSI beyond its threshold for numeric features, or a
significant chi-square for categorical ones with that method); missing values, wrong types,
unknown categories and missing or extra columns are violations, reported in
constraint_violations.json and in the result, but they do not make a feature "drifted": a
broken upstream job and a changed population call for different people.

A window with no readable rows is "no data": no distances, no violations, never drift.

The model's output, when the baseline describes it (Reference.prediction), is compared like a
numeric feature (its own threshold if set) and checked for type and completeness, but it is
not a feature: `features` and `drifted_features` are the inputs, and `drifted_share` counts
the prediction only when the settings say so (prediction_in_share). Without prediction
statistics, or without a readable prediction in the window, it is skipped, and
`prediction_skipped` says why.

The answers' attributions, when the baseline has them (Reference.attributions) and the
window's answers ship them, are ranked and compared with the baseline's by nDCG (see
driftcheck.attributions): `attribution`, or `attribution_skipped` saying why not. Attribution
drift is a violation of its own (Model Monitor's feature_attribution_drift_check), not a
drifted feature: it has its own metric and alarm.

With a check level in the settings (the false-alarm budget, README "False alarms"), every
verdict has one more condition: the feature's two-sample test must tell the window from the
baseline at the feature's level (`FeatureDrift.chance` at most `FeatureDrift.level`). The
thresholds say how large a change must be to matter; the test says whether this window's rows
are enough to tell it from sampling noise. A large window with a tiny harmless difference
stays below the thresholds, and a small window whose distances are large by chance fails the
test.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from driftcheck import attributions, formats
from driftcheck.attributions import AttributionDrift
from driftcheck.distances import (
    chi_square,
    homogeneity,
    linf_cdfs,
    linf_frequencies,
    psi,
    robust,
    wasserstein_cdfs,
)
from driftcheck.features import Kind
from driftcheck.formats import Measure
from driftcheck.reference import (
    CategoricalReference,
    FeatureReference,
    NumericReference,
    Reference,
)
from driftcheck.stats import chi2_isf, chi2_sf, ks_p_value
from driftcheck.summary import window_statistics
from driftcheck.window import CategoricalPartial, NumericPartial, Partial, WindowStats

# A completeness drop must exceed this many binomial standard errors to be a violation.
COMPLETENESS_SIGMAS = 3.0
COMPLETENESS_MIN_DROP = 0.001
# The PSI noise bound's significance level: Deequ's alpha for c = 1.8 (see _psi_beyond_noise).
PSI_ALPHA = 0.003
PSI_MIN_PER_BIN = 20

ATTRIBUTION_CHECK = "feature_attribution_drift_check"
NO_PREDICTION_BASELINE = "the baseline has no prediction statistics (made before they were)"
NO_PREDICTIONS = "no record of the window holds a readable prediction (is Output captured?)"


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's comparison. `distance` is the verdict distance (the configured L-infinity
    method's, Robust or Simple); `linf` is always the Simple one. With the chi-square method a
    categorical verdict rests on `p_value` instead, and `distance` stays the L-infinity."""

    name: str
    kind: Kind
    distance: float
    threshold: float
    linf: float
    completeness: float
    baseline_completeness: float
    count: int  # values compared (numbers for numeric features, present values otherwise)
    drifted: bool
    psi: float | None = None  # numeric features
    # numeric: the Wasserstein distance in baseline standard deviations (when asked for)
    wasserstein: float | None = None
    chi2: float | None = None  # categorical features
    p_value: float | None = None
    unseen_share: float | None = None  # categorical: share of values outside the domain
    reason: str = ""  # what made it drift (the violation's text); empty when it did not
    # Which measure crossed its threshold: "distance" (the verdict distance), "psi",
    # "wasserstein" or "chi2" (the chi-square method's test); empty when none did.
    found_by: Measure | Literal[""] = ""
    # Measures beyond their threshold that the robust method counts as the sampling noise of a
    # small window, when nothing found drift (why an "ok" can sit beside a large number).
    within_noise: tuple[Measure, ...] = ()
    judged: bool = True  # False: the constraints turn the comparison off for this feature
    # The feature's two-sample test: how likely two samples of one distribution differ this
    # much (the p-value; see _numeric_chance and _categorical_chance), and the level it must
    # be at most for a verdict of drift (the false-alarm budget's share for one column;
    # None: no budget, the thresholds alone decide). None without values to test.
    chance: float | None = None
    level: float | None = None
    by_chance: bool = False  # a measure found drift, but the test held it back: chance > level


@dataclass(frozen=True)
class Violation:
    """One entry of constraint_violations.json."""

    feature_name: str
    constraint_check_type: str
    description: str

    def to_json(self) -> dict[str, str]:
        if self.constraint_check_type == ATTRIBUTION_CHECK:
            # Model Monitor's explainability violation: the label and method, no feature.
            return {
                "label": "label0",
                "metric_name": "shap",
                "constraint_check_type": ATTRIBUTION_CHECK,
                "description": self.description,
            }
        return {
            "feature_name": self.feature_name,
            "constraint_check_type": self.constraint_check_type,
            "description": self.description,
        }


@dataclass(frozen=True)
class DriftResult:
    """A window compared with its baseline."""

    no_data: bool
    features: tuple[FeatureDrift, ...]
    violations: tuple[Violation, ...]
    records: int
    rows: int
    malformed: int
    malformed_examples: tuple[str, ...]
    window: WindowStats = field(repr=False, compare=False)
    prediction: FeatureDrift | None = None  # the model's output, when it was compared
    prediction_skipped: str = ""  # why it was not (empty when it was, or without data)
    prediction_in_share: bool = False  # whether drifted_share counts it
    bad_outputs: int = 0  # records whose rows were read but whose output was not
    attribution: AttributionDrift | None = None  # the answers' attributions, when compared
    attribution_skipped: str = ""  # why they were not (empty when they were, or without data)

    @property
    def drifted_features(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features if f.drifted)

    @property
    def counted(self) -> tuple[FeatureDrift, ...]:
        """What drifted_share counts: the features, and the prediction if configured."""
        if self.prediction is not None and self.prediction_in_share:
            return (*self.features, self.prediction)
        return self.features

    @property
    def drifted_share(self) -> float:
        counted = self.counted
        return sum(f.drifted for f in counted) / len(counted) if counted else 0.0

    def statistics_json(self) -> dict[str, Any]:
        """The window's statistics.json (Model Monitor schema)."""
        return window_statistics(self.window)

    def violations_json(self) -> dict[str, Any]:
        """constraint_violations.json (Model Monitor schema and texts)."""
        return formats.violations_document([v.to_json() for v in self.violations])


def compare(reference: Reference, window: WindowStats) -> DriftResult:
    """Compare a window with the baseline it was counted against. Raises: ValueError when the
    window belongs to another baseline."""
    if window.reference.fingerprint != reference.fingerprint:
        raise ValueError("the window was counted against a different baseline")
    tally = window.tally
    settings = reference.settings
    features: tuple[FeatureDrift, ...] = ()
    violations: tuple[Violation, ...] = ()
    prediction: FeatureDrift | None = None
    skipped = NO_PREDICTION_BASELINE if reference.prediction is None else ""
    if tally.rows:
        output = reference.prediction
        outputs = window.partials[-1]  # the model's output, when the baseline has one
        predicting = (
            output is not None and isinstance(outputs, NumericPartial) and outputs.present > 0
        )
        counted = len(reference.features) + int(predicting and settings.prediction_in_share)
        level = settings.feature_level(counted)
        features = tuple(
            _judge(ref, partial, reference, tally.rows, level)
            for ref, partial in zip(reference.features, window.partials, strict=False)
        )
        if output is not None:
            if predicting and isinstance(outputs, NumericPartial):
                threshold = settings.prediction_threshold
                prediction = _judge_numeric(
                    output, outputs, reference, tally.rows, level=level, threshold=threshold
                )
            else:
                skipped = NO_PREDICTIONS
        if reference.evaluate:
            violations = _violations(reference, window, features, prediction)
    attribution, why = _attributions(reference, window)
    if attribution is not None and attribution.drifted and reference.evaluate:
        violations = (*violations, _attribution_violation(attribution))
    return DriftResult(
        no_data=not tally.rows,
        features=features,
        violations=violations,
        records=tally.records,
        rows=tally.rows,
        malformed=tally.malformed,
        malformed_examples=tally.examples,
        window=window,
        prediction=prediction,
        prediction_skipped=skipped if tally.rows else "",
        prediction_in_share=settings.prediction_in_share,
        bad_outputs=tally.bad_outputs,
        attribution=attribution,
        attribution_skipped=why if tally.rows else "",
    )


def _attributions(reference: Reference, window: WindowStats) -> tuple[AttributionDrift | None, str]:
    """The answers' attribution drift, or why it was not judged."""
    if reference.attributions is None or window.attributions is None:
        return None, attributions.NO_BASELINE
    found = attributions.judge(
        reference.attributions,
        window.attributions,
        reference.names,
        reference.settings.attribution_limit,
    )
    return (None, found) if isinstance(found, str) else (found, "")


def _attribution_violation(drift: AttributionDrift) -> Violation:
    """Of the whole ranking: no single feature is to blame (see Violation.to_json)."""
    return Violation("", ATTRIBUTION_CHECK, drift.description())


# -- distances and verdicts --------------------------------------------------------------------


def _judge(
    ref: FeatureReference, partial: Partial, reference: Reference, rows: int, level: float | None
) -> FeatureDrift:
    if isinstance(ref, NumericReference) and isinstance(partial, NumericPartial):
        return _judge_numeric(ref, partial, reference, rows, level=level)
    if isinstance(ref, CategoricalReference) and isinstance(partial, CategoricalPartial):
        return _judge_categorical(ref, partial, reference, rows, level)
    raise TypeError(f"feature {ref.name!r}: partial and reference of different kinds")


def _judge_numeric(
    ref: NumericReference,
    partial: NumericPartial,
    reference: Reference,
    rows: int,
    *,
    level: float | None,
    threshold: float | None = None,
) -> FeatureDrift:
    """`threshold` replaces the settings' L-infinity one (the prediction's own)."""
    settings = reference.settings
    if threshold is not None:
        settings = dataclasses.replace(settings, threshold=threshold)
    m, n = partial.count, ref.count
    linf = distance = 0.0
    index: float | None = None
    moved: float | None = None
    chance: float | None = None
    found: tuple[Measure, float, float] | None = None  # (measure, value, threshold)
    beyond: list[Measure] = []  # measures past their threshold, noise or not
    if m:
        at_edges = np.cumsum(partial.counts)
        linf = linf_cdfs(ref.cdf, at_edges[:-1] / m)
        distance = robust(linf, n, m) if settings.method == "robust" else linf
        deciles = _deciles(ref, at_edges, m)
        index = psi(*deciles)
        chance = _numeric_chance(
            linf, n, m, deciles if settings.psi_threshold is not None else None
        )
        if settings.wasserstein_threshold is not None:
            moved = _wasserstein(ref, partial, at_edges, m)
        if linf > settings.threshold:
            beyond.append("distance")
        if settings.psi_threshold is not None and index > settings.psi_threshold:
            beyond.append("psi")
        if (
            moved is not None
            and settings.wasserstein_threshold is not None
            and moved > settings.wasserstein_threshold
        ):
            beyond.append("wasserstein")
        if distance > settings.threshold:
            found = ("distance", distance, settings.threshold)
        elif (
            "psi" in beyond
            and settings.psi_threshold is not None
            and (settings.method == "simple" or _psi_beyond_noise(index, ref, n, m))
        ):
            found = ("psi", index, settings.psi_threshold)
        elif (
            "wasserstein" in beyond
            and moved is not None
            and settings.wasserstein_threshold is not None
            # Robust: only where the KS test tells the samples apart (Deequ's alpha), so a
            # small window's noise never counts as a move.
            and (settings.method == "simple" or robust(linf, n, m) > 0.0)
        ):
            found = ("wasserstein", moved, settings.wasserstein_threshold)
    return _feature_drift(
        ref,
        reference,
        found,
        beyond,
        chance=chance,
        level=level if chance is not None else None,
        completeness=partial.present / rows,
        count=m,
        distance=distance,
        threshold=settings.threshold,
        linf=linf,
        psi=index,
        wasserstein=moved,
    )


def _wasserstein(
    ref: NumericReference, partial: NumericPartial, at_edges: np.ndarray[Any, Any], m: int
) -> float | None:
    """The Wasserstein distance between baseline and window in baseline standard deviations
    (Evidently's "normed" one), from both CDFs at the sketch's values and 0 / 1 at the lower
    / higher of both minima / maxima. None when the baseline has no spread to measure in."""
    if ref.spread <= 0.0:
        return None
    points = np.concatenate(
        ([min(ref.low, partial.minimum)], ref.edges, [max(ref.high, partial.maximum)])
    )
    baseline = np.concatenate(([0.0], ref.cdf, [1.0]))
    window = np.concatenate(([0.0], at_edges[:-1] / m, [1.0]))
    return wasserstein_cdfs(points, baseline, window) / ref.spread


def _deciles(
    ref: NumericReference, at_edges: np.ndarray[Any, Any], m: int
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The shares of baseline and window between the baseline's deciles, taken at sketch
    edges so that both sides come from the same exact counts (PSI's bins)."""
    cuts = ref.psi_cuts
    baseline = np.diff(np.concatenate(([0.0], ref.cdf[cuts], [1.0])))
    window = np.diff(np.concatenate(([0.0], at_edges[cuts] / m, [1.0])))
    return baseline, window


def _numeric_chance(
    linf: float,
    n: int,
    m: int,
    deciles: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]] | None,
) -> float:
    """A numeric feature's p-value: the KS test of its L-infinity distance and, when PSI is
    on (`deciles` given), Pearson's test over PSI's bins, which sees the change of spread
    PSI is there for and the KS test barely does. Two tests of one feature: the smaller
    p-value, doubled (Bonferroni), so that chance alone passes either at most at the level.
    (The baseline's CDF is its sketch's, within half a sketch step of its rows' own: an error
    the size of sampling noise only in windows far too large for chance to pass a threshold.)"""
    tests = [ks_p_value(linf, n, m)]
    if deciles is not None:
        baseline, window = deciles
        statistic, df = homogeneity(baseline * n, window * m)
        if df:
            tests.append(chi2_sf(statistic, df))
    return min(1.0, len(tests) * min(tests))


def _psi_beyond_noise(index: float, ref: NumericReference, n: int, m: int) -> bool:
    """Whether a PSI is more than sampling noise: the robust method's guard for PSI verdicts,
    as Deequ's robust L-infinity subtracts the KS critical distance.

    Two samples of one distribution have PSI * nm / (n + m) distributed about as chi-square
    with bins - 1 degrees of freedom, so the PSI must exceed that distribution's critical value
    at PSI_ALPHA (Deequ's alpha for c = 1.8). Below PSI_MIN_PER_BIN values per bin the
    approximation fails (one empty bin adds ~0.7 through the 1e-4 floor: a 50-row window of
    unchanged data has PSI > 0.2 in 44% of draws), so no PSI verdict is given there at all.
    """
    bins = ref.psi_cuts.size + 1
    if m < PSI_MIN_PER_BIN * bins:
        return False
    return index > _chi2_critical(bins - 1) * (1.0 / n + 1.0 / m)


@functools.cache
def _chi2_critical(df: int) -> float:
    return chi2_isf(PSI_ALPHA, df)


def _judge_categorical(
    ref: CategoricalReference,
    partial: CategoricalPartial,
    reference: Reference,
    rows: int,
    level: float | None,
) -> FeatureDrift:
    settings = reference.settings
    m, n = partial.present, ref.count
    linf = distance = 0.0
    statistic = p_value = unseen = chance = None
    found: tuple[Measure, float, float] | None = None
    beyond: list[Measure] = []
    if m:
        observed = _comparable_counts(ref, partial)
        linf = linf_frequencies(ref.counts, observed)
        distance = robust(linf, n, m) if settings.method == "robust" else linf
        statistic, df = _chi_square(ref, observed, m)
        p_value = chi2_sf(statistic, df) if df else None
        chance = _categorical_chance(ref, observed)
        domain = ref.domain if ref.domain is not None else ref.counts.keys() - {formats.OTHER}
        unseen = 1.0 - sum(partial.counts.get(value, 0) for value in domain) / m
        if settings.categorical_method == "chisquared":
            if p_value is not None and p_value < settings.chi2_p_value:
                found = ("chi2", statistic, chi2_isf(settings.chi2_p_value, df))
        else:
            if linf > settings.categorical_threshold:
                beyond.append("distance")
            if distance > settings.categorical_threshold:
                found = ("distance", distance, settings.categorical_threshold)
    return _feature_drift(
        ref,
        reference,
        found,
        beyond,
        chance=chance,
        level=level if chance is not None else None,
        completeness=partial.present / rows,
        count=m,
        distance=distance,
        threshold=settings.categorical_threshold,
        linf=linf,
        chi2=statistic,
        p_value=p_value,
        unseen_share=unseen,
    )


def _comparable_counts(ref: CategoricalReference, partial: CategoricalPartial) -> dict[str, int]:
    """Window counts on the baseline's terms: when the baseline itself overflowed into
    "__other__", every value it does not list is "__other__" too; otherwise unseen values
    stand for themselves and the window's own overflow is one more category."""
    if ref.has_other:
        observed = {v: c for v, c in partial.counts.items() if v in ref.counts}
        observed[formats.OTHER] = partial.present - sum(observed.values())
        return observed
    observed = dict(partial.counts)
    if partial.other:
        observed[formats.OTHER] = observed.get(formats.OTHER, 0) + partial.other
    return observed


def _chi_square(
    ref: CategoricalReference, observed: Mapping[str, int], m: int
) -> tuple[float, int]:
    """Pearson's statistic over the baseline's categories plus one cell for unseen values.
    Expected counts are m times the baseline frequency, floored at half a baseline count
    (a category the baseline never saw has expected count > 0, so seeing it is not infinite
    evidence). Returns (statistic, degrees of freedom)."""
    n = ref.count
    floor = 0.5 / n
    categories = list(ref.counts)
    seen = [float(observed.get(c, 0)) for c in categories]
    expected = [m * max(ref.counts[c] / n, floor) for c in categories]
    if not ref.has_other:
        seen.append(float(m - sum(seen)))
        expected.append(m * floor)
    statistic = chi_square(np.asarray(seen), np.asarray(expected))
    return statistic, len(seen) - 1


def _categorical_chance(ref: CategoricalReference, observed: Mapping[str, int]) -> float:
    """A categorical feature's p-value: Pearson's test of homogeneity over the baseline's
    categories and the window's others (distances.homogeneity). Unlike the chi-square method's
    statistic, it counts the baseline as a sample too."""
    categories = sorted(ref.counts.keys() | observed.keys())
    statistic, df = homogeneity(
        np.array([ref.counts.get(c, 0) for c in categories], dtype=np.float64),
        np.array([observed.get(c, 0) for c in categories], dtype=np.float64),
    )
    return chi2_sf(statistic, df) if df else 1.0


def _feature_drift(
    ref: FeatureReference,
    reference: Reference,
    found: tuple[Measure, float, float] | None,
    beyond: list[Measure],
    *,
    chance: float | None,
    level: float | None,
    **measures: Any,
) -> FeatureDrift:
    """The verdict: drifted when a measure found drift, the feature's test tells it from
    chance at its level (when there is one) and the constraints ask for the check; otherwise
    the measures past their threshold were noise."""
    judged = reference.compare and reference.evaluate and ref.checked
    measures |= {"baseline_completeness": ref.completeness, "chance": chance, "level": level}
    # The budget's test holds back a verdict that chance explains.
    explained = chance is not None and level is not None and chance > level
    held = found is not None and judged and explained
    if found is None or not judged or held:
        noise = tuple(beyond) if judged else ()
        if held and found is not None and found[0] not in noise:
            noise += (found[0],)  # the chi-square method's test: no threshold of its own
        return FeatureDrift(
            ref.name,
            ref.kind,
            drifted=False,
            judged=judged,
            within_noise=noise,
            by_chance=held,
            **measures,
        )
    measure, value, threshold = found
    reason = formats.drift_text(value, threshold, measure)
    return FeatureDrift(
        ref.name, ref.kind, drifted=True, reason=reason, found_by=measure, **measures
    )


# -- data quality ------------------------------------------------------------------------------


def _violations(
    reference: Reference,
    window: WindowStats,
    drifts: tuple[FeatureDrift, ...],
    prediction: FeatureDrift | None,
) -> tuple[Violation, ...]:
    """The features' violations, then the prediction's (its type, completeness and drift:
    it is no request column, so never a missing or extra one)."""
    tally = window.tally
    names = reference.names
    seen = [i < tally.widest or name in tally.keyed for i, name in enumerate(names)]
    found: list[Violation] = []
    for ref, partial, drift, present in zip(
        reference.features, window.partials, drifts, seen, strict=False
    ):
        if not ref.checked:
            continue
        if not present:
            text = formats.missing_columns_text(sum(seen), len(names))
            found.append(Violation(ref.name, formats.MISSING_COLUMN, text))
            continue
        found.extend(_column_violations(ref, partial, drift, reference, tally.rows))
    if tally.extra_rows:
        found.append(_extra_columns(reference, window))
    output = reference.prediction
    if output is not None and prediction is not None and output.checked:
        found.extend(
            _column_violations(output, window.partials[-1], prediction, reference, tally.rows)
        )
    return tuple(found)


def _column_violations(
    ref: FeatureReference, partial: Partial, drift: FeatureDrift, reference: Reference, rows: int
) -> list[Violation]:
    settings = reference.settings
    found = []
    share = _type_share(partial)
    if share is not None and share < settings.datatype_threshold:
        text = formats.data_type_text(ref.inferred_type, settings.datatype_threshold, share)
        found.append(Violation(ref.name, formats.DATA_TYPE, text))
    if _completeness_dropped(drift.completeness, ref.completeness, rows, reference.item_count):
        text = formats.value_text(drift.completeness)
        found.append(Violation(ref.name, formats.COMPLETENESS, text))
    if (
        isinstance(ref, CategoricalReference)
        and ref.domain is not None
        and drift.unseen_share is not None
        and 1.0 - drift.unseen_share < settings.domain_threshold
    ):
        text = formats.value_text(1.0 - drift.unseen_share)
        found.append(Violation(ref.name, formats.CATEGORICAL_VALUES, text))
    if drift.drifted:
        found.append(Violation(ref.name, formats.DRIFT, drift.reason))
    return found


def _type_share(partial: Partial) -> float | None:
    """The share of present values of the baseline's type (None: nothing present)."""
    if isinstance(partial, NumericPartial):
        present = partial.present
        matched = partial.count - partial.non_integral
    else:
        present = partial.present
        matched = present - partial.mismatched
    return matched / present if present else None


def _completeness_dropped(window: float, baseline: float, rows: int, baseline_rows: int) -> bool:
    """Below the baseline by more than sampling noise: 3 standard errors of the difference of
    two binomial shares (the window's and the baseline's own, which was a sample too), and at
    least 0.001 (a baseline with no missing values has no noise to speak of)."""
    spread = 1.0 / rows + (1.0 / baseline_rows if baseline_rows > 0 else 0.0)
    noise = COMPLETENESS_SIGMAS * math.sqrt(baseline * (1.0 - baseline) * spread)
    return window < baseline - max(noise, COMPLETENESS_MIN_DROP)


def _extra_columns(reference: Reference, window: WindowStats) -> Violation:
    """One violation for all unexpected columns, named after the first of them (Spark's
    _c<index> for positional columns)."""
    tally = window.tally
    width = len(reference.features)
    positional = max(tally.widest - width, 0)
    named = sorted(tally.extra_keys)
    first = f"_c{width}" if positional else (named[0] if named else f"_c{width}")
    text = formats.extra_columns_text(width + positional + len(named), width)
    return Violation(first, formats.EXTRA_COLUMN, text)
