"""The drift check's statistics steps (modelfresh.drift.check) on moto's S3, with baselines built
by the driftcheck engine from small synthetic data: compiling the champion's baseline once per
container, reading a fanned-out check's partials, the finding and the output files."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
import numpy as np
import pytest
from botocore.stub import Stubber
from driftcheck import DriftResult, DriftSettings, FeatureSpec, Reference, baseline, compare, fold
from driftcheck import dumps as jackson
from driftcheck.report import AlarmRule, PastCheck
from modelfresh.aws.drift import DriftMetrics, DriftObjects
from modelfresh.core.config import load_config
from modelfresh.core.errors import BaselineInvalid, DriftCheckIncomplete, ModelfreshError
from modelfresh.core.schema import DriftCheck
from modelfresh.drift import check as driftrun
from modelfresh.drift.check import (
    HISTORY_CHECKS,
    finding,
    partial_uri,
    read_partials,
    reference,
    report_context,
    report_title,
    settings_of,
    write_outputs,
)
from moto import mock_aws

from tests.conftest import FIXTURES
from tests.unit.drift_fixtures import reference_for, window_of

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

BUCKET = "modelfresh-artifacts-us-east-1-123456789012"
STATISTICS = f"s3://{BUCKET}/baselines/v3/statistics.json"
CONSTRAINTS = f"s3://{BUCKET}/baselines/v3/constraints.json"
BASELINE = {"statistics": STATISTICS, "constraints": CONSTRAINTS}
OUTPUT = f"s3://{BUCKET}/modelfresh/drift/taxi-fare/20261122T0600/"
WINDOW = {"start": "2026-11-22T05:00:00.000Z", "end": "2026-11-22T06:00:00.000Z"}
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:drift-check:taxi-fare-20261122T0600"

FEATURES = (FeatureSpec("distance", "numeric"), FeatureSpec("plan", "categorical"))
PLANS = ("gold", "silver", "basic")
# The baseline's own settings: everything differs from DriftSettings' defaults.
BASELINE_SETTINGS = DriftSettings(
    threshold=0.3,
    categorical_threshold=0.35,
    method="simple",
    categorical_method="chisquared",
    psi_threshold=None,
    chi2_p_value=0.01,
    datatype_threshold=0.9,
    domain_threshold=0.8,
)
# The model config's thresholds, which apply at check time.
CHECK = DriftCheck(
    features=("distance", "plan"),
    categorical=("plan",),
    threshold=0.15,
    categorical_threshold=0.25,
    method="robust",
    psi_threshold=0.2,
)
TAXI = replace(load_config(FIXTURES / "models.toml").model("taxi-fare"), drift_check=CHECK)


def training_rows(count: int = 300, seed: int = 1) -> list[tuple[float, str]]:
    rng = random.Random(seed)
    return [(round(rng.uniform(0, 50), 2), rng.choice(PLANS)) for _ in range(count)]


class RecordingObjects(DriftObjects):
    """DriftObjects that remembers which documents it read, in order."""

    def __init__(self, client: S3Client) -> None:
        super().__init__(client)
        self.read: list[str] = []

    def read_json(self, uri: str) -> Any:
        self.read.append(uri)
        return super().read_json(uri)


@pytest.fixture(autouse=True)
def fresh_container(monkeypatch: pytest.MonkeyPatch, offline_aws: None) -> Iterator[None]:
    """A new container (nothing compiled yet), moto's S3, fake credentials."""
    monkeypatch.setattr(driftrun, "_compiled", {})
    with mock_aws():
        yield


@pytest.fixture
def s3() -> S3Client:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def objects(s3: S3Client) -> RecordingObjects:
    return RecordingObjects(s3)


def put_baseline(
    objects: DriftObjects,
    settings: DriftSettings = BASELINE_SETTINGS,
    rows: Sequence[Sequence[object]] | None = None,
) -> None:
    statistics, constraints = baseline(rows or training_rows(), FEATURES, settings)
    objects.write_json(STATISTICS, statistics)
    objects.write_json(CONSTRAINTS, constraints)


# -- reference: compiled once per container -------------------------------------------------


def test_the_baseline_is_read_and_compiled_once_for_every_batch_of_the_container(
    objects: RecordingObjects,
) -> None:
    put_baseline(objects)

    first = reference(objects, BASELINE, CHECK)
    again = reference(objects, BASELINE, CHECK)

    assert objects.read == [STATISTICS, CONSTRAINTS]
    assert first.fingerprint == again.fingerprint
    assert first.names == ("distance", "plan")


@pytest.mark.parametrize("rewritten", [STATISTICS, CONSTRAINTS])
def test_a_baseline_file_rewritten_in_place_is_compiled_again(
    objects: RecordingObjects, rewritten: str
) -> None:
    # Given a compiled baseline
    put_baseline(objects)
    before = reference(objects, BASELINE, CHECK)

    # When one of its files is rewritten under the same name (a new ETag)
    statistics, constraints = baseline(
        training_rows(seed=2), FEATURES, DriftSettings(chi2_p_value=0.05)
    )
    objects.write_json(rewritten, statistics if rewritten == STATISTICS else constraints)
    after = reference(objects, BASELINE, CHECK)

    # Then both files are read again and the new content is what the check compares with
    assert objects.read == [STATISTICS, CONSTRAINTS] * 2
    assert after.fingerprint != before.fingerprint
    if rewritten == CONSTRAINTS:
        assert after.settings.chi2_p_value == 0.05


def test_another_champions_baseline_is_compiled_for_itself(objects: RecordingObjects) -> None:
    put_baseline(objects)
    reference(objects, BASELINE, CHECK)
    other = {k: v.replace("/v3/", "/v4/") for k, v in BASELINE.items()}
    statistics, constraints = baseline(training_rows(seed=9), FEATURES, BASELINE_SETTINGS)
    objects.write_json(other["statistics"], statistics)
    objects.write_json(other["constraints"], constraints)

    compiled = reference(objects, other, CHECK)

    assert objects.read[2:] == [other["statistics"], other["constraints"]]
    assert compiled.fingerprint == Reference.from_baseline(statistics, constraints).fingerprint


def test_the_model_configs_thresholds_apply_and_the_baselines_other_settings_stay(
    objects: RecordingObjects,
) -> None:
    put_baseline(objects)

    compiled = reference(objects, BASELINE, CHECK)

    assert compiled.settings == DriftSettings(
        # from the model config
        threshold=0.15,
        categorical_threshold=0.25,
        method="robust",
        psi_threshold=0.2,
        # the false-alarm budget (1 in 90 days) as hourly 2-of-3 checks' level, and the share
        check_level=CHECK.check_level,
        alarm_share=0.2,
        # from constraints.json
        categorical_method="chisquared",
        chi2_p_value=0.01,
        datatype_threshold=0.9,
        domain_threshold=0.8,
    )


def test_the_configs_thresholds_do_not_stick_to_the_compiled_baseline(
    objects: RecordingObjects,
) -> None:
    # Given a baseline compiled for one check, then used with another model config
    put_baseline(objects)
    reference(objects, BASELINE, CHECK)
    stricter = DriftCheck(features=CHECK.features, threshold=0.05, method="simple")

    compiled = reference(objects, BASELINE, stricter)

    assert (compiled.settings.threshold, compiled.settings.method) == (0.05, "simple")
    assert compiled.settings.categorical_method == "chisquared"
    assert len(objects.read) == 2  # still compiled once


def test_a_psi_threshold_of_zero_turns_the_psi_verdict_off() -> None:
    base = DriftSettings(psi_threshold=0.1)

    assert settings_of(DriftCheck(features=("a",), psi_threshold=0.0), base).psi_threshold is None
    assert settings_of(DriftCheck(features=("a",), psi_threshold=0.3), base).psi_threshold == 0.3


def test_the_wasserstein_verdict_is_off_unless_the_config_sets_a_threshold() -> None:
    base = DriftSettings()

    assert settings_of(DriftCheck(features=("a",)), base).wasserstein_threshold is None
    moving = DriftCheck(features=("a",), wasserstein_threshold=0.1)
    assert settings_of(moving, base).wasserstein_threshold == 0.1


# -- reference: a baseline that cannot be used ----------------------------------------------


def test_a_missing_baseline_is_invalid_and_says_which_baseline_cannot_be_read(
    objects: RecordingObjects,
) -> None:
    with pytest.raises(BaselineInvalid) as raised:
        reference(objects, BASELINE, CHECK)

    assert str(raised.value) == f"cannot read the baseline file {STATISTICS}: 404"
    assert isinstance(raised.value, ModelfreshError)  # the Step Functions error name
    assert raised.value.__suppress_context__  # no botocore traceback in the error's cause


def test_a_missing_constraints_file_is_named_in_the_error(objects: RecordingObjects) -> None:
    statistics, _ = baseline(training_rows(), FEATURES, BASELINE_SETTINGS)
    objects.write_json(STATISTICS, statistics)

    with pytest.raises(BaselineInvalid, match=r"constraints\.json"):
        reference(objects, BASELINE, CHECK)


def test_a_baseline_that_is_not_json_is_invalid(objects: RecordingObjects) -> None:
    put_baseline(objects)
    objects.write(STATISTICS, "statistics, as a CSV file\n1,2\n", "text/csv")

    with pytest.raises(BaselineInvalid) as raised:
        reference(objects, BASELINE, CHECK)

    assert str(raised.value) == f"the baseline file {STATISTICS} is not JSON"


def test_a_broken_baseline_is_invalid_and_lists_what_is_wrong(objects: RecordingObjects) -> None:
    put_baseline(objects)
    objects.write_json(STATISTICS, {"version": 0.0, "features": []})

    with pytest.raises(BaselineInvalid) as raised:
        reference(objects, BASELINE, CHECK)

    message = str(raised.value)
    assert message.startswith(f"the baseline {STATISTICS} is broken: ")
    assert "statistics.json: 'features' must be a non-empty list" in message


def test_a_broken_baseline_is_not_kept_and_its_repair_is_used(objects: RecordingObjects) -> None:
    put_baseline(objects)
    objects.write_json(STATISTICS, ["not", "an", "object"])
    with pytest.raises(BaselineInvalid):
        reference(objects, BASELINE, CHECK)

    put_baseline(objects)

    assert reference(objects, BASELINE, CHECK).names == ("distance", "plan")


# -- read_partials --------------------------------------------------------------------------


def write_partials(objects: DriftObjects, ref: Reference, count: int) -> list[dict[str, Any]]:
    """`count` batches' partials as summarise_capture writes them; their Map results."""
    entries = []
    for index in range(count):
        rows = training_rows(count=20 + index, seed=100 + index)
        uri = partial_uri(OUTPUT, index)
        objects.write(uri, jackson(window_of(ref, rows).to_json()), "application/json")
        entries.append({"index": index, "partial": uri, "objects": 1})
    return entries


@pytest.fixture
def ref() -> Reference:
    return reference_for(training_rows(), FEATURES)


def test_partials_are_folded_in_batch_order_whatever_order_the_map_returns(
    objects: RecordingObjects, ref: Reference
) -> None:
    # Given twelve batches' partials, returned by the Map out of order
    entries = write_partials(objects, ref, 12)
    shuffled = list(entries)
    random.Random(7).shuffle(shuffled)
    objects.read.clear()

    # When they are read
    folded = fold(read_partials(objects, ref, shuffled), reference=ref)

    # Then they were read in batch order (00010 after 00009), and fold exactly as in that order
    assert objects.read == [partial_uri(OUTPUT, i) for i in range(12)]
    in_order = fold(
        [window_of(ref, training_rows(count=20 + i, seed=100 + i)) for i in range(12)],
        reference=ref,
    )
    assert folded.to_json() == in_order.to_json()
    assert folded.tally.rows == sum(20 + i for i in range(12))


@pytest.mark.parametrize(
    ("failures", "count"),
    [
        pytest.param({1: None}, 1, id="missing-result"),
        pytest.param(
            {2: {"index": 2, "Error": "States.TaskFailed", "Cause": "..."}}, 1, id="error"
        ),
        pytest.param({0: None, 3: {"index": 3}, 4: {}}, 3, id="several"),
    ],
)
def test_a_window_with_a_failed_batch_is_refused_before_anything_is_read(
    objects: RecordingObjects,
    ref: Reference,
    failures: dict[int, dict[str, Any] | None],
    count: int,
) -> None:
    entries: list[dict[str, Any] | None] = list(write_partials(objects, ref, 5))
    for index, failed in failures.items():
        entries[index] = failed
    objects.read.clear()

    with pytest.raises(DriftCheckIncomplete) as raised:
        list(read_partials(objects, ref, entries))

    assert str(raised.value).startswith(f"{count} of 5 batches failed")
    assert str(raised.value).endswith("nothing was published")
    assert objects.read == []


def test_the_refusal_names_the_first_failed_batches(
    objects: RecordingObjects, ref: Reference
) -> None:
    entries: list[dict[str, Any] | None] = [{"index": i} for i in range(9)]

    with pytest.raises(
        DriftCheckIncomplete, match=r"^9 of 9 batches failed \(first: \[0, 1, 2, 3, 4\]\)"
    ):
        list(read_partials(objects, ref, entries))


# -- finding and the output files -----------------------------------------------------------

NUMERIC = tuple(FeatureSpec(f"f{k:02d}", "numeric") for k in range(14))
SIMPLE = DriftSettings(method="simple", psi_threshold=None)


def drifted_result() -> tuple[DriftResult, Reference]:
    """14 numeric features; f00..f11 shifted by 20 + 5k (all drift, by distinct distances),
    f12 and f13 not moved."""
    base = [[float(j % 100)] * len(NUMERIC) for j in range(1000)]
    ref = reference_for(base, NUMERIC, SIMPLE)
    shifts = [20 + 5 * k for k in range(12)] + [0, 0]
    window = [[float(j % 100) + s for s in shifts] for j in range(500)]
    return compare(ref, window_of(ref, window)), ref


FILES = {
    "statistics": OUTPUT + "statistics.json",
    "violations": OUTPUT + "constraint_violations.json",
    "report": OUTPUT + "report.html",
}


def test_the_finding_keeps_the_ten_worst_drifted_features_worst_first() -> None:
    result, _ = drifted_result()

    found = finding(result, WINDOW, FILES, EXECUTION)

    worst = sorted((f for f in result.features if f.drifted), key=lambda f: -f.distance)
    assert [f["name"] for f in found["features"]] == [f"f{k:02d}" for k in range(11, 1, -1)]
    assert found["features"] == [
        {"name": f.name, "distance": round(f.distance, 4)} for f in worst[:10]
    ]
    assert found["features"][0]["distance"] > found["features"][-1]["distance"]


def test_the_finding_names_the_measure_that_found_a_feature_beside_its_distance() -> None:
    # Given one feature whose spread doubled (PSI finds it) and one moved by a quarter sd (the
    # Wasserstein distance finds it); L-infinity finds neither
    rng = np.random.default_rng(0)
    features = (FeatureSpec("spread", "numeric"), FeatureSpec("mean", "numeric"))
    settings = DriftSettings(wasserstein_threshold=0.1)
    ref = reference_for(rng.normal(size=(20_000, 2)).tolist(), features, settings)
    moved = np.column_stack([rng.normal(size=5000) * 2**0.5, rng.normal(0.25, 1, size=5000)])
    result = compare(ref, window_of(ref, moved.tolist()))

    found = finding(result, WINDOW, FILES, EXECUTION)

    spread, mean = result.features
    assert (spread.found_by, mean.found_by) == ("psi", "wasserstein")
    assert sorted(found["features"], key=lambda f: f["name"]) == [
        {"name": "mean", "distance": round(mean.distance, 4), "wasserstein": round(mean.wasserstein or 0, 4)},
        {"name": "spread", "distance": round(spread.distance, 4), "psi": round(spread.psi or 0, 4)},
    ]  # fmt: skip


def test_the_finding_names_a_chi_square_verdict_by_its_statistic() -> None:
    # Given the chi-square method and a window whose plan shares moved
    rng = np.random.default_rng(0)
    settings = DriftSettings(categorical_method="chisquared")
    plan = (FeatureSpec("plan", "categorical"),)
    ref = reference_for([[p] for p in rng.choice(PLANS, 5000, p=[0.6, 0.3, 0.1])], plan, settings)
    result = compare(ref, window_of(ref, [[p] for p in rng.choice(PLANS, 2000, p=[0.5, 0.4, 0.1])]))

    found = finding(result, WINDOW, FILES, EXECUTION)

    (drift,) = result.features
    assert drift.found_by == "chi2" and drift.chi2 is not None
    assert found["features"] == [
        {"name": "plan", "distance": round(drift.distance, 4), "chi2": round(drift.chi2, 4)}
    ]


def test_the_finding_says_what_was_checked_and_where_the_files_are() -> None:
    result, _ = drifted_result()

    found = finding(result, WINDOW, FILES, EXECUTION)

    assert {k: v for k, v in found.items() if k != "features"} == {
        "execution": EXECUTION,
        "window": WINDOW,
        "rows": 500,
        "malformed": 0,
        "drifted_share": round(12 / 14, 4),
        "report": FILES["report"],
        "violations": FILES["violations"],
    }
    assert json.loads(json.dumps(found)) == found  # it travels as JSON


def test_a_window_without_drift_finds_no_features() -> None:
    ref = reference_for([[float(j % 100)] for j in range(1000)], NUMERIC[:1], SIMPLE)
    result = compare(ref, window_of(ref, [[float(j % 100)] for j in range(500)]))

    found = finding(result, WINDOW, FILES, EXECUTION)

    assert (found["features"], found["drifted_share"]) == ([], 0.0)


def test_the_outputs_are_model_monitors_two_files_and_the_report_with_their_types(
    s3: S3Client, objects: RecordingObjects
) -> None:
    result, ref = drifted_result()

    written = write_outputs(objects, OUTPUT, result, ref, "taxi-fare: 05:00 .. 06:00")

    assert written == FILES
    prefix = OUTPUT.split("/", 3)[3]

    def stored(name: str) -> tuple[str, bytes]:
        found = s3.get_object(Bucket=BUCKET, Key=prefix + name)
        return found["ContentType"], found["Body"].read()

    kind, body = stored("statistics.json")
    assert kind == "application/json"
    assert json.loads(body) == json.loads(jackson(result.statistics_json()))
    kind, body = stored("constraint_violations.json")
    assert kind == "application/json"
    violations = json.loads(body)["violations"]
    assert {
        v["feature_name"]
        for v in violations
        if v["constraint_check_type"] == "baseline_drift_check"
    } == set(result.drifted_features)
    kind, body = stored("report.html")
    assert kind == "text/html"
    assert body.decode().startswith("<!doctype html>")
    assert "taxi-fare: 05:00 .. 06:00" in body.decode()


# -- the report's title and what it says beyond the window ----------------------------------


@pytest.mark.parametrize(
    ("window", "title"),
    [
        (WINDOW, "taxi-fare drift check, 22 Nov 2026 05:00–06:00 UTC"),
        (
            {"start": "2026-11-22T18:00:00.000Z", "end": "2026-11-23T00:00:00.000Z"},
            "taxi-fare drift check, 22 Nov 2026 18:00–00:00 UTC",
        ),
        (
            {"start": "2026-11-22T22:00:00.000Z", "end": "2026-11-23T04:00:00.000Z"},
            "taxi-fare drift check, 22 Nov 2026 22:00–23 Nov 2026 04:00 UTC",
        ),
    ],
    ids=["hour", "to-midnight", "past-midnight"],
)
def test_the_reports_title_is_the_model_and_its_window_for_a_person(
    window: dict[str, str], title: str
) -> None:
    assert report_title("taxi-fare", window) == title


def test_the_report_context_comes_from_the_plan_the_config_and_the_alarms_metrics() -> None:
    # Given two earlier hourly checks published, with an hour without data between them
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    metrics = DriftMetrics(cloudwatch)
    start = datetime(2026, 11, 22, 5, tzinfo=UTC)
    hour = timedelta(hours=1)
    metrics.publish("taxi-fare", (start - 3 * hour).isoformat(), 0.5, {"distance": 0.31}, 90)
    metrics.publish("taxi-fare", (start - hour).isoformat(), 0.0, {"distance": 0.02}, 90)
    model = replace(TAXI, drift_check=replace(CHECK, alarm_share=0.3, evaluation_periods=4))
    planned = BASELINE | {"package": "arn:...:model-package/taxi-fare/3", "version": 3}

    context = report_context(metrics, model, ["distance", "plan"], planned, start)

    # Then: the package version the plan recorded, the alarm as configured, the earlier checks
    assert context.baseline == "taxi-fare v3" and context.baseline_uri == STATISTICS
    assert context.alarm == AlarmRule(share=0.3, datapoints=2, periods=4, false_alarms=1.0)
    assert context.history is not None and len(context.history) == HISTORY_CHECKS
    assert context.history[-3:] == (
        PastCheck(start - 3 * hour, 0.5, {"distance": 0.31}),
        PastCheck(start - 2 * hour, None, {}),
        PastCheck(start - hour, 0.0, {"distance": 0.02}),
    )
    assert all(c.drifted_share is None for c in context.history[:-3])


def test_a_report_context_whose_metrics_cannot_be_read_has_no_history() -> None:
    # Given CloudWatch refusing the read (a role without GetMetricData, say)
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    stub = Stubber(cloudwatch)
    stub.add_client_error("get_metric_data", "AccessDenied", http_status_code=403)
    planned = {"statistics": STATISTICS, "constraints": CONSTRAINTS}  # a plan naming no package

    with stub:
        context = report_context(
            DriftMetrics(cloudwatch),
            TAXI,
            ["distance"],
            planned,
            datetime(2026, 11, 22, 5, tzinfo=UTC),
        )

    assert context.history is None and context.baseline == "" and context.alarm is not None
