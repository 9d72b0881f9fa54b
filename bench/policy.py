"""The retrain policies on simulated streams (`make bench`, the "policy" section): which
policy retrains when the world changes, how soon, and how often it retrains for nothing.

Two worlds, each with a champion and its holdout:

- regression: the taxi-fare world (localcloud/taxi.py) and the local cloud's champion
  (`localcloud.models.train(models.CHAMPION)`, 2,000 trips);
- binary: the churn world of the demo (demo/churn.py), with a champion trained here (XGBoost,
  depth 4, on `Sizes.training_rows` customers), as the pipeline's built-in algorithm would.

Per world, four scenarios, each a stream of `Sizes.hours` hourly windows of
`Sizes.window_rows` requests whose change starts, at its full size, at `Sizes.change_hour`:
no change; a harmless covariate shift (features the label does not or barely depends on move:
the model stays right); a harmful covariate shift (the inputs move where the model errs, or
where its ranking is weaker); pure concept drift (the same inputs, new labels).

Every hour, at its end, what the deployed checks would find (the real code throughout):

- the drift check (`driftcheck.compare` against the champion's training baseline, with the
  model config's thresholds, `modelfresh.drift.check.settings_of`): the drifted share, into
  the drift alarm's rule (share > `alarm_share` in `datapoints_to_alarm` of the last
  `evaluation_periods` checks, missing data ignored; the defaults: 0.2, 2 of 3);
- the quality check: the realised metric (`driftcheck.scoring`, the gate's metric) of the
  window whose labels are in (`training.ground_truth_lag_hours` ago, as configured: taxi 1 h,
  churn 2 h), no figure under `min_rows`; against the limit (`modelfresh.quality.limits`,
  `max_drop` 0.1 from the champion's holdout figure), into the quality alarm's M of N; and
  the latest window's estimate (`driftcheck.estimate`, fitted on the holdout with `fit`);
- each alarm that goes to ALARM, through `modelfresh.quality.policy.decide` for each policy
  (`retrain_on` = drift, quality, drift-and-degraded; ModelConfig from config/models.toml's
  model with a `[quality]` table added, by `parse_config`), with the hour's finding as the
  quality check records it (`recent_quality` picks it).

Beside ours, "Evidently drift": the same drift alarm fed by Evidently's share of drifted
columns (`DriftedColumnsCount`, its default per-column tests, as DataDriftPreset runs them),
retraining on every alarm (what a team retraining on Evidently's drift would do); computed in
a job of its own (bench/policy_evidently.py, the bench dependency group). NannyML cannot be
installed beside it (bench/estimate.py says why).

Bookkeeping: a retrain is needless before the change hour and in a scenario that does no harm;
a harmful scenario (harmful shift, concept drift) whose stream ends without a retrain from the
change hour on is a missed degradation; hours to detection are counted from the start of the
change to the end of the hour whose check retrained. Each alarm that retrains counts once (the
controller would run a second one inside the cooldown as one follow-up). A retrain is not
simulated further: after it the stream goes on with the same champion. Then 90 no-change days
per world, every retrain needless.

Goals (issue 14): 0 missed pure concept drifts where labels arrive (the policies that read
them: quality, drift-and-degraded); <= 1 needless retrain per model per 90 no-change days;
harmless covariate shift retrains nothing under drift-and-degraded; estimated auc within 0.03
of the realised one under covariate shift (the churn world's shifted hours).
"""

from __future__ import annotations

import dataclasses
import math
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import xgboost as xgb
from driftcheck import (
    DriftSettings,
    FeatureSpec,
    Reference,
    WindowStats,
    baseline,
    compare,
    scoring,
)
from driftcheck import estimate as estimating
from modelfresh.core.config import parse_config
from modelfresh.core.schema import ModelConfig
from modelfresh.drift.check import settings_of
from modelfresh.quality.limits import limit_of, violation
from modelfresh.quality.measure import BOOTSTRAP_SAMPLES
from modelfresh.quality.policy import decide, recent_quality
from numpy.typing import NDArray

from bench import measure
from bench.measure import start_job
from demo import churn
from localcloud import models, taxi

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ("drift", "quality", "drift-and-degraded")
EVIDENTLY_POLICY = "evidently-drift"
SCENARIOS = ("no_change", "covariate_harmless", "covariate_harmful", "concept_drift")
HARMFUL = ("covariate_harmful", "concept_drift")
# The policies that read labels: a concept drift must not be missed by them.
LABELLED = ("quality", "drift-and-degraded")
MAX_DROP = 0.1
AUC_TOLERANCE = 0.03
START = datetime(2026, 1, 1, tzinfo=UTC)
EVIDENTLY = "bench.policy_evidently"
Matrix = NDArray[np.float64]


@dataclass(frozen=True)
class Sizes:
    training_rows: int = 5_000  # the churn champion's (the taxi champion's are its recipe's)
    holdout_rows: int = 5_000
    hours: int = 48
    change_hour: int = 12
    window_rows: int = 2_000
    days: int = 90
    day_rows: int = 2_000  # requests an hour over the no-change days
    evidently_days: int = 7  # of those days, Evidently's drift (about 0.1 s a window)
    rounds: int = 60
    evidently: bool = True


# -- the worlds --------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorldSpec:
    """A world's columns and how each scenario changes its inputs and labels."""

    name: str  # the model's name in config/models.toml
    problem_type: str
    features: tuple[str, ...]
    categorical: tuple[str, ...]
    inputs: Callable[[str, bool, int, int], Matrix]  # scenario, changed, rows, seed
    labels: Callable[[str, bool, Matrix, int], NDArray[np.float64]]
    reference: Callable[[Sizes], tuple[Matrix, NDArray[np.float64]]]  # training data
    descriptions: Mapping[str, str]


def _taxi_inputs(scenario: str, changed: bool, rows: int, seed: int) -> Matrix:
    shifted = changed and scenario == "covariate_harmful"
    x = np.asarray(taxi.trips(rows, seed, drift=1.0 if shifted else 0.0), dtype=np.float64)
    if changed and scenario == "covariate_harmless":
        rng = np.random.default_rng(seed + 1)
        x[:, 3] = rng.choice(7, size=rows, p=[0.08] * 5 + [0.3, 0.3])  # weekends
        x[:, 4] = rng.integers(6, 9, size=rows)  # summer months
    return x


def _taxi_labels(scenario: str, changed: bool, x: Matrix, seed: int) -> NDArray[np.float64]:
    tariff = 1.0 if changed and scenario == "concept_drift" else 0.0
    return np.asarray(taxi.fares(x, seed, drift=tariff), dtype=np.float64)


def _taxi_reference(sizes: Sizes) -> tuple[Matrix, NDArray[np.float64]]:
    rows, fares = models.CHAMPION.training_data()
    return np.asarray(rows, dtype=np.float64), np.asarray(fares, dtype=np.float64)


def _churn_inputs(scenario: str, changed: bool, rows: int, seed: int) -> Matrix:
    x = np.asarray(churn.customers(rows, seed), dtype=np.float64)
    if not changed:
        return x
    rng = np.random.default_rng(seed + 1)
    if scenario == "covariate_harmless":
        x[:, 4] = rng.lognormal(np.log(18), 0.6, rows).clip(0, 200).round(1)  # more data used
        x[:, 5] = rng.random(rows) < 0.8  # more paperless billing
    elif scenario == "covariate_harmful":
        x[:, 3] = rng.choice(3, size=rows, p=[0.9, 0.1, 0.0])  # nearly all month-to-month
        x[:, 0] = rng.gamma(1.0 + x[:, 3], 5.0, rows).clip(0, 72).round()  # and new
    return x


def _churn_labels(scenario: str, changed: bool, x: Matrix, seed: int) -> NDArray[np.float64]:
    price = 1.0 if changed and scenario == "concept_drift" else 0.0
    return np.asarray(churn.churned(x, seed, drift=price), dtype=np.float64)


def _churn_reference(sizes: Sizes) -> tuple[Matrix, NDArray[np.float64]]:
    x = np.asarray(churn.customers(sizes.training_rows, 1), dtype=np.float64)
    return x, np.asarray(churn.churned(x, 2), dtype=np.float64)


WORLDS: dict[str, WorldSpec] = {
    "regression": WorldSpec(
        "taxi-fare",
        "regression",
        taxi.FEATURES,
        taxi.CATEGORICAL,
        _taxi_inputs,
        _taxi_labels,
        _taxi_reference,
        {
            "no_change": "the champion's city every hour",
            "covariate_harmless": "weekend trips (5/7 -> 2/5 of them) in the summer months "
            "only: weekday and month move, which the fare does not depend on",
            "covariate_harmful": "`trips(drift=1)`: longer trips, later pickups, bigger "
            "groups, at the old tariff",
            "concept_drift": "the same trips, `fares(drift=1)`: 2.7 a km instead of 1.9",
        },
    ),
    "binary_classification": WorldSpec(
        "churn",
        "binary_classification",
        churn.FEATURES,
        churn.CATEGORICAL,
        _churn_inputs,
        _churn_labels,
        _churn_reference,
        {
            "no_change": "the champion's customers every hour",
            "covariate_harmless": "more data used (median 12 -> 18 GB) and paperless billing "
            "55% -> 80%: two weak features move within the training range",
            "covariate_harmful": "nearly all new month-to-month customers: contract and "
            "tenure, which told leavers apart, barely vary",
            "concept_drift": "the same customers, `churned(drift=1)`: price decides who leaves",
        },
    ),
}


def columns(spec: WorldSpec, x: Matrix) -> dict[str, NDArray[Any]]:
    """A window's requests as the drift check reads them: categories as their CSV text."""
    found: dict[str, NDArray[Any]] = {}
    for index, name in enumerate(spec.features):
        if name in spec.categorical:
            found[name] = np.array([str(int(v)) for v in x[:, index]], dtype=object)
        else:
            found[name] = x[:, index]
    return found


def stream_seed(world_index: int, scenario_index: int, hour: int) -> int:
    return 1_000_000 * (world_index + 1) + 10_000 * scenario_index + hour


def day_seed(world_index: int, hour: int) -> int:
    return 1_000_000 * (world_index + 1) + 500_000 + hour


# -- the champion and its configs --------------------------------------------------------------


def configs(spec: WorldSpec) -> dict[str, ModelConfig]:
    """The model as config/models.toml has it, with a quality check (max_drop 0.1), under
    each policy."""
    shipped = tomllib.loads((ROOT / "config" / "models.toml").read_text())
    body = dict(shipped["models"][spec.name])
    body.pop("drift_alarms", None)
    body["quality"] = {"max_drop": MAX_DROP}
    found = {}
    for policy in POLICIES:
        raw = {"defaults": shipped.get("defaults", {}), "models": {spec.name: body}}
        raw["models"][spec.name] = body | {"retrain_on": policy}
        found[policy] = parse_config(raw, "bench").model(spec.name)
    return found


def shipped_limit(spec: WorldSpec) -> float | None:
    """The absolute quality limit config/models.toml ships for the model, if it has one."""
    shipped = tomllib.loads((ROOT / "config" / "models.toml").read_text())
    threshold = shipped["models"][spec.name].get("quality", {}).get("threshold")
    return None if threshold is None else float(threshold)


@dataclass
class Champion:
    """A world's champion, as the checks see it."""

    spec: WorldSpec
    booster: xgb.Booster
    reference: Reference
    estimator: dict[str, Any]
    holdout: dict[str, float]
    models: dict[str, ModelConfig]
    metric: str
    limit: float

    def predict(self, x: Matrix) -> NDArray[np.float64]:
        return np.asarray(self.booster.inplace_predict(x), dtype=np.float64)

    @property
    def model(self) -> ModelConfig:
        return self.models["drift"]


def champion(spec: WorldSpec, sizes: Sizes) -> Champion:
    x, y = spec.reference(sizes)
    if spec.name == "taxi-fare":
        booster = models.train(models.CHAMPION)
    else:
        params = {
            "objective": "binary:logistic",
            "max_depth": 4,
            "eta": 0.2,
            "nthread": 1,
            "seed": 0,
        }
        booster = xgb.train(params, xgb.DMatrix(x, label=y), num_boost_round=sizes.rounds)
    features = [
        FeatureSpec(n, "categorical" if n in spec.categorical else "numeric") for n in spec.features
    ]
    cells = columns(spec, x)
    rows = list(zip(*(cells[name].tolist() for name in spec.features), strict=True))
    documents = baseline(rows, features, DriftSettings())
    compiled = Reference.from_baseline(*documents)
    configured = configs(spec)
    check = configured["drift"].drift_check
    assert check is not None
    compiled = dataclasses.replace(compiled, settings=settings_of(check, compiled.settings))
    holdout_x = spec.inputs("no_change", False, sizes.holdout_rows, 101)
    holdout_y = spec.labels("no_change", False, holdout_x, 102)
    booster.set_param({"nthread": 1})
    found = Champion(spec, booster, compiled, {}, {}, configured, "", 0.0)
    predicted = found.predict(holdout_x)
    found.estimator = estimating.fit(spec.problem_type, holdout_y, predicted, holdout_x)
    found.holdout = realised(spec.problem_type, holdout_y, predicted)
    quality = configured["drift"].quality
    assert quality is not None
    found.metric = quality.metric_of(configured["drift"].gate)
    found.limit = limit_of(quality, found.metric, found.holdout[found.metric])
    return found


def realised(problem_type: str, labels: NDArray[np.float64], predictions: Any) -> dict[str, float]:
    scored = scoring.SCORERS[problem_type](labels, predictions, scoring.once(labels.size))
    return {name: float(values[0]) for name, values in scored.items()}


def realised_with_spread(
    problem_type: str, labels: NDArray[np.float64], predictions: Any, metric: str
) -> tuple[float, float | None]:
    """The watched metric on a labelled window and its standard deviation, from the quality
    check's own bootstrap (modelfresh.quality.measure.BOOTSTRAP_SAMPLES resamples)."""
    metrics = scoring.SCORERS[problem_type]
    resampled = scoring.bootstrap(labels, [predictions], metrics, BOOTSTRAP_SAMPLES)[0]
    figure = scoring.metric_section(labels, predictions, metrics, resampled)[metric]
    return float(figure["value"]), figure["standard_deviation"]


# -- one hour's checks -------------------------------------------------------------------------


@dataclass
class Hour:
    """What the checks find about one hourly window."""

    share: float | None  # the drift check's drifted share (None: no data)
    realised: float | None  # the watched metric on its labelled rows (None: under min_rows)
    spread: float | None = None  # its standard deviation over the quality check's bootstrap
    estimate: dict[str, Any] | None = None  # the watched metric estimated, and its spread
    predictions: NDArray[np.float64] | None = field(default=None, repr=False)


def observe(found: Champion, x: Matrix, y: NDArray[np.float64], *, estimate: bool = True) -> Hour:
    window = WindowStats.empty(found.reference)
    window.add_columns(columns(found.spec, x))
    share = compare(found.reference, window).drifted_share
    predictions = found.predict(x)
    quality = found.model.quality
    assert quality is not None
    value, spread = (
        realised_with_spread(found.spec.problem_type, y, predictions, found.metric)
        if y.size >= quality.min_rows
        else (None, None)
    )
    hour = Hour(share, value, spread, predictions=predictions)
    if estimate:
        hour.estimate = estimate_of(found, predictions, x)
        hour.predictions = None
    return hour


def estimate_of(
    found: Champion, predictions: NDArray[np.float64], inputs: Matrix
) -> dict[str, Any] | None:
    """The quality check's estimate of the watched metric and its spread (from fewer simulated
    labellings than the check's 200: the value does not depend on them, the spread little)."""
    figures = estimating.estimate(
        found.spec.problem_type, found.estimator, predictions, draws=40, inputs=inputs
    )
    figure = figures[found.metric]
    return None if figure["value"] is None else dict(figure)


# -- the alarms and the policies ---------------------------------------------------------------


@dataclass
class Alarm:
    """A CloudWatch metric alarm with TreatMissingData "ignore", as localcloud.alarms
    evaluates one: ALARM when at least `needed` of the last `periods` datapoints breach; no
    datapoint at all keeps the state. It starts OK (the champion was serving)."""

    needed: int
    periods: int
    state: str = "OK"
    breaches: list[bool | None] = field(default_factory=list)

    def step(self, breach: bool | None) -> bool:
        """One more period's datapoint (None: missing); True when the alarm went to ALARM."""
        self.breaches.append(breach)
        values = [b for b in self.breaches[-self.periods :] if b is not None]
        if not values:
            return False
        new = "ALARM" if sum(values) >= self.needed else "OK"
        went = new == "ALARM" and self.state != "ALARM"
        self.state = new
        return went


def at(hour: int) -> datetime:
    return START + timedelta(hours=hour)


def simulate(
    hours: Sequence[Hour],
    found: Champion,
    *,
    evidently: Sequence[float | None] | None = None,
    estimate: Callable[[int], dict[str, Any] | None] | None = None,
    limit: float | None = None,
) -> dict[str, list[Retrain]]:
    """The hours (from 0) at whose end each policy retrains, and on which alarm.
    `estimate(t)`: the estimate of window t, when the hours do not hold it (worked out only
    when an alarm asks); `limit`: another limit than the champion's max_drop."""
    limit = found.limit if limit is None else limit
    model = found.model
    drift, quality = model.drift_check, model.quality
    assert drift is not None and quality is not None
    lag = model.training.ground_truth_lag_hours
    drift_alarm = Alarm(drift.datapoints_to_alarm, drift.evaluation_periods)
    evidently_alarm = Alarm(drift.datapoints_to_alarm, drift.evaluation_periods)
    quality_alarm = Alarm(quality.datapoints_to_alarm, quality.evaluation_periods)
    retrains: dict[str, list[Retrain]] = {p: [] for p in (*POLICIES, EVIDENTLY_POLICY)}
    for t, hour in enumerate(hours):
        share = hour.share
        drifted = drift_alarm.step(None if share is None else share > drift.alarm_share)
        labelled = t - lag
        value = hours[labelled].realised if labelled >= 0 else None
        spread = hours[labelled].spread if labelled >= 0 else None
        broken = (
            None
            if value is None
            else violation(found.metric, value, limit, spread=spread, level=quality.check_level)
            is not None
        )
        degraded = quality_alarm.step(broken)
        if evidently is not None:
            theirs = evidently[t]
            if evidently_alarm.step(None if theirs is None else theirs > drift.alarm_share):
                retrains[EVIDENTLY_POLICY].append(Retrain(t, "drift"))
        if not (drifted or degraded):
            continue
        guessed = hour.estimate if estimate is None else estimate(t)
        finding: dict[str, Any] = {
            "checked_at": at(t).isoformat(),  # published at the labelled window's start + lag
            "metric": found.metric,
            "value": value,
            "standard_deviation": spread,
            "limit": limit,
            "champion": found.holdout[found.metric],
            "violated": bool(broken),
            "rows": 0,
        }
        if guessed is not None:
            finding["estimate"] = guessed
        for policy in POLICIES:
            config = found.models[policy]
            on_drift = (
                drifted
                and decide(config, "drift", recent_quality(finding, config, at(t + 1))).retrain
            )
            on_quality = degraded and decide(config, "quality", finding).retrain
            if on_drift or on_quality:
                alarm = "drift" if not on_quality else "quality" if not on_drift else "both"
                retrains[policy].append(Retrain(t, alarm))
    return retrains


class Retrain(NamedTuple):
    """A retrain at the end of `hour`, started by this alarm ("drift", "quality", "both")."""

    hour: int
    alarm: str


@dataclass(frozen=True)
class Outcome:
    """A policy's retrains on one stream, judged by what the scenario did."""

    retrains: tuple[Retrain, ...]
    needless: int
    detected_after: int | None  # hours from the change's start to the retraining check's end
    missed: bool


def judge(retrains: Sequence[Retrain], *, harmful: bool, change_hour: int) -> Outcome:
    """Needless: a retrain before the change, or in a scenario that does no harm. Detected:
    the first retrain from the change hour on, in a harmful scenario; missed without one."""
    needless = sum(1 for r in retrains if r.hour < change_hour or not harmful)
    after = [r.hour for r in retrains if r.hour >= change_hour]
    detected = after[0] + 1 - change_hour if harmful and after else None
    return Outcome(tuple(retrains), needless, detected, harmful and detected is None)


# -- the run -----------------------------------------------------------------------------------


def benchmark(
    sizes: Sizes | None = None, progress: Callable[[str], None] = measure.progress
) -> dict[str, Any]:
    sizes = sizes or Sizes()
    started = time.perf_counter()
    waiting = (
        {
            problem: start_job(EVIDENTLY, "shares", {"problem": problem, "sizes": asdict(sizes)})
            for problem in WORLDS
        }
        if sizes.evidently
        else {}
    )
    results: dict[str, Any] = {
        "sizes": asdict(sizes),
        "max_drop": MAX_DROP,
        "problems": {},
    }
    for index, (problem, spec) in enumerate(WORLDS.items()):
        progress(f"policy: {spec.name}")
        found = champion(spec, sizes)
        results["problems"][problem] = _world(found, index, sizes)
    for problem, wait in waiting.items():
        progress(f"policy: Evidently's drift on {WORLDS[problem].name}")
        theirs = wait()
        _add_evidently(results["problems"][problem], theirs, sizes)
    results["evidently_version"] = next(
        (w["version"] for w in results["problems"].values() if "version" in w), None
    )
    results["goals"] = goals(results, sizes)
    for world in results["problems"].values():  # hour by hour: read, not kept
        world["days"].pop("shares")
        for scenario in world["scenarios"].values():
            scenario.pop("shares")
            scenario.pop("evidently_shares", None)
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    return results


def stream_windows(
    spec: WorldSpec, index: int, sizes: Sizes
) -> Iterator[tuple[str, int, Matrix, int]]:
    """Every scenario stream's windows: scenario, hour, inputs, seed."""
    for number, scenario in enumerate(SCENARIOS):
        for hour in range(sizes.hours):
            seed = stream_seed(index, number, hour)
            changed = hour >= sizes.change_hour
            yield scenario, hour, spec.inputs(scenario, changed, sizes.window_rows, seed), seed


def day_windows(spec: WorldSpec, index: int, sizes: Sizes, days: int) -> Iterator[Matrix]:
    for hour in range(days * 24):
        yield spec.inputs("no_change", False, sizes.day_rows, day_seed(index, hour))


def _world(found: Champion, index: int, sizes: Sizes) -> dict[str, Any]:
    spec = found.spec
    streams: dict[str, list[Hour]] = {s: [] for s in SCENARIOS}
    metric_errors: dict[str, list[float]] = {s: [] for s in SCENARIOS}
    for scenario, hour, x, seed in stream_windows(spec, index, sizes):
        changed = hour >= sizes.change_hour
        y = spec.labels(scenario, changed, x, seed + 7)
        observed = observe(found, x, y)
        streams[scenario].append(observed)
        if observed.estimate is not None and observed.realised is not None:
            metric_errors[scenario].append(observed.estimate["value"] - observed.realised)
    scenarios: dict[str, Any] = {}
    for scenario, hours in streams.items():
        retrains = simulate(hours, found)
        harmful = scenario in HARMFUL
        after = hours[sizes.change_hour :]
        scenarios[scenario] = {
            "description": spec.descriptions[scenario],
            "harmful": harmful,
            "share_after_change": _mean(h.share for h in after),
            "realised_after_change": _mean(h.realised for h in after),
            "estimate_after_change": _mean(
                h.estimate["value"] if h.estimate else None for h in after
            ),
            "estimate_max_abs_error": _round(
                max((abs(e) for e in metric_errors[scenario]), default=0)
            ),
            "shares": [h.share for h in hours],
            "policies": {
                policy: asdict(judge(r, harmful=harmful, change_hour=sizes.change_hour))
                for policy, r in retrains.items()
                if policy != EVIDENTLY_POLICY
            },
        }
    return {
        "model": spec.name,
        "metric": found.metric,
        "holdout": {k: _round(v) for k, v in found.holdout.items()},
        "limit": _round(found.limit),
        "lag_hours": found.model.training.ground_truth_lag_hours,
        "degraded_drop": found.model.quality.degraded_drop if found.model.quality else None,
        "drift_alarm": _rule(found.model),
        "scenarios": scenarios,
        "days": _days(found, index, sizes),
    }


def _days(found: Champion, index: int, sizes: Sizes) -> dict[str, Any]:
    """90 no-change days: every retrain is needless."""
    spec = found.spec
    hours = []
    for hour, x in enumerate(day_windows(spec, index, sizes, sizes.days)):
        y = spec.labels("no_change", False, x, day_seed(index, hour) + 7)
        hours.append(observe(found, x, y, estimate=False))

    def estimate(t: int) -> dict[str, Any] | None:
        predictions = hours[t].predictions
        if predictions is None:
            return None
        # The hour's requests again (seeded): 90 days of them would not fit in memory.
        x = spec.inputs("no_change", False, sizes.day_rows, day_seed(index, t))
        return estimate_of(found, predictions, x)

    retrains = simulate(hours, found, estimate=estimate)
    shipped = shipped_limit(spec)
    under_shipped = (
        simulate(hours, found, estimate=estimate, limit=shipped) if shipped is not None else None
    )
    drifted = sum(1 for h in hours if h.share is not None and h.share > 0)
    return {
        "hours": len(hours),
        "hours_any_feature_drifted": drifted,
        "realised_mean": _mean(h.realised for h in hours),
        "hours_over_limit": sum(
            1
            for h in hours
            if h.realised is not None
            and violation(
                found.metric,
                h.realised,
                found.limit,
                spread=h.spread,
                level=found.model.quality.check_level if found.model.quality else 1.0,
            )
        ),
        "shares": [h.share for h in hours[: sizes.evidently_days * 24]],
        "retrains": {policy: r for policy, r in retrains.items() if policy != EVIDENTLY_POLICY},
        "shipped_limit": shipped,
        "retrains_shipped_limit": (
            {policy: r for policy, r in under_shipped.items() if policy != EVIDENTLY_POLICY}
            if under_shipped is not None
            else None
        ),
    }


def _add_evidently(world: dict[str, Any], theirs: Mapping[str, Any], sizes: Sizes) -> None:
    """Evidently's shares through the same drift alarm, beside ours (an hour of ours stands
    in for every other check: only the drift alarm retrains under this policy)."""
    world["version"] = theirs["version"]
    model_check = world["drift_alarm"]
    for scenario, shares in theirs["streams"].items():
        found = world["scenarios"][scenario]
        retrains = drift_alarm_retrains(shares, *model_check)
        found["evidently_shares"] = shares
        found["share_after_change_evidently"] = _mean(shares[sizes.change_hour :])
        found["policies"][EVIDENTLY_POLICY] = asdict(
            judge(retrains, harmful=found["harmful"], change_hour=sizes.change_hour)
        )
    days = world["days"]
    shares = theirs["days"]
    days["evidently_hours"] = len(shares)
    days["evidently_retrains"] = drift_alarm_retrains(shares, *model_check)
    ours = days["shares"]
    days["ours_retrains_same_hours"] = drift_alarm_retrains(ours, *model_check)


def _rule(model: ModelConfig) -> tuple[float, int, int]:
    """The drift alarm's rule: share above this in M of the last N checks."""
    check = model.drift_check
    assert check is not None
    return check.alarm_share, check.datapoints_to_alarm, check.evaluation_periods


def drift_alarm_retrains(
    shares: Sequence[float | None], share: float, needed: int, periods: int
) -> list[Retrain]:
    """Retrains on every drift alarm (the drift policy) fed by these shares."""
    alarm = Alarm(needed, periods)
    return [
        Retrain(t, "drift")
        for t, s in enumerate(shares)
        if alarm.step(None if s is None else s > share)
    ]


def _mean(values: Iterator[float | None] | Sequence[float | None]) -> float | None:
    found = [v for v in values if v is not None and not math.isnan(v)]
    return _round(sum(found) / len(found)) if found else None


def _round(value: float) -> float:
    return round(float(value), 4)


# -- the goals ---------------------------------------------------------------------------------


def goals(results: Mapping[str, Any], sizes: Sizes) -> dict[str, Any]:
    problems = results["problems"]
    missed_concept = {
        f"{w['model']} / {policy}": w["scenarios"]["concept_drift"]["policies"][policy]["missed"]
        for w in problems.values()
        for policy in LABELLED
    }
    false_days = {
        f"{w['model']} / {policy}": len(w["days"]["retrains"][policy])
        for w in problems.values()
        for policy in POLICIES
    }
    harmless = {
        w["model"]: w["scenarios"]["covariate_harmless"]["policies"]["drift-and-degraded"][
            "needless"
        ]
        for w in problems.values()
    }
    churn_world = problems["binary_classification"]["scenarios"]
    auc = max(
        churn_world[s]["estimate_max_abs_error"]
        for s in ("covariate_harmless", "covariate_harmful")
    )
    return {
        "no_missed_concept_drift": {
            "figures": missed_concept,
            "met": not any(missed_concept.values()),
        },
        "needless_per_90_days": {
            "figures": false_days,
            "days": sizes.days,
            "met": all(v <= 1 for v in false_days.values()),
        },
        "harmless_shift_under_drift_and_degraded": {
            "figures": harmless,
            "met": not any(harmless.values()),
        },
        "estimated_auc_under_covariate_shift": {
            "max_absolute_error": auc,
            "tolerance": AUC_TOLERANCE,
            "met": auc <= AUC_TOLERANCE,
        },
    }


# -- RESULTS.md --------------------------------------------------------------------------------

TITLES = {
    "no_change": "no change",
    "covariate_harmless": "covariate shift, harmless",
    "covariate_harmful": "covariate shift, harmful",
    "concept_drift": "pure concept drift",
}


def _cell(outcome: Mapping[str, Any], harmful: bool, change_hour: int) -> str:
    """ "retrain after 3 h (quality)", "**missed**", "**1 needless** (quality)"."""
    parts = []
    retrains = [(int(hour), str(alarm)) for hour, alarm in outcome["retrains"]]
    if harmful:
        found = outcome["detected_after"]
        first = next((alarm for hour, alarm in retrains if hour >= change_hour), "")
        parts.append("**missed**" if outcome["missed"] else f"retrain after {found} h ({first})")
    if outcome["needless"]:
        alarms = sorted({a for h, a in retrains if h < change_hour or not harmful})
        parts.append(f"**{outcome['needless']} needless** ({', '.join(alarms)})")
    if not parts:
        parts.append("no retrain")
    return ", ".join(parts)


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def render(results: Mapping[str, Any]) -> list[str]:
    """The "Retrain policies on simulated streams" section of RESULTS.md."""
    sizes, found = results["sizes"], results["goals"]
    policies = [*POLICIES, *([EVIDENTLY_POLICY] if results.get("evidently_version") else [])]
    lines = [
        "## Retrain policies on simulated streams",
        "",
        f"Measured {results['measured_at']} on {results['machine']} (`make bench ONLY=policy` "
        f"runs this section alone; it took {results['total_seconds']} s). Per world and "
        f"scenario a stream of {sizes['hours']} hourly windows of {sizes['window_rows']:,} "
        f"requests, the change at its full size from hour {sizes['change_hour']}; each hour "
        "the real drift check against the champion's training baseline and its alarm (share > "
        "0.2 in 2 of 3 checks), the quality check's realised metric once the labels are in "
        f"(the model's lag) against its limit (max_drop {results['max_drop']} from the "
        "champion's holdout figure, 2 of 3) and its estimate of the latest window, and each "
        "policy's decision by `modelfresh.quality.policy.decide`. Hours to detection: from "
        "the change's start to the end of the hour whose check retrained. A retrain is "
        "needless before the change and in a scenario that does no harm; a harmful scenario "
        "without a retrain from the change on is missed.",
        "",
        "Goals (issue 14):",
        "",
    ]
    concept = found["no_missed_concept_drift"]
    missed = [k for k, v in concept["figures"].items() if v]
    lines.append(
        "- 0 missed pure concept drifts where labels arrive (quality, drift-and-degraded): "
        + ("**met**" if concept["met"] else f"**not met**: missed by {', '.join(missed)}")
        + "."
    )
    days = found["needless_per_90_days"]
    worst = max(days["figures"].items(), key=lambda item: item[1])
    lines.append(
        f"- <= 1 needless retrain per model per {days['days']} no-change days: "
        + ("**met**" if days["met"] else "**not met**")
        + f" (most: {worst[1]}, {worst[0]})."
    )
    harmless = found["harmless_shift_under_drift_and_degraded"]
    lines.append(
        "- Harmless covariate shift retrains nothing under drift-and-degraded: "
        + ("**met**" if harmless["met"] else "**not met**")
        + " ("
        + ", ".join(f"{k}: {v} needless" for k, v in harmless["figures"].items())
        + ")."
    )
    auc = found["estimated_auc_under_covariate_shift"]
    lines += [
        f"- Estimated auc within {auc['tolerance']} of the realised one under covariate shift "
        f"(churn, every hour of both shifts): largest error **{auc['max_absolute_error']:.3f}**"
        f", {'met' if auc['met'] else '**not met**'}.",
        "",
        "| model | scenario | drifted share | realised (estimated) after the change | "
        "estimate's largest error | " + " | ".join(policies) + " |",
        "|---|---|---:|---:|---:|" + "---|" * len(policies),
    ]
    for world in results["problems"].values():
        for name, scenario in world["scenarios"].items():
            cells = [
                _cell(scenario["policies"][policy], scenario["harmful"], sizes["change_hour"])
                if policy in scenario["policies"]
                else "-"
                for policy in policies
            ]
            share = _figure(scenario["share_after_change"])
            if "share_after_change_evidently" in scenario:
                share += f" (Evidently {_figure(scenario['share_after_change_evidently'])})"
            lines.append(
                f"| {world['model']} | {TITLES[name]} | {share} | "
                f"{world['metric']} {_figure(scenario['realised_after_change'])} "
                f"({_figure(scenario['estimate_after_change'])}) | "
                f"{_figure(scenario['estimate_max_abs_error'])} | " + " | ".join(cells) + " |"
            )
    lines += [
        "",
        "A cell names the alarm that retrained (both: the drift and the quality alarm in the "
        "same hour). The drifted share and the watched metric are means over the hours from "
        "the change on; the estimate is the quality check's, from the predictions alone, and "
        "its largest error is over every hour of the stream (|estimated - realised|, the "
        "hour's own labels).",
        "",
        f"{sizes['days']} no-change days ({sizes['day_rows']:,} requests an hour), every "
        "retrain needless:",
        "",
        "| model | holdout | limit | mean hourly figure | hours any feature drifted | "
        "hours over the limit | " + " | ".join(POLICIES) + " | Evidently drift (its days) |",
        "|---|---:|---:|---:|---:|---:|" + "---:|" * (len(POLICIES) + 1),
    ]
    for world in results["problems"].values():
        days_found = world["days"]
        retrains = [str(len(days_found["retrains"][p])) for p in POLICIES]
        if "evidently_retrains" in days_found:
            theirs = (
                f"{len(days_found['evidently_retrains'])} in {days_found['evidently_hours'] // 24}"
                f" days (ours: {len(days_found['ours_retrains_same_hours'])})"
            )
        else:
            theirs = "-"
        lines.append(
            f"| {world['model']} | {world['metric']} {_figure(world['holdout'][world['metric']])} "
            f"| {_figure(world['limit'])} | {_figure(days_found['realised_mean'])} | "
            f"{days_found['hours_any_feature_drifted']} of "
            f"{days_found['hours']} | {days_found['hours_over_limit']} | "
            + " | ".join(retrains)
            + f" | {theirs} |"
        )
    for world in results["problems"].values():
        days_found = world["days"]
        if days_found.get("retrains_shipped_limit"):
            counts = ", ".join(
                f"{policy} {len(r)}" for policy, r in days_found["retrains_shipped_limit"].items()
            )
            lines += [
                "",
                f"{world['model']} under the absolute limit config/models.toml ships for it "
                f"({world['metric']} {days_found['shipped_limit']:g}) instead of max_drop: "
                f"needless retrains over the same {sizes['days']} days: {counts}.",
            ]
    lines += [
        "",
        "Scenarios: "
        + "; ".join(
            f"{world['model']}, {TITLES[name]}: {scenario['description']}"
            for world in results["problems"].values()
            for name, scenario in world["scenarios"].items()
            if name != "no_change"
        )
        + ". Labels arrive "
        + " and ".join(
            f"{w['lag_hours']} h later for {w['model']}" for w in results["problems"].values()
        )
        + " (each model's `ground_truth_lag_hours`).",
        "",
        "Evidently drift: the same drift alarm fed by Evidently "
        f"{results.get('evidently_version') or '(not run)'}'s share of drifted columns "
        "(`DriftedColumnsCount`, its default tests), retraining on every alarm; on the "
        f"no-change days for the first {sizes['evidently_days']} only (a report takes about "
        "0.1 s). NannyML is not beside it: nannyml 0.13.1 (the newest) cannot be installed in "
        "the bench dependency group (its s3fs pins botocore below the dev group's boto3).",
        "",
    ]
    return lines
