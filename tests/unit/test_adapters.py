"""The AWS adapters on real boto3 clients with botocore's Stubber: every request shape is
pinned exactly, and every AWS error is turned into the domain result the code promises.

The Stubber fails a test on any request that differs from the expected parameters, and the
`stub` fixture fails it if a stubbed request was never made, so a test whose "then" is the
request itself needs no further assert."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from modelfresh.aws.callbacks import DynamoCallbackStore, StepFunctionsTaskTokens
from modelfresh.aws.executions import StepFunctionsExecutions
from modelfresh.aws.notifications import DynamoAuditLog, SnsNotifier
from modelfresh.aws.sagemaker import ModelRegistry, S3Reports, SageMakerPipelines
from modelfresh.core.errors import CandidateNotFound, EvaluationReportInvalid
from modelfresh.core.outcomes import Outcome
from modelfresh.retrain.callbacks import Callback
from modelfresh.retrain.runs import Ticket
from modelfresh.retrain.signals import Signal

ACCOUNT = "123456789012"
EXECUTION = (
    f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:pipeline/taxi-fare-retrain/execution/p4jn9xou8a8s"
)
PACKAGE = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model-package/taxi-fare/3"
OTHER_PACKAGE = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model-package/taxi-fare/4"
REPORT_URI = "s3://modelfresh-artifacts/taxi-fare/p4jn/evaluation.json"
STATE_MACHINE = f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:modelfresh-retrain"
TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:modelfresh-notifications"
RUN = "taxi-fare-drift-20261122T1000-0123456789"
AT = "2026-11-22T10:00:00.000Z"
TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAVs3cR+task-token+9xKq/w=="
STARTED = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)

Stub = Callable[[str], tuple[Any, Stubber]]


# Fake credentials, and no local AWS configuration that could change the requests.
pytestmark = pytest.mark.usefixtures("offline_aws")


@pytest.fixture
def stub() -> Iterator[Stub]:
    """A real boto3 client with an active Stubber; every stubbed call must have been made."""
    stubbers: list[Stubber] = []

    def make(service: str) -> tuple[Any, Stubber]:
        client = boto3.session.Session().client(service, region_name="us-east-1")  # type: ignore[call-overload]
        stubber = Stubber(client)
        stubber.activate()
        stubbers.append(stubber)
        return client, stubber

    yield make
    for stubber in stubbers:
        stubber.assert_no_pending_responses()
        stubber.deactivate()


# -- SageMakerPipelines ------------------------------------------------------------------------


def step(name: str, status: str, package: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"StepName": name, "StepStatus": status}
    if package:
        found["Metadata"] = {"RegisterModel": {"Arn": package}}
    return found


def test_executing_runs_of_a_pipeline_are_found_by_their_display_name(stub: Stub) -> None:
    client, stubber = stub("sagemaker")
    since = datetime(2026, 11, 20, tzinfo=UTC)

    def summary(arn: str, name: str, status: str) -> dict[str, Any]:
        return {
            "PipelineExecutionArn": arn,
            "PipelineExecutionDisplayName": name,
            "PipelineExecutionStatus": status,
        }

    stubber.add_response(
        "list_pipeline_executions",
        {
            "PipelineExecutionSummaries": [
                summary(EXECUTION, "the-run", "Executing"),
                summary(EXECUTION + "x", "the-run", "Succeeded"),
                summary(EXECUTION + "y", "another-run", "Executing"),
            ]
        },
        {
            "PipelineName": "taxi-fare-retrain",
            "CreatedAfter": since,
            "SortBy": "CreationTime",
            "SortOrder": "Descending",
        },
    )

    found = SageMakerPipelines(client).executing("taxi-fare-retrain", "the-run", since)

    assert found == [EXECUTION]


def test_stopping_an_execution_twice_is_the_same_request(stub: Stub) -> None:
    client, stubber = stub("sagemaker")
    token = hashlib.sha256(f"stop:{EXECUTION}".encode()).hexdigest()
    for _ in range(2):
        stubber.add_response(
            "stop_pipeline_execution",
            {"PipelineExecutionArn": EXECUTION},
            {"PipelineExecutionArn": EXECUTION, "ClientRequestToken": token},
        )

    SageMakerPipelines(client).stop(EXECUTION)
    SageMakerPipelines(client).stop(EXECUTION)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        pytest.param(
            {"PipelineExecutionStatus": "Failed", "FailureReason": "AlgorithmError: diverged"},
            ("Failed", "AlgorithmError: diverged"),
            id="failed",
        ),
        pytest.param({"PipelineExecutionStatus": "Succeeded"}, ("Succeeded", ""), id="succeeded"),
    ],
)
def test_pipeline_status_is_the_status_and_failure_reason(
    stub: Stub, response: dict[str, Any], expected: tuple[str, str]
) -> None:
    client, stubber = stub("sagemaker")
    stubber.add_response(
        "describe_pipeline_execution", response, {"PipelineExecutionArn": EXECUTION}
    )

    assert SageMakerPipelines(client).status(EXECUTION) == expected


def test_candidate_is_the_package_of_the_one_succeeded_register_model_step(stub: Stub) -> None:
    # Given the execution's steps on two pages, one of them a succeeded RegisterModel step
    client, stubber = stub("sagemaker")
    stubber.add_response(
        "list_pipeline_execution_steps",
        {
            "PipelineExecutionSteps": [step("Evaluate", "Succeeded"), step("Train", "Succeeded")],
            "NextToken": "page-2",
        },
        {"PipelineExecutionArn": EXECUTION},
    )
    stubber.add_response(
        "list_pipeline_execution_steps",
        {"PipelineExecutionSteps": [step("RegisterCandidate", "Succeeded", PACKAGE)]},
        {"PipelineExecutionArn": EXECUTION, "NextToken": "page-2"},
    )

    # Then its package is the candidate
    assert SageMakerPipelines(client).candidate_of(EXECUTION) == PACKAGE


@pytest.mark.parametrize(
    ("steps", "count"),
    [
        pytest.param([step("Train", "Succeeded")], 0, id="no-register-step"),
        pytest.param([step("RegisterCandidate", "Failed", PACKAGE)], 0, id="register-failed"),
        pytest.param(
            [
                step("RegisterCandidate", "Succeeded", PACKAGE),
                step("RegisterShadow", "Succeeded", OTHER_PACKAGE),
            ],
            2,
            id="two-packages",
        ),
    ],
)
def test_pipeline_without_exactly_one_registered_package_has_no_candidate(
    stub: Stub, steps: list[dict[str, Any]], count: int
) -> None:
    client, stubber = stub("sagemaker")
    stubber.add_response(
        "list_pipeline_execution_steps",
        {"PipelineExecutionSteps": steps},
        {"PipelineExecutionArn": EXECUTION},
    )

    with pytest.raises(CandidateNotFound) as raised:
        SageMakerPipelines(client).candidate_of(EXECUTION)

    assert str(raised.value) == (
        f"pipeline execution {EXECUTION} registered {count} model packages; "
        "the gate needs exactly one"
    )


def described_package(**extra: Any) -> dict[str, Any]:
    return {
        "ModelPackageName": "taxi-fare",
        "ModelPackageArn": PACKAGE,
        "CreationTime": STARTED,
        "ModelPackageStatus": "Completed",
        "ModelPackageStatusDetails": {"ValidationStatuses": []},
        **extra,
    }


def test_package_gives_its_group_and_evaluation_report_uri(stub: Stub) -> None:
    client, stubber = stub("sagemaker")
    stubber.add_response(
        "describe_model_package",
        described_package(
            ModelPackageGroupName="taxi-fare",
            ModelMetrics={
                "ModelQuality": {
                    "Statistics": {"ContentType": "application/json", "S3Uri": REPORT_URI}
                }
            },
        ),
        {"ModelPackageName": PACKAGE},
    )

    assert SageMakerPipelines(client).package(PACKAGE) == ("taxi-fare", REPORT_URI)


def test_package_without_model_metrics_has_no_report_uri(stub: Stub) -> None:
    client, stubber = stub("sagemaker")
    stubber.add_response(
        "describe_model_package",
        described_package(ModelPackageGroupName="taxi-fare"),
        {"ModelPackageName": PACKAGE},
    )

    assert SageMakerPipelines(client).package(PACKAGE) == ("taxi-fare", None)


# -- ModelRegistry -----------------------------------------------------------------------------

MODEL_DATA = "s3://modelfresh-artifacts/taxi-fare-retrain/p4jn/model/model.tar.gz"


def test_a_packages_status_is_set_with_why_cut_to_the_registrys_limit(stub: Stub) -> None:
    client, stubber = stub("sagemaker")
    why = "Not promoted (expired, run r): " + "x" * 2000
    stubber.add_response(
        "update_model_package",
        {"ModelPackageArn": PACKAGE},
        {
            "ModelPackageArn": PACKAGE,
            "ModelApprovalStatus": "Rejected",
            "ApprovalDescription": why[:1024],
        },
    )

    ModelRegistry(client).set_status(PACKAGE, "Rejected", why)


def test_a_packages_model_data_is_its_first_containers_model_data_url(stub: Stub) -> None:
    client, stubber = stub("sagemaker")
    stubber.add_response(
        "describe_model_package",
        described_package(
            ModelPackageGroupName="taxi-fare",
            ModelApprovalStatus="Approved",
            ModelPackageVersion=3,
            InferenceSpecification={
                "Containers": [{"Image": "xgboost:1.7-1", "ModelDataUrl": MODEL_DATA}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        ),
        {"ModelPackageName": PACKAGE},
    )

    package = ModelRegistry(client).describe(PACKAGE)

    assert (package.arn, package.version, package.model_data_url) == (PACKAGE, 3, MODEL_DATA)


def test_a_package_without_an_inference_specification_has_no_model_data(stub: Stub) -> None:
    client, stubber = stub("sagemaker")
    stubber.add_response(
        "describe_model_package",
        described_package(ModelPackageGroupName="taxi-fare"),
        {"ModelPackageName": PACKAGE},
    )

    assert ModelRegistry(client).describe(PACKAGE).model_data_url is None


# -- S3Reports ---------------------------------------------------------------------------------

REPORT_REQUEST = {
    "Bucket": "modelfresh-artifacts",
    "Key": "taxi-fare/p4jn/evaluation.json",
    "Range": "bytes=0-1000000",
}


def body(raw: bytes) -> dict[str, Any]:
    return {"Body": StreamingBody(io.BytesIO(raw), len(raw))}


def test_report_is_read_from_its_s3_uri(stub: Stub) -> None:
    client, stubber = stub("s3")
    report = {"regression_metrics": {"rmse": {"value": 3.1}}}
    stubber.add_response("get_object", body(json.dumps(report).encode()), REPORT_REQUEST)

    assert S3Reports(client).read_json(REPORT_URI) == report


@pytest.mark.parametrize(
    "uri",
    [
        "https://modelfresh-artifacts.s3.amazonaws.com/evaluation.json",
        "s3://modelfresh-artifacts",
        "s3://modelfresh-artifacts/",
        "s3:///evaluation.json",
        "",
    ],
)
def test_uri_that_is_not_an_s3_object_is_an_invalid_report(stub: Stub, uri: str) -> None:
    client, _ = stub("s3")  # no response stubbed: any request would fail the test

    with pytest.raises(EvaluationReportInvalid) as raised:
        S3Reports(client).read_json(uri)

    assert str(raised.value) == f"not an s3:// object URI: {uri!r}"


@pytest.mark.parametrize(("code", "status"), [("NoSuchKey", 404), ("AccessDenied", 403)])
def test_report_that_cannot_be_read_is_invalid_and_says_why(
    stub: Stub, code: str, status: int
) -> None:
    client, stubber = stub("s3")
    stubber.add_client_error(
        "get_object",
        service_error_code=code,
        http_status_code=status,
        expected_params=REPORT_REQUEST,
    )

    with pytest.raises(EvaluationReportInvalid) as raised:
        S3Reports(client).read_json(REPORT_URI)

    assert str(raised.value) == f"cannot read {REPORT_URI}: {code}"


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        pytest.param(b"rmse,3.1\n", "is not JSON", id="csv"),
        pytest.param(b"\xff\xfe\x00", "is not JSON", id="not-utf8"),
        pytest.param(b'[{"rmse": 3.1}]', "is not a JSON object", id="list"),
        pytest.param(b'"rmse"', "is not a JSON object", id="string"),
        pytest.param(b" " * 1_000_001, "is larger than 1000000 bytes", id="too-large"),
    ],
)
def test_object_that_is_not_a_json_report_is_invalid(stub: Stub, raw: bytes, problem: str) -> None:
    client, stubber = stub("s3")
    stubber.add_response("get_object", body(raw), REPORT_REQUEST)

    with pytest.raises(EvaluationReportInvalid) as raised:
        S3Reports(client).read_json(REPORT_URI)

    assert str(raised.value) == f"{REPORT_URI} {problem}"


# -- StepFunctionsTaskTokens -------------------------------------------------------------------

SUCCESS_OUTPUT = {"pipelineExecutionArn": EXECUTION, "status": "Succeeded"}
TOKEN_CALLS: dict[str, tuple[Callable[[StepFunctionsTaskTokens], bool], str, dict[str, str]]] = {
    "succeed": (
        lambda tokens: tokens.succeed(TOKEN, SUCCESS_OUTPUT),
        "send_task_success",
        {
            "taskToken": TOKEN,
            "output": f'{{"pipelineExecutionArn": "{EXECUTION}", "status": "Succeeded"}}',
        },
    ),
    "fail": (
        lambda tokens: tokens.fail(TOKEN, "PipelineExecutionFailed", "pipeline failed: boom"),
        "send_task_failure",
        {"taskToken": TOKEN, "error": "PipelineExecutionFailed", "cause": "pipeline failed: boom"},
    ),
    "heartbeat": (
        lambda tokens: tokens.heartbeat(TOKEN),
        "send_task_heartbeat",
        {"taskToken": TOKEN},
    ),
}


@pytest.mark.parametrize("call", list(TOKEN_CALLS))
def test_token_call_sends_exactly_the_token_and_its_payload(stub: Stub, call: str) -> None:
    client, stubber = stub("stepfunctions")
    method, operation, params = TOKEN_CALLS[call]
    stubber.add_response(operation, {}, params)

    assert method(StepFunctionsTaskTokens(client)) is True


@pytest.mark.parametrize("code", ["InvalidToken", "TaskTimedOut", "TaskDoesNotExist"])
@pytest.mark.parametrize("call", list(TOKEN_CALLS))
def test_spent_token_is_a_false_result_not_an_error(stub: Stub, call: str, code: str) -> None:
    client, stubber = stub("stepfunctions")
    method, operation, params = TOKEN_CALLS[call]
    stubber.add_client_error(operation, service_error_code=code, expected_params=params)

    assert method(StepFunctionsTaskTokens(client)) is False


@pytest.mark.parametrize("call", list(TOKEN_CALLS))
def test_other_step_functions_errors_are_raised(stub: Stub, call: str) -> None:
    client, stubber = stub("stepfunctions")
    method, operation, params = TOKEN_CALLS[call]
    stubber.add_client_error(
        operation,
        service_error_code="ThrottlingException",
        http_status_code=400,
        expected_params=params,
    )

    with pytest.raises(ClientError) as raised:
        method(StepFunctionsTaskTokens(client))

    assert raised.value.response["Error"]["Code"] == "ThrottlingException"


# -- StepFunctionsExecutions -------------------------------------------------------------------

EXECUTION_ARN = f"arn:aws:states:us-east-1:{ACCOUNT}:execution:modelfresh-retrain:{RUN}"
SIGNAL = Signal(
    model="taxi-fare",
    kind="schedule",
    id="schedule/taxi-fare/2026-11-19T00:00:00.000Z",
    at="2026-11-19T00:00:00.000Z",
    source="rule",
    detail={"schedule": "rate(7 days)"},
)
TICKET = Ticket(model="taxi-fare", run=RUN, signal=SIGNAL, expires_at=1_900_000_000)
START_REQUEST = {
    "stateMachineArn": STATE_MACHINE,
    "name": RUN,
    "input": (
        '{"model": "taxi-fare", "signal": {"at": "2026-11-19T00:00:00.000Z", '
        '"detail": {"schedule": "rate(7 days)"}, '
        '"id": "schedule/taxi-fare/2026-11-19T00:00:00.000Z", '
        '"kind": "schedule", "model": "taxi-fare", "source": "rule"}}'
    ),
}


def test_start_names_the_execution_after_the_run_and_passes_the_signal(stub: Stub) -> None:
    client, stubber = stub("stepfunctions")
    stubber.add_response(
        "start_execution", {"executionArn": EXECUTION_ARN, "startDate": STARTED}, START_REQUEST
    )

    StepFunctionsExecutions(client, STATE_MACHINE).start(TICKET)


def test_starting_a_run_that_already_exists_is_a_no_op(stub: Stub) -> None:
    client, stubber = stub("stepfunctions")
    stubber.add_client_error(
        "start_execution",
        service_error_code="ExecutionAlreadyExists",
        expected_params=START_REQUEST,
    )

    StepFunctionsExecutions(client, STATE_MACHINE).start(TICKET)  # does not raise


def test_other_start_errors_are_raised(stub: Stub) -> None:
    client, stubber = stub("stepfunctions")
    stubber.add_client_error(
        "start_execution",
        service_error_code="ExecutionLimitExceeded",
        expected_params=START_REQUEST,
    )

    with pytest.raises(client.exceptions.ExecutionLimitExceeded):
        StepFunctionsExecutions(client, STATE_MACHINE).start(TICKET)


def test_running_runs_are_listed_by_name_prefix_across_pages(stub: Stub) -> None:
    client, stubber = stub("stepfunctions")
    request = {"stateMachineArn": STATE_MACHINE, "statusFilter": "RUNNING"}

    def execution(name: str) -> dict[str, Any]:
        return {
            "executionArn": f"{EXECUTION_ARN}-{name}", "stateMachineArn": STATE_MACHINE,
            "name": name, "status": "RUNNING", "startDate": STARTED,
        }  # fmt: skip

    stubber.add_response(
        "list_executions",
        {"executions": [execution("taxi-fare-deploy-v3-aa"), execution("taxi-fare-deploy-v30-bb")],
         "nextToken": "page-2"},
        request,
    )  # fmt: skip
    stubber.add_response(
        "list_executions",
        {"executions": [execution("taxi-fare-deploy-v3-cc")]},
        request | {"nextToken": "page-2"},
    )

    found = StepFunctionsExecutions(client, STATE_MACHINE).running("taxi-fare-deploy-v3-")

    assert found == ["taxi-fare-deploy-v3-aa", "taxi-fare-deploy-v3-cc"]


def test_execution_arn_is_the_documented_form_for_a_named_execution() -> None:
    executions = StepFunctionsExecutions(client=None, state_machine_arn=STATE_MACHINE)  # type: ignore[arg-type]

    assert executions.execution_arn(RUN) == EXECUTION_ARN


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        pytest.param({"status": "RUNNING"}, ("RUNNING", None), id="running"),
        pytest.param(
            {"status": "SUCCEEDED", "stopDate": datetime(2026, 11, 22, 11, 0, tzinfo=UTC)},
            ("SUCCEEDED", datetime(2026, 11, 22, 11, 0, tzinfo=UTC)),
            id="ended",
        ),
    ],
)
def test_status_of_a_run_is_its_execution_status_and_stop_date(
    stub: Stub, extra: dict[str, Any], expected: tuple[str, datetime | None]
) -> None:
    client, stubber = stub("stepfunctions")
    stubber.add_response(
        "describe_execution",
        {"executionArn": EXECUTION_ARN, "stateMachineArn": STATE_MACHINE, "startDate": STARTED}
        | extra,
        {"executionArn": EXECUTION_ARN},
    )

    assert StepFunctionsExecutions(client, STATE_MACHINE).status(RUN) == expected


def test_status_of_a_run_that_never_started_is_none(stub: Stub) -> None:
    client, stubber = stub("stepfunctions")
    stubber.add_client_error(
        "describe_execution",
        service_error_code="ExecutionDoesNotExist",
        expected_params={"executionArn": EXECUTION_ARN},
    )

    assert StepFunctionsExecutions(client, STATE_MACHINE).status(RUN) is None


# -- SnsNotifier and DynamoAuditLog ------------------------------------------------------------

OUTCOME = Outcome(
    model="taxi-fare",
    kind="approved",
    run=RUN,
    at=AT,
    summary="Approved by the gate",
    detail={"verdict": {"status": "Approved"}},
)


def test_outcome_is_published_as_text_for_email_and_json_for_systems(stub: Stub) -> None:
    client, stubber = stub("sns")
    default = (
        f'{{"model": "taxi-fare", "kind": "approved", "run": "{RUN}", "at": "{AT}", '
        '"summary": "Approved by the gate", "detail": {"verdict": {"status": "Approved"}}}'
    )
    email = (
        "taxi-fare: candidate approved\n\nApproved by the gate\n\n"
        f"Run:   {RUN}\nWhen:  {AT}\n\n"
        'Details:\n{\n  "verdict": {\n    "status": "Approved"\n  }\n}'
    )
    stubber.add_response(
        "publish",
        {"MessageId": "m-1"},
        {
            "TopicArn": TOPIC,
            "Subject": "[modelfresh] taxi-fare: candidate approved",
            "MessageStructure": "json",
            "Message": json.dumps({"default": default, "email": email}),
            "MessageAttributes": {
                "model": {"DataType": "String", "StringValue": "taxi-fare"},
                "outcome": {"DataType": "String", "StringValue": "approved"},
            },
        },
    )

    SnsNotifier(client, TOPIC).publish(OUTCOME)


def test_subject_is_cut_below_snss_100_characters(stub: Stub) -> None:
    # Given the longest model name and the longest outcome title
    model = "m" * 40
    outcome = Outcome(model=model, kind="coalesced", run=RUN, at=AT, summary="queued")
    # Then SNS gets the subject cut to 99 characters ("less than 100 characters long")
    subject = f"[modelfresh] {model}: retrain requested while one runs: queued as "
    assert len(subject) == 99
    client, stubber = stub("sns")
    stubber.add_response(
        "publish",
        {"MessageId": "m-1"},
        {
            "TopicArn": TOPIC,
            "Subject": subject,
            "MessageStructure": "json",
            "Message": ANY,
            "MessageAttributes": {
                "model": {"DataType": "String", "StringValue": model},
                "outcome": {"DataType": "String", "StringValue": "coalesced"},
            },
        },
    )

    SnsNotifier(client, TOPIC).publish(outcome)


def test_audit_item_is_keyed_by_model_and_time_run_kind(stub: Stub) -> None:
    client, stubber = stub("dynamodb")
    outcome = Outcome(
        model="taxi-fare",
        kind="failed",
        run=RUN,
        at=AT,
        summary="The retrain failed with LeaseLost.",
        detail={"error": "LeaseLost", "at": datetime(2026, 11, 22, 10, 0, tzinfo=UTC)},
    )
    stubber.add_response(
        "put_item",
        {},
        {
            "TableName": "modelfresh-audit",
            "Item": {
                "model": {"S": "taxi-fare"},
                "entry": {"S": f"{AT}#{RUN}#failed"},
                "kind": {"S": "failed"},
                "run": {"S": RUN},
                "at": {"S": AT},
                "summary": {"S": "The retrain failed with LeaseLost."},
                "detail": {"S": '{"at": "2026-11-22 10:00:00+00:00", "error": "LeaseLost"}'},
            },
        },
    )

    DynamoAuditLog(client, "modelfresh-audit").write(outcome)


# -- DynamoCallbackStore -----------------------------------------------------------------------

CALLBACKS_TABLE = "modelfresh-callbacks"
CALLBACK = Callback(pipeline_execution_arn=EXECUTION, task_token=TOKEN, model="taxi-fare", run=RUN)
WAITING_ITEM = {
    "pipeline_execution_arn": {"S": EXECUTION},
    "task_token": {"S": TOKEN},
    "model": {"S": "taxi-fare"},
    "run": {"S": RUN},
    "state": {"S": "waiting"},
    "expires_at": {"N": "1900000000"},
}


def test_parked_callback_is_stored_waiting_with_its_expiry(stub: Stub) -> None:
    client, stubber = stub("dynamodb")
    stubber.add_response("put_item", {}, {"TableName": CALLBACKS_TABLE, "Item": WAITING_ITEM})

    DynamoCallbackStore(client, CALLBACKS_TABLE).put(CALLBACK, 1_900_000_000)


def test_resuming_marks_the_callback_and_removes_its_token(stub: Stub) -> None:
    client, stubber = stub("dynamodb")
    stubber.add_response(
        "update_item",
        {},
        {
            "TableName": CALLBACKS_TABLE,
            "Key": {"pipeline_execution_arn": {"S": EXECUTION}},
            "UpdateExpression": "SET #state = :resumed REMOVE task_token",
            "ConditionExpression": "attribute_exists(pipeline_execution_arn)",
            "ExpressionAttributeNames": {"#state": "state"},
            "ExpressionAttributeValues": {":resumed": {"S": "resumed"}},
        },
    )

    DynamoCallbackStore(client, CALLBACKS_TABLE).mark_resumed(EXECUTION)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        pytest.param({"Item": WAITING_ITEM}, CALLBACK, id="waiting"),
        pytest.param(
            {
                "Item": {k: v for k, v in WAITING_ITEM.items() if k != "task_token"}
                | {"state": {"S": "resumed"}}
            },
            Callback(EXECUTION, "", "taxi-fare", RUN, waiting=False),
            id="resumed",
        ),
        pytest.param({}, None, id="absent"),
    ],
)
def test_callback_is_read_consistently_by_pipeline_execution(
    stub: Stub, response: dict[str, Any], expected: Callback | None
) -> None:
    client, stubber = stub("dynamodb")
    stubber.add_response(
        "get_item",
        response,
        {
            "TableName": CALLBACKS_TABLE,
            "Key": {"pipeline_execution_arn": {"S": EXECUTION}},
            "ConsistentRead": True,
        },
    )

    assert DynamoCallbackStore(client, CALLBACKS_TABLE).get(EXECUTION) == expected


def test_waiting_callbacks_are_scanned_across_pages(stub: Stub) -> None:
    # Given waiting callbacks on two pages of the scan
    client, stubber = stub("dynamodb")
    other = WAITING_ITEM | {"pipeline_execution_arn": {"S": f"{EXECUTION}-2"}}
    request = {
        "TableName": CALLBACKS_TABLE,
        "FilterExpression": "#state = :waiting",
        "ExpressionAttributeNames": {"#state": "state"},
        "ExpressionAttributeValues": {":waiting": {"S": "waiting"}},
        "ConsistentRead": True,
    }
    last_key = {"pipeline_execution_arn": {"S": EXECUTION}}
    stubber.add_response("scan", {"Items": [WAITING_ITEM], "LastEvaluatedKey": last_key}, request)
    stubber.add_response("scan", {"Items": [other]}, request | {"ExclusiveStartKey": last_key})

    waiting = DynamoCallbackStore(client, CALLBACKS_TABLE).waiting()

    assert waiting == [CALLBACK, Callback(f"{EXECUTION}-2", TOKEN, "taxi-fare", RUN)]
