"""The retrain run's code steps: the plan, the candidate's evaluation, and how the run ended."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from modelfresh.core.config import load_config
from modelfresh.core.errors import (
    CandidateNotFound,
    EvaluationReportInvalid,
    PipelineParameterInvalid,
)
from modelfresh.core.records import Champion, Endpoint, Package
from modelfresh.core.schema import Gate, ModelConfig
from modelfresh.drift.plan import CaptureObject
from modelfresh.quality.dataset import DataLocations, DriftDataset
from modelfresh.retrain.signals import Signal, alarm_signal, parse_alarm_change
from modelfresh.retrain.steps import (
    PIPELINE_PARAMETERS,
    CandidateRequest,
    RetrainPlan,
    ServedModel,
    champion_of,
    evaluate_candidate,
    plan_retrain,
    prepare_retrain,
    run_outcome,
)

from tests.conftest import FIXTURES, ROOT, sample_event
from tests.unit.batch_models import with_scorer

CONFIG = load_config(FIXTURES / "models.toml")
TAXI = CONFIG.model("taxi-fare")
RUN = "taxi-fare-drift-20191002T1704-0123456789"
EXECUTION = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/taxi-fare-retrain/execution/p4jn"
PACKAGE = "arn:aws:sagemaker:us-east-1:123456789012:model-package/taxi-fare/3"
REPORT_URI = "s3://modelfresh-artifacts/taxi-fare/p4jn/evaluation.json"
AT = "2026-11-22T10:00:00.000Z"
WINDOW = {"start": "2019-10-02T16:04:00Z", "end": "2019-10-02T17:04:00Z"}


def drift_signal() -> Signal:
    return alarm_signal(
        parse_alarm_change(sample_event("cloudwatch_alarm_state_change_alarm")), TAXI
    )


# -- plan_retrain ------------------------------------------------------------------------------

MANIFEST = f"s3://modelfresh-artifacts/drift-datasets/taxi-fare/{RUN}/manifest.json"
DATASET = DriftDataset(MANIFEST, capture_objects=25, ground_truth_objects=26, notes=())
CHAMPION_PACKAGE = "arn:aws:sagemaker:us-east-1:123456789012:model-package/taxi-fare/2"
CHAMPION_DATA = "s3://modelfresh-artifacts/taxi-fare-retrain/p1/model/model.tar.gz"
CHAMPION = ServedModel(CHAMPION_PACKAGE, CHAMPION_DATA)
# The contract's parameters, in its order (pipelines/README.md).
CONTRACT = [
    "TriggerKind",
    "TriggerId",
    "DriftWindowStart",
    "DriftWindowEnd",
    "RunName",
    "TrainingData",
    "DriftDataset",
    "ProblemType",
    "Objective",
    "FeatureNames",
    "CategoricalFeatures",
    "GateMetric",
    "GateDirection",
    "GateThreshold",
    "ModelPackageGroup",
    "ChampionModelPackageArn",
    "ChampionModelData",
]


def plan(
    model: ModelConfig = TAXI,
    signal: Signal | None = None,
    run: str = RUN,
    heartbeat_seconds: int = 600,
    champion: ServedModel = CHAMPION,
) -> RetrainPlan:
    return plan_retrain(
        model,
        signal or drift_signal(),
        run,
        heartbeat_seconds,
        dataset=DATASET,
        champion=champion,
        data_bucket="modelfresh-data",
    )


def parameters(planned: Mapping[str, Any]) -> dict[str, str]:
    return {p["Name"]: p["Value"] for p in planned["pipelineParameters"]}


def test_plan_fixes_everything_the_run_needs() -> None:
    # Given a drift signal for taxi-fare, its dataset written and its champion found
    signal = drift_signal()

    # When the run is planned with a 10-minute heartbeat sweep
    planned = plan(signal=signal)

    # Then the plan carries the pipeline, its parameters, the gate, the timeouts, the dataset
    assert {k: v for k, v in planned.items() if k != "clientRequestToken"} == {
        "model": "taxi-fare",
        "run": RUN,
        "pipelineName": "modelfresh-retrain",
        "packageGroup": "taxi-fare",
        "pipelineParameters": [
            {"Name": "TriggerKind", "Value": "drift"},
            {"Name": "TriggerId", "Value": signal.id},
            {"Name": "DriftWindowStart", "Value": "2019-10-01T17:04:40.989Z"},
            {"Name": "DriftWindowEnd", "Value": "2019-10-02T17:04:40.989Z"},
            {"Name": "RunName", "Value": RUN},
            {"Name": "TrainingData", "Value": "s3://modelfresh-data/taxi-fare/training/"},
            {"Name": "DriftDataset", "Value": MANIFEST},
            {"Name": "ProblemType", "Value": "regression"},
            {"Name": "Objective", "Value": "reg:squarederror"},
            {
                "Name": "FeatureNames",
                "Value": "passenger_count,trip_distance_km,pickup_hour,pickup_weekday,"
                "pickup_month,pickup_latitude,pickup_longitude,dropoff_latitude,"
                "dropoff_longitude",
            },
            {"Name": "CategoricalFeatures", "Value": "pickup_weekday"},
            {"Name": "GateMetric", "Value": "rmse"},
            {"Name": "GateDirection", "Value": "minimize"},
            {"Name": "GateThreshold", "Value": "4.0"},
            {"Name": "ModelPackageGroup", "Value": "taxi-fare"},
            {"Name": "ChampionModelPackageArn", "Value": CHAMPION_PACKAGE},
            {"Name": "ChampionModelData", "Value": CHAMPION_DATA},
        ],
        "pipelineTimeoutSeconds": 72 * 3600,
        "heartbeatSeconds": 1800,
        "gate": {
            "metric": "rmse",
            "threshold": 4.0,
            "direction": "minimize",
            "champion_margin": 0.05,
            "require_significant": True,
            "confidence": 0.95,
        },
        "approval": "auto",
        "driftWindow": {"start": "2019-10-01T17:04:40.989Z", "end": "2019-10-02T17:04:40.989Z"},
        "dataset": {
            "manifest": MANIFEST,
            "captureObjects": 25,
            "groundTruthObjects": 26,
            "notes": [],
        },
    }


@pytest.mark.parametrize("model", [TAXI, CONFIG.model("churn")], ids=["taxi-fare", "churn"])
def test_plan_passes_every_parameter_of_the_contract_in_order_as_strings_within_limits(
    model: ModelConfig,
) -> None:
    planned = plan(model=model, champion=ServedModel())

    names = [p["Name"] for p in planned["pipelineParameters"]]
    assert names == list(PIPELINE_PARAMETERS) == CONTRACT
    for parameter in planned["pipelineParameters"]:
        assert isinstance(parameter["Value"], str)
        assert len(parameter["Value"]) <= 1024


def test_the_contract_document_lists_the_same_parameters_in_the_same_order() -> None:
    text = (ROOT / "pipelines" / "README.md").read_text()
    table = text.split("## Parameters", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1] for line in table.splitlines() if line.startswith("| `")]

    assert [name for row in rows for name in re.findall(r"`(\w+)`", row)] == CONTRACT


def test_a_classifier_without_a_drift_check_or_a_champion_passes_empty_values() -> None:
    # Given churn: binary classification, maximising AUC, no drift check, nothing in prod
    churn = CONFIG.model("churn")
    assert churn.drift_check is None

    values = parameters(plan(model=churn, champion=ServedModel()))

    assert {k: values[k] for k in CONTRACT[5:]} == {
        "TrainingData": "s3://modelfresh-data/churn/training/",
        "DriftDataset": MANIFEST,
        "ProblemType": "binary_classification",
        "Objective": "binary:logistic",
        "FeatureNames": "",
        "CategoricalFeatures": "",
        "GateMetric": "auc",
        "GateDirection": "maximize",
        "GateThreshold": "0.8",
        "ModelPackageGroup": "churn",
        "ChampionModelPackageArn": "",
        "ChampionModelData": "",
    }


def test_client_request_token_is_deterministic_per_run_and_within_sagemaker_limits() -> None:
    signal = drift_signal()

    first = plan(signal=signal)["clientRequestToken"]
    again = plan(signal=signal)["clientRequestToken"]
    other = plan(signal=signal, run=RUN + "x")["clientRequestToken"]

    assert 32 <= len(first) <= 128
    assert re.fullmatch(r"[A-Za-z0-9-]+", first)
    assert again == first
    assert other != first


@pytest.mark.parametrize(
    ("heartbeat_seconds", "timeout_hours", "heartbeat", "timeout"),
    [
        pytest.param(600, 72.0, 1800, 259200, id="model-timeout-is-longer"),
        pytest.param(60, 1.0, 180, 3600, id="one-minute-sweep"),
        pytest.param(3600, 1.0, 10800, 10860, id="timeout-raised-above-the-heartbeat"),
        pytest.param(600, 0.01, 1800, 1860, id="tiny-model-timeout"),
    ],
)
def test_heartbeat_allows_three_missed_sweeps_and_the_timeout_outlasts_it(
    heartbeat_seconds: int, timeout_hours: float, heartbeat: int, timeout: int
) -> None:
    model = replace(TAXI, pipeline_timeout_hours=timeout_hours)

    planned = plan(model=model, heartbeat_seconds=heartbeat_seconds)

    assert planned["heartbeatSeconds"] == heartbeat
    assert planned["pipelineTimeoutSeconds"] == timeout
    assert planned["pipelineTimeoutSeconds"] >= planned["heartbeatSeconds"] + 60


def test_a_value_of_the_run_over_sagemakers_limit_fails_the_plan_instead_of_being_cut() -> None:
    # Given a signal whose id is longer than a pipeline parameter may be
    signal = replace(drift_signal(), id="alarm/" + "a" * 2000)

    with pytest.raises(PipelineParameterInvalid) as raised:
        plan(signal=signal)

    assert str(raised.value) == (
        "the pipeline parameter TriggerId would be 2006 characters; SageMaker takes at most 1024"
    )


def test_schedule_signal_is_planned_with_its_kind_and_slot_window() -> None:
    signal = Signal(
        model="taxi-fare",
        kind="schedule",
        id="schedule/taxi-fare/2026-11-19T00:00:00.000Z",
        at="2026-11-19T00:00:00.000Z",
        source="rule",
    )

    planned = plan(signal=signal)

    assert planned["pipelineParameters"][:4] == [
        {"Name": "TriggerKind", "Value": "schedule"},
        {"Name": "TriggerId", "Value": "schedule/taxi-fare/2026-11-19T00:00:00.000Z"},
        {"Name": "DriftWindowStart", "Value": "2026-11-18T00:00:00.000Z"},
        {"Name": "DriftWindowEnd", "Value": "2026-11-19T00:00:00.000Z"},
    ]


# -- the champion and the whole plan step ------------------------------------------------------


class FakeEndpoints:
    """records.ServingEndpoints over a dictionary of endpoint name -> package served."""

    def __init__(self, served: Mapping[str, str | None]) -> None:
        self._served = served
        self.described: list[tuple[str, str]] = []

    def describe(self, name: str, variant: str) -> Endpoint:
        self.described.append((name, variant))
        if name not in self._served:
            return Endpoint(name=name, exists=False)
        return Endpoint(name=name, exists=True, config="c", package_arn=self._served[name])


class FakePackages:
    """records.Packages over a dictionary of package ARN -> ModelDataUrl."""

    def __init__(self, model_data: Mapping[str, str | None]) -> None:
        self._model_data = model_data

    def describe(self, package_arn: str) -> Package:
        return Package(
            package_arn, "taxi-fare", 2, "Approved", model_data_url=self._model_data[package_arn]
        )


@pytest.mark.parametrize(
    ("served", "model_data", "champion"),
    [
        pytest.param({}, {}, ServedModel(), id="no-prod-endpoint-yet"),
        pytest.param({"taxi-fare-prod": None}, {}, ServedModel(), id="model-not-from-a-package"),
        pytest.param(
            {"taxi-fare-prod": CHAMPION_PACKAGE},
            {CHAMPION_PACKAGE: CHAMPION_DATA},
            CHAMPION,
            id="package-with-model-data",
        ),
        pytest.param(
            {"taxi-fare-prod": CHAMPION_PACKAGE},
            {CHAMPION_PACKAGE: None},
            ServedModel(CHAMPION_PACKAGE, ""),
            id="package-without-model-data",
        ),
    ],
)
def test_the_champion_is_the_package_the_prod_variant_serves(
    served: Mapping[str, str | None],
    model_data: Mapping[str, str | None],
    champion: ServedModel,
) -> None:
    endpoints = FakeEndpoints(served)

    assert champion_of(TAXI, endpoints, FakePackages(model_data), NoChampions()) == champion
    assert endpoints.described == [("taxi-fare-prod", "AllTraffic")]


class NoChampions:
    """retrain.steps.Champions with nothing recorded (or one champion, for every model)."""

    def __init__(self, recorded: Champion | None = None) -> None:
        self.recorded = recorded

    def champion(self, model: str) -> Champion | None:
        return self.recorded


def test_a_batch_models_champion_is_the_one_recorded_at_its_approval() -> None:
    scorer = with_scorer().model("scorer")
    endpoints, packages = FakeEndpoints({}), FakePackages({CHAMPION_PACKAGE: CHAMPION_DATA})

    recorded = NoChampions(Champion(CHAMPION_PACKAGE, 3))
    assert champion_of(scorer, endpoints, packages, recorded) == CHAMPION
    assert champion_of(scorer, endpoints, packages, NoChampions()) == ServedModel()
    assert endpoints.described == []  # no endpoint serves a batch model


class FakeObjects:
    """dataset.DatasetObjects over a dictionary of bucket -> keys; keeps what was written."""

    def __init__(self, objects: Mapping[str, list[str]]) -> None:
        self._objects = objects
        self.written: dict[str, Any] = {}

    def list(
        self, bucket: str, prefixes: Sequence[str], suffix: str = ".jsonl"
    ) -> list[CaptureObject]:
        keys = self._objects.get(bucket, [])
        return [
            CaptureObject(k, 1)
            for k in sorted(keys)
            if k.endswith(suffix) and any(k.startswith(p) for p in prefixes)
        ]

    def write_json(self, uri: str, document: Any) -> str:
        self.written[uri] = json.loads(json.dumps(document))
        return uri


def test_the_plan_step_writes_the_manifest_and_passes_it_with_the_champion() -> None:
    # Given an hour of captured requests in the window and their labels an hour later
    capture = "modelfresh/data-capture/taxi-fare-prod/AllTraffic/2019/10/02/09/a.jsonl"
    truth = "modelfresh/ground-truth/taxi-fare/2019/10/02/10/b.jsonl"
    objects = FakeObjects({"modelfresh-artifacts": [capture, truth]})
    locations = DataLocations(
        capture_uri="s3://modelfresh-artifacts/modelfresh/data-capture",
        ground_truth_uri="s3://modelfresh-artifacts/modelfresh/ground-truth",
        datasets_uri="s3://modelfresh-artifacts/drift-datasets",
        data_bucket="modelfresh-data",
    )

    # When the run is planned a day after the window (all its labels are in)
    planned = prepare_retrain(
        TAXI,
        drift_signal(),
        RUN,
        heartbeat_seconds=600,
        now=datetime(2019, 10, 3, 17, 0, tzinfo=UTC),
        locations=locations,
        objects=objects,
        endpoints=FakeEndpoints({"taxi-fare-prod": CHAMPION_PACKAGE}),
        packages=FakePackages({CHAMPION_PACKAGE: CHAMPION_DATA}),
        champions=NoChampions(),
    )

    # Then the manifest is written where the pipeline is told to read it
    values = parameters(planned)
    assert list(objects.written) == [MANIFEST] == [values["DriftDataset"]]
    assert objects.written[MANIFEST] == {
        "version": 1,
        "model": "taxi-fare",
        "window": {"start": "2019-10-01T17:04:40.989Z", "end": "2019-10-02T17:04:40.989Z"},
        "capture": {"bucket": "modelfresh-artifacts", "keys": [capture]},
        "groundTruth": {"bucket": "modelfresh-artifacts", "keys": [truth]},
        "notes": [],
    }
    assert planned["dataset"] == {
        "manifest": MANIFEST,
        "captureObjects": 1,
        "groundTruthObjects": 1,
        "notes": [],
    }
    assert (values["ChampionModelPackageArn"], values["ChampionModelData"]) == (
        CHAMPION_PACKAGE,
        CHAMPION_DATA,
    )


# -- evaluate_candidate ------------------------------------------------------------------------


class FakeRegistry:
    """retrain.Registry over dictionaries."""

    def __init__(
        self, candidates: Mapping[str, str], packages: Mapping[str, tuple[str, str | None]]
    ) -> None:
        self._candidates = candidates
        self._packages = packages

    def candidate_of(self, pipeline_execution_arn: str) -> str:
        try:
            return self._candidates[pipeline_execution_arn]
        except KeyError:
            raise CandidateNotFound(f"{pipeline_execution_arn} registered nothing") from None

    def package(self, package_arn: str) -> tuple[str, str | None]:
        return self._packages[package_arn]


class FakeReports:
    """retrain.Reports over a dictionary; remembers what was read."""

    def __init__(self, documents: Mapping[str, Mapping[str, Any]]) -> None:
        self._documents = documents
        self.read: list[str] = []

    def read_json(self, uri: str) -> Mapping[str, Any]:
        self.read.append(uri)
        return self._documents[uri]


GOOD_REPORT = {
    "regression_metrics": {"rmse": {"value": 3.1}},
    "champion": {"regression_metrics": {"rmse": {"value": 3.4}}},
}


def evaluate(registry: FakeRegistry, reports: FakeReports, approval: str = "auto") -> Any:
    request = CandidateRequest(
        run=RUN,
        pipeline_execution_arn=EXECUTION,
        package_group="taxi-fare",
        gate=Gate("rmse", 4.0, "minimize", champion_margin=0.05),
        approval=approval,  # type: ignore[arg-type]
        signal=drift_signal(),
        drift_window=WINDOW,
    )
    return evaluate_candidate(request, registry=registry, reports=reports)


def test_candidate_of_the_pipeline_is_judged_on_its_report() -> None:
    # Given a pipeline execution that registered one package, with a good report
    registry = FakeRegistry({EXECUTION: PACKAGE}, {PACKAGE: ("taxi-fare", REPORT_URI)})
    reports = FakeReports({REPORT_URI: GOOD_REPORT})

    # When it is evaluated
    verdict = evaluate(registry, reports)

    # Then the verdict is about that package and that report
    assert reports.read == [REPORT_URI]
    assert verdict["model_package_arn"] == PACKAGE
    assert (verdict["passed"], verdict["status"]) == (True, "Approved")
    assert (verdict["candidate"], verdict["champion"]) == (3.1, 3.4)
    assert verdict["description"].startswith(f"Approved by the gate (modelfresh run {RUN}): ")
    # and it says what to write on the candidate: why the run was started, over which window
    assert verdict["metadata"]["modelfresh:run"] == RUN
    assert verdict["metadata"]["modelfresh:trigger"] == "drift-alarm"
    assert verdict["metadata"]["modelfresh:window"] == f"{WINDOW['start']} .. {WINDOW['end']}"


def test_candidate_registered_in_another_group_is_not_found() -> None:
    registry = FakeRegistry({EXECUTION: PACKAGE}, {PACKAGE: ("churn", REPORT_URI)})
    reports = FakeReports({REPORT_URI: GOOD_REPORT})

    with pytest.raises(CandidateNotFound) as raised:
        evaluate(registry, reports)

    assert str(raised.value) == (
        f"{PACKAGE} was registered in group 'churn', not the model's 'taxi-fare'"
    )
    assert reports.read == []


def test_pipeline_that_registered_nothing_is_a_missing_candidate() -> None:
    registry = FakeRegistry({}, {})

    with pytest.raises(CandidateNotFound):
        evaluate(registry, FakeReports({}))


def test_candidate_without_a_report_uri_has_an_invalid_report() -> None:
    registry = FakeRegistry({EXECUTION: PACKAGE}, {PACKAGE: ("taxi-fare", None)})
    reports = FakeReports({})

    with pytest.raises(EvaluationReportInvalid) as raised:
        evaluate(registry, reports)

    assert str(raised.value) == f"{PACKAGE} has no ModelMetrics.ModelQuality.Statistics"
    assert reports.read == []


def test_report_without_the_gate_metric_is_invalid() -> None:
    registry = FakeRegistry({EXECUTION: PACKAGE}, {PACKAGE: ("taxi-fare", REPORT_URI)})
    reports = FakeReports({REPORT_URI: {"regression_metrics": {"mae": {"value": 2.0}}}})

    with pytest.raises(EvaluationReportInvalid) as raised:
        evaluate(registry, reports)

    assert str(raised.value) == (
        "the evaluation report has no finite value for 'rmse' (regression_metrics)"
    )


# -- run_outcome -------------------------------------------------------------------------------

CONTEXT = {"pipelineExecutionArn": EXECUTION, "driftWindow": {"start": "s", "end": "e"}}


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        ("Approved", "approved"),
        ("Rejected", "rejected"),
        ("PendingManualApproval", "pending-approval"),
    ],
)
def test_run_that_reached_a_verdict_ends_with_its_outcome(status: str, kind: str) -> None:
    verdict = {"status": status, "description": f"{status} by the gate (modelfresh run {RUN})"}

    outcome = run_outcome(model="taxi-fare", run=RUN, at=AT, verdict=verdict, context=CONTEXT)

    assert outcome.kind == kind
    assert (outcome.model, outcome.run, outcome.at) == ("taxi-fare", RUN, AT)
    assert outcome.summary == verdict["description"]
    assert outcome.detail == {**CONTEXT, "verdict": verdict}


LAMBDA_CAUSE = json.dumps(
    {
        "errorMessage": "no model named 'taxi' in the configuration",
        "errorType": "UnknownModel",
        "requestId": "0f8a3c1e-2d4b-4e6f-8a9b-1c2d3e4f5a6b",
        "stackTrace": [
            '  File "/var/task/app.py", line 21, in lambda_handler\n',
            '    model = container.config.model(require(event, "model", str))\n',
        ],
    }
)


@pytest.mark.parametrize(
    ("failure", "summary"),
    [
        pytest.param(
            {"Error": "UnknownModel", "Cause": LAMBDA_CAUSE},
            "The retrain failed with UnknownModel: no model named 'taxi' in the configuration",
            id="lambda-error",
        ),
        pytest.param(
            {
                "Error": "PipelineExecutionFailed",
                "Cause": f"pipeline execution {EXECUTION} failed: AlgorithmError: diverged",
            },
            "The retrain failed with PipelineExecutionFailed: "
            f"pipeline execution {EXECUTION} failed: AlgorithmError: diverged",
            id="plain-cause",
        ),
        pytest.param(
            {"Error": "States.HeartbeatTimeout"},
            "The retrain failed with States.HeartbeatTimeout.",
            id="no-cause",
        ),
        pytest.param(
            {"Error": "States.Timeout", "Cause": ""},
            "The retrain failed with States.Timeout.",
            id="empty-cause",
        ),
        pytest.param(
            {"Cause": "something broke"},
            "The retrain failed with States.Runtime: something broke",
            id="no-error-name",
        ),
        pytest.param(
            {"Error": "States.TaskFailed", "Cause": json.dumps({"Cause": "nested cause"})},
            "The retrain failed with States.TaskFailed: nested cause",
            id="json-cause-field",
        ),
    ],
)
def test_failed_run_ends_with_a_readable_summary(failure: dict[str, str], summary: str) -> None:
    outcome = run_outcome(model="taxi-fare", run=RUN, at=AT, failure=failure, context=CONTEXT)

    assert outcome.kind == "failed"
    assert outcome.summary == summary
    assert outcome.detail == {**CONTEXT, "error": failure.get("Error", "States.Runtime")}


def test_failure_summary_never_carries_the_stack_trace() -> None:
    failure = {"Error": "UnknownModel", "Cause": LAMBDA_CAUSE}

    outcome = run_outcome(model="taxi-fare", run=RUN, at=AT, failure=failure)

    assert "stackTrace" not in outcome.summary
    assert "/var/task/app.py" not in outcome.summary
    assert "0f8a3c1e" not in outcome.summary


def test_long_failure_cause_is_cut_to_500_characters() -> None:
    failure = {"Error": "PipelineExecutionFailed", "Cause": "x" * 5000}

    outcome = run_outcome(model="taxi-fare", run=RUN, at=AT, failure=failure)

    assert outcome.summary == "The retrain failed with PipelineExecutionFailed: " + "x" * 500


def test_failure_wins_over_a_verdict() -> None:
    verdict = {"status": "Approved", "description": "Approved by the gate"}

    outcome = run_outcome(
        model="taxi-fare", run=RUN, at=AT, verdict=verdict, failure={"Error": "LeaseLost"}
    )

    assert outcome.kind == "failed"


def test_run_without_verdict_or_failure_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="a run ends with a verdict or a failure"):
        run_outcome(model="taxi-fare", run=RUN, at=AT)
