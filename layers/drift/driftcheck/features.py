"""What is monitored and how strictly: the feature list and the drift settings.

Both are plain frozen values checked when built, so a typo in a Lambda's configuration fails at
the start of a run with every problem listed, not halfway through a window.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

Kind = Literal["numeric", "categorical"]
Method = Literal["robust", "simple"]
CategoricalMethod = Literal["linf", "chisquared"]


@dataclass(frozen=True)
class FeatureSpec:
    """One model input column.

    The order of a feature list is the column order of the model's input: CSV rows and JSON
    lists are read by position, JSON objects by name.
    """

    name: str
    kind: Kind

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"a feature name must be a non-empty string, not {self.name!r}")
        if self.kind not in get_args(Kind):
            raise ValueError(
                f"feature {self.name!r}: kind must be one of {get_args(Kind)}, not {self.kind!r}"
            )


@dataclass(frozen=True)
class DriftSettings:
    """Thresholds and methods, written into constraints.json by the baseline.

    `threshold` / `categorical_threshold` bound the L-infinity distance (Model Monitor's
    comparison_threshold / categorical_comparison_threshold); `psi_threshold` adds a PSI verdict
    for numeric features (None turns it off); `wasserstein_threshold` adds one on the
    Wasserstein distance in baseline standard deviations (Evidently's default numeric test;
    None, the default, turns it off); `chi2_p_value` is the significance level of the
    chi-square verdict when `categorical_method` is "chisquared"; `datatype_threshold` and
    `domain_threshold` are the shares of values that must match the baseline's type and domain.
    `prediction_threshold` bounds the L-infinity distance of the model's output (None: the
    numeric `threshold`), and `prediction_in_share` counts its drift in `drifted_share`.

    `check_level` adds a condition to every verdict: the feature's two-sample test must tell
    the window from the baseline at `feature_level` (see there); it is the chance per check,
    at most, that sampling noise alone drifts more than `alarm_share` of the counted columns
    (None, the default: the thresholds alone decide, as Model Monitor's do).
    """

    threshold: float = 0.1
    categorical_threshold: float = 0.1
    method: Method = "robust"
    categorical_method: CategoricalMethod = "linf"
    psi_threshold: float | None = 0.1
    wasserstein_threshold: float | None = None
    chi2_p_value: float = 0.001
    datatype_threshold: float = 1.0
    domain_threshold: float = 1.0
    # The model's output, when the baseline has its statistics (see Reference.prediction).
    prediction_threshold: float | None = None
    prediction_in_share: bool = False
    # The false-alarm budget's share of one check, and the share of columns the alarm needs.
    check_level: float | None = None
    alarm_share: float = 0.0
    # The nDCG below which the answers' attributions have drifted (see driftcheck.attributions).
    attribution_limit: float = 0.9

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ValueError("invalid drift settings: " + "; ".join(problems))

    def problems(self) -> list[str]:
        """Every reason these settings are unusable (empty when they are fine)."""
        problems = []
        for name in ("threshold", "categorical_threshold"):
            if not _number_in(getattr(self, name), 0.0, math.inf):
                problems.append(f"{name} must be a finite number >= 0")
        for name in ("datatype_threshold", "domain_threshold"):
            if not _number_in(getattr(self, name), 0.0, 1.0):
                problems.append(f"{name} must be between 0 and 1")
        prediction = self.prediction_threshold
        if prediction is not None and not _number_in(prediction, 0.0, math.inf):
            problems.append("prediction_threshold must be a finite number >= 0, or None")
        if not isinstance(self.prediction_in_share, bool):
            problems.append("prediction_in_share must be true or false")
        if self.psi_threshold is not None and not _number_in(self.psi_threshold, 0.0, math.inf):
            problems.append("psi_threshold must be a finite number >= 0, or None")
        wasserstein = self.wasserstein_threshold
        if wasserstein is not None and not _number_in(wasserstein, 0.0, math.inf):
            problems.append("wasserstein_threshold must be a finite number >= 0, or None")
        if not _number_in(self.chi2_p_value, 0.0, 1.0) or self.chi2_p_value in (0.0, 1.0):
            problems.append("chi2_p_value must be strictly between 0 and 1")
        level = self.check_level
        if level is not None and (not _number_in(level, 0.0, 1.0) or level == 0.0):
            problems.append("check_level must be a number > 0 and <= 1, or None")
        if not _number_in(self.attribution_limit, 0.0, 1.0):
            problems.append("attribution_limit must be between 0 and 1")
        if not _number_in(self.alarm_share, 0.0, 1.0) or self.alarm_share == 1.0:
            problems.append("alarm_share must be >= 0 and < 1")
        if self.method not in get_args(Method):
            problems.append(f"method must be one of {get_args(Method)}")
        if self.categorical_method not in get_args(CategoricalMethod):
            problems.append(f"categorical_method must be one of {get_args(CategoricalMethod)}")
        return problems

    def feature_level(self, columns: int) -> float | None:
        """The level each of `columns` counted columns' tests must reach for a verdict of
        drift, so that chance alone puts the drifted share above `alarm_share` in at most
        `check_level` of checks; None without a check level.

        The alarm needs k columns drifted at once, the fewest whose share exceeds
        alarm_share. Whatever the dependence between the columns' tests (features move
        together), the chance that k or more of them reject at level a is at most
        columns * a / k (Markov's inequality on the count of rejections: its mean is
        columns * a), so a = check_level * k / columns keeps it within check_level: the
        generalized Bonferroni correction (Lehmann and Romano, 2005), which is Bonferroni's
        when one drifted column is enough.
        """
        if self.check_level is None or columns < 1:
            return None
        needed = next((k for k in range(1, columns + 1) if k / columns > self.alarm_share), None)
        if needed is None:
            return 1.0  # no share of drifted columns can pass it
        return min(1.0, self.check_level * needed / columns)


PREDICTION = "prediction"


def prediction_name(features: Sequence[str]) -> str:
    """The name of the model's output column: "prediction", with a leading "_" for each
    feature that already has the name (so it never stands for an input)."""
    name = PREDICTION
    taken = set(features)
    while name in taken:
        name = "_" + name
    return name


def check_features(features: Sequence[FeatureSpec]) -> None:
    """Raise ValueError unless the list is non-empty with unique names."""
    if not features:
        raise ValueError("at least one feature is needed")
    counts = Counter(f.name for f in features)
    duplicates = sorted(name for name, count in counts.items() if count > 1)
    if duplicates:
        raise ValueError(f"duplicate feature names: {', '.join(duplicates)}")


def _number_in(value: object, low: float, high: float) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and low <= value <= high
    )
