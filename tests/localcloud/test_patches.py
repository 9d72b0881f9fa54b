"""Each local-cloud patch does what AWS does. Stock moto 5.2.5 fails these tests (except where a
test says it checks behaviour stock moto already has), so a moto upgrade that moves the
internals a patch relies on fails loudly in this file."""

from __future__ import annotations

import io
import json
import re
import sys
import textwrap
import threading
import time
import zipfile
from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from typing import Any

import moto
import pytest
from botocore.exceptions import ClientError

from localcloud import LocalCloud, patches

ROLE = "arn:aws:iam::123456789012:role/local"


def make_role(cloud: LocalCloud) -> None:
    """The role these tests' functions and state machines run as: it may do anything (IAM is
    tested in test_permissions.py; these tests are about the other patches)."""
    iam = cloud.client("iam")
    iam.create_role(RoleName="local", AssumeRolePolicyDocument="{}")
    anything = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    iam.put_role_policy(
        RoleName="local", PolicyName="anything", PolicyDocument=json.dumps(anything)
    )


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud() as local:
        make_role(local)
        yield local


def make_function(
    cloud: LocalCloud,
    tmp_path: Path,
    name: str,
    body: str,
    environment: dict[str, str] | None = None,
) -> str:
    """A Lambda function whose code is `body` (an app.py), run in-process. Returns its ARN."""
    source = tmp_path / name
    source.mkdir()
    (source / "app.py").write_text(textwrap.dedent(body))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("app.py", "")
    created = cloud.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": archive.getvalue()},
        Environment={"Variables": environment or {}},
    )
    patches.functions.register(name, source, "app.handler")
    return str(created["FunctionArn"])


def state_machine(cloud: LocalCloud, definition: dict[str, Any]) -> str:
    return str(
        cloud.client("stepfunctions").create_state_machine(
            name=f"sm-{time.monotonic_ns()}", definition=json.dumps(definition), roleArn=ROLE
        )["stateMachineArn"]
    )


def run(cloud: LocalCloud, machine: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    started = cloud.client("stepfunctions").start_execution(
        stateMachineArn=machine, name=f"run-{time.monotonic_ns()}", input=json.dumps(payload or {})
    )
    return cloud.wait_for_execution(started["executionArn"], timeout=20)


def queue(cloud: LocalCloud, name: str) -> tuple[str, str]:
    sqs = cloud.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


def test_moto_is_the_pinned_version() -> None:
    # The patches read moto's internals: upgrading moto means re-checking every one of them.
    assert moto.__version__ == "5.2.5"


def test_every_patch_is_installed(cloud: LocalCloud) -> None:
    assert patches.apply() == [
        "lambda_in_process", "events_to_lambda", "alarm_state_events", "cfn_state_machines",
        "cfn_missing_types", "sagemaker_api", "sagemaker_events",
        "heartbeat_timeout", "early_callback", "task_failure_cause", "atomic_dynamodb",
        "time_scale", "sagemaker_hosting", "api_faults", "service_error_names",
        "uncatchable_runtime", "cfn_json_templates", "parse_once", "execution_history_pages",
        "cfn_key_policy", "iam_enforced", "cfn_list_defaults", "service_models_once",
        "cfn_names_per_cloud", "sagemaker_transform", "sagemaker_sync", "nested_executions",
    ]  # fmt: skip


def test_the_index_lists_every_patch_in_order_with_its_module() -> None:
    # Given the index at the top of localcloud/patches
    index = re.findall(r"^ ?(\d+)\. (\w+) +(\w+)\.py ", patches.__doc__ or "", re.MULTILINE)

    # When it is read beside the patches apply() installs
    listed = [(int(number), name, f"localcloud.patches.{module}") for number, name, module in index]
    installed = [
        (n, patch.__name__, patch.__module__) for n, patch in enumerate(patches.PATCHES, 1)
    ]

    # Then it names each one, in order, where its code is, and each docstring has its number
    assert listed == installed
    assert [(patch.__doc__ or "").split(":")[0] for patch in patches.PATCHES] == [
        f"Patch {n}" for n in range(1, len(patches.PATCHES) + 1)
    ]


# ---------------------------------------------------------------------------- 1. Lambda


def test_lambda_runs_the_handler_in_process(cloud: LocalCloud, tmp_path: Path) -> None:
    make_function(
        cloud,
        tmp_path,
        "echo",
        "def handler(event, context):\n    return {'got': event, 'fn': context.function_name}\n",
    )

    answer = cloud.client("lambda").invoke(FunctionName="echo", Payload=json.dumps({"a": 1}))

    assert json.loads(answer["Payload"].read()) == {"got": {"a": 1}, "fn": "echo"}


def test_a_handler_exception_becomes_the_step_functions_error_name(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    arn = make_function(
        cloud,
        tmp_path,
        "boom",
        """
        class CandidateNotFound(Exception):
            pass

        def handler(event, context):
            raise CandidateNotFound("nothing registered")
    """,
    )
    machine = state_machine(cloud, {
        "StartAt": "Call", "States": {
            "Call": {"Type": "Task", "Resource": arn, "Catch": [{"ErrorEquals": ["CandidateNotFound"], "ResultPath": "$.caught", "Next": "Caught"}], "End": True},
            "Caught": {"Type": "Pass", "End": True},
        },
    })  # fmt: skip

    described = run(cloud, machine)

    assert described["status"] == "SUCCEEDED"
    caught = json.loads(described["output"])["caught"]
    assert caught["Error"] == "CandidateNotFound"
    assert json.loads(caught["Cause"])["errorMessage"] == "nothing registered"


def test_handler_log_lines_reach_the_functions_log_group(cloud: LocalCloud, tmp_path: Path) -> None:
    make_function(
        cloud,
        tmp_path,
        "talker",
        """
        from aws_lambda_powertools import Logger
        logger = Logger(service="talker")

        def handler(event, context):
            logger.info("hello from the handler")
            return {}
    """,
    )

    cloud.client("lambda").invoke(FunctionName="talker", Payload="{}")

    events = cloud.client("logs").filter_log_events(logGroupName="/aws/lambda/talker")["events"]
    assert [json.loads(e["message"])["message"] for e in events] == ["hello from the handler"]


def logging_function(
    cloud: LocalCloud, tmp_path: Path, name: str, service: str, then: str = "pass"
) -> str:
    """A function that logs as ours do (Powertools, built without a service name, clearing
    its state per invocation), appending the state it is given, then doing `then`."""
    return make_function(
        cloud,
        tmp_path,
        name,
        f"""
        import json, time
        import boto3
        from aws_lambda_powertools import Logger
        import rendezvous
        logger = Logger()

        @logger.inject_lambda_context(clear_state=True)
        def handler(event, context):
            logger.append_keys(state=event["state"])
            {then}
            logger.info("working")
            return {{}}
    """,
        {"POWERTOOLS_SERVICE_NAME": service},
    )


@pytest.fixture
def rendezvous(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A module the test's functions share: both invocations wait there for each other."""
    (tmp_path / "rendezvous.py").write_text(
        "import threading\nBOTH_STARTED = threading.Barrier(2, timeout=10)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "rendezvous", raising=False)
    yield
    sys.modules.pop("rendezvous", None)


def log_lines(cloud: LocalCloud, name: str) -> list[dict[str, Any]]:
    events = cloud.client("logs").filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
    return [json.loads(e["message"]) for e in events]


def test_concurrent_invocations_each_log_their_own_function_state_and_service(
    cloud: LocalCloud, tmp_path: Path, rendezvous: None
) -> None:
    # Given two functions sharing one Powertools logger (built before any service name was
    # set), each of which waits, once it has its keys, until the other has its own
    wait = "rendezvous.BOTH_STARTED.wait()"
    logging_function(cloud, tmp_path, "orders", service="shop", then=wait)
    logging_function(cloud, tmp_path, "billing", service="accounts", then=wait)

    # When both are invoked at once, on two threads
    def invoke(name: str) -> None:
        payload = json.dumps({"state": "Bill the order?" if name == "billing" else "Take it"})
        cloud.client("lambda").invoke(FunctionName=name, Payload=payload)

    callers = [threading.Thread(target=invoke, args=(name,)) for name in ("orders", "billing")]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()

    # Then each line carries its own invocation's function, state, service and cold start
    (orders,) = log_lines(cloud, "orders")
    (billing,) = log_lines(cloud, "billing")
    assert (orders["function_name"], orders["state"], orders["service"]) == (
        "orders", "Take it", "shop",
    )  # fmt: skip
    assert (billing["function_name"], billing["state"], billing["service"]) == (
        "billing", "Bill the order?", "accounts",
    )  # fmt: skip
    assert orders["cold_start"] is billing["cold_start"] is True
    assert orders["function_request_id"] != billing["function_request_id"]


def test_a_nested_invocation_logs_apart_and_all_lines_come_back_in_time_order(
    cloud: LocalCloud, tmp_path: Path, rendezvous: None
) -> None:
    # Given a function that logs, then invokes another on the same thread (as an event it
    # emits would), then logs again
    logging_function(cloud, tmp_path, "inner", service="shop", then="time.sleep(0.002)")
    logging_function(
        cloud,
        tmp_path,
        "outer",
        service="shop",
        then="""logger.info("calling")
            time.sleep(0.002)
            boto3.client("lambda").invoke(FunctionName="inner", Payload=json.dumps({"state": "In"}))
            time.sleep(0.002)""",
    )

    # When it is invoked twice
    for _ in range(2):
        cloud.client("lambda").invoke(FunctionName="outer", Payload=json.dumps({"state": "Out"}))

    # Then each function's lines are its own, and all come back oldest first
    lines = cloud.lambda_logs()
    assert [(line["function"], line["message"], line["state"]) for line in lines] == [
        ("outer", "calling", "Out"), ("inner", "working", "In"), ("outer", "working", "Out"),
    ] * 2  # fmt: skip
    assert [line["cold_start"] for line in lines if line["function"] == "outer"] == [
        True, True, False, False,
    ]  # fmt: skip
    assert all(line["function_name"] == line["function"] for line in lines)


# ---------------------------------------------------------------------------- 2. EventBridge


def counting_function(cloud: LocalCloud, tmp_path: Path, name: str, fail: bool) -> str:
    return make_function(
        cloud,
        tmp_path,
        name,
        f"""
        CALLS = []

        def handler(event, context):
            CALLS.append(event)
            if {fail}:
                raise ValueError("cannot handle " + event["detail-type"])
            return {{}}
    """,
    )


def calls(name: str) -> list[Any]:
    module = patches.functions.functions[name].module  # loaded on first invocation
    return module.CALLS if module is not None else []


def route(
    cloud: LocalCloud,
    rule: str,
    target_arn: str,
    pattern: dict[str, Any] | None = None,
    **rule_args: Any,
) -> None:
    events = cloud.client("events")
    if pattern is not None:
        rule_args["EventPattern"] = json.dumps(pattern)
    events.put_rule(Name=rule, **rule_args)
    events.put_targets(Rule=rule, Targets=[{"Id": "t", "Arn": target_arn}])


def test_events_reach_a_lambda_target(cloud: LocalCloud, tmp_path: Path) -> None:
    arn = counting_function(cloud, tmp_path, "listener", fail=False)
    route(cloud, "r", arn, {"source": ["my.app"]})

    cloud.client("events").put_events(
        Entries=[{"Source": "my.app", "DetailType": "Thing Happened", "Detail": '{"x": 1}'}]
    )

    [event] = calls("listener")
    assert event["detail"] == {"x": 1}
    assert event["detail-type"] == "Thing Happened"
    assert event["time"].endswith("Z")  # ISO-8601, as EventBridge sends it
    assert "ingestion-time" not in event


def test_failing_async_invocation_is_retried_then_sent_to_the_on_failure_destination(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    arn = counting_function(cloud, tmp_path, "fragile", fail=True)
    url, queue_arn = queue(cloud, "failures")
    cloud.client("lambda").put_function_event_invoke_config(
        FunctionName="fragile",
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )
    route(cloud, "r", arn, {"source": ["my.app"]})

    cloud.client("events").put_events(
        Entries=[{"Source": "my.app", "DetailType": "Bad", "Detail": "{}"}]
    )

    assert len(calls("fragile")) == 2  # the first try and one retry
    [record] = cloud.queue_messages(url)
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestPayload"]["detail-type"] == "Bad"
    assert record["responsePayload"]["errorType"] == "ValueError"


def test_scheduled_rules_fire_on_their_schedule_only(cloud: LocalCloud, tmp_path: Path) -> None:
    arn = counting_function(cloud, tmp_path, "ticker", fail=False)
    route(cloud, "hourly", arn, ScheduleExpression="rate(1 hour)")

    cloud.client("events").put_events(
        Entries=[{"Source": "my.app", "DetailType": "Noise", "Detail": "{}"}]
    )
    assert calls("ticker") == []

    assert cloud.fire_schedules() == ["hourly"]
    [tick] = calls("ticker")
    assert tick["detail-type"] == "Scheduled Event"
    assert tick["source"] == "aws.events"
    assert tick["resources"][0].endswith(":rule/hourly")


def test_a_lambda_target_gets_its_input_or_transformed_input(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    arn = counting_function(cloud, tmp_path, "shaped", fail=False)
    events = cloud.client("events")
    events.put_rule(Name="r", EventPattern=json.dumps({"source": ["my.app"]}))
    events.put_targets(Rule="r", Targets=[
        {"Id": "constant", "Arn": arn, "Input": json.dumps({"fixed": True})},
        {"Id": "shaped", "Arn": arn, "InputTransformer": {
            "InputPathsMap": {"kind": "$.detail-type"}, "InputTemplate": '{"kind": "<kind>"}'}},
    ])  # fmt: skip

    events.put_events(
        Entries=[{"Source": "my.app", "DetailType": "Thing Happened", "Detail": "{}"}]
    )

    assert sorted(calls("shaped"), key=json.dumps) == [{"fixed": True}, {"kind": "Thing Happened"}]


def test_an_undeliverable_event_goes_to_the_rules_dead_letter_queue(cloud: LocalCloud) -> None:
    url, queue_arn = queue(cloud, "rule-dlq")
    events = cloud.client("events")
    events.put_rule(Name="r", EventPattern=json.dumps({"source": ["my.app"]}))
    missing = "arn:aws:lambda:us-east-1:123456789012:function:deleted"
    events.put_targets(
        Rule="r", Targets=[{"Id": "t", "Arn": missing, "DeadLetterConfig": {"Arn": queue_arn}}]
    )

    events.put_events(Entries=[{"Source": "my.app", "DetailType": "Lost", "Detail": '{"x": 1}'}])

    [event] = cloud.queue_messages(url)
    assert (event["detail-type"], event["detail"]) == ("Lost", {"x": 1})


# ---------------------------------------------------------------------------- 3. Alarms


def test_alarm_state_change_emits_the_documented_event_once_per_change(cloud: LocalCloud) -> None:
    url, arn = queue(cloud, "alarm-events")
    route(
        cloud,
        "alarms",
        arn,
        {"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"]},
    )
    cloudwatch = cloud.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName="drift", Namespace="ModelFresh/Drift", MetricName="share", Dimensions=[{"Name": "model", "Value": "m"}],
        Statistic="Maximum", Period=3600, EvaluationPeriods=1, Threshold=0.2, ComparisonOperator="GreaterThanThreshold",
    )  # fmt: skip

    cloudwatch.set_alarm_state(AlarmName="drift", StateValue="ALARM", StateReason="went up")
    cloudwatch.set_alarm_state(AlarmName="drift", StateValue="ALARM", StateReason="still up")

    [event] = cloud.queue_messages(url)
    detail = event["detail"]
    assert detail["alarmName"] == "drift"
    assert detail["state"]["value"] == "ALARM"
    assert detail["state"]["reason"] == "went up"
    assert detail["previousState"]["value"] == "OK"
    assert detail["state"]["timestamp"].endswith("+0000")
    metric = detail["configuration"]["metrics"][0]["metricStat"]
    assert metric["metric"] == {
        "namespace": "ModelFresh/Drift",
        "name": "share",
        "dimensions": {"model": "m"},
    }
    assert event["resources"] == [
        cloudwatch.describe_alarms(AlarmNames=["drift"])["MetricAlarms"][0]["AlarmArn"]
    ]


def test_composite_alarm_follows_its_children_and_emits_the_composite_event(
    cloud: LocalCloud,
) -> None:
    # Stock moto has no PutCompositeAlarm, and evaluates no alarm rule.
    url, arn = queue(cloud, "composite-events")
    route(
        cloud,
        "composites",
        arn,
        {"source": ["aws.cloudwatch"], "detail": {"alarmName": ["drift-or-quality"]}},
    )
    cloudwatch = cloud.client("cloudwatch")
    for name in ("drift", "quality", "maintenance"):
        cloudwatch.put_metric_alarm(
            AlarmName=name, Namespace="ModelFresh/Drift", MetricName=name, Statistic="Maximum",
            Period=3600, EvaluationPeriods=1, Threshold=0.2, ComparisonOperator="GreaterThanThreshold",
        )  # fmt: skip
    cloudwatch.put_composite_alarm(
        AlarmName="drift-or-quality", AlarmRule="ALARM(drift) OR ALARM(quality)",
        ActionsSuppressor="maintenance", ActionsSuppressorWaitPeriod=0, ActionsSuppressorExtensionPeriod=0,
    )  # fmt: skip

    cloudwatch.set_alarm_state(AlarmName="quality", StateValue="ALARM", StateReason="worse")
    cloudwatch.set_alarm_state(AlarmName="maintenance", StateValue="ALARM", StateReason="window")
    cloudwatch.set_alarm_state(AlarmName="quality", StateValue="OK", StateReason="better")
    cloudwatch.set_alarm_state(AlarmName="drift", StateValue="ALARM", StateReason="drifted")

    created, raised, cleared, suppressed = (e["detail"] for e in cloud.queue_messages(url))
    assert (created["previousState"]["value"], created["state"]["value"]) == (
        "INSUFFICIENT_DATA",
        "OK",
    )
    assert [raised["state"]["value"], cleared["state"]["value"]] == ["ALARM", "OK"]
    assert "actionsSuppressedBy" not in raised["state"]
    assert raised["configuration"]["alarmRule"] == "ALARM(drift) OR ALARM(quality)"
    assert raised["configuration"]["actionsSuppressor"] == "maintenance"
    assert suppressed["state"]["value"] == "ALARM"
    assert suppressed["state"]["actionsSuppressedBy"] == "Alarm"


# ---------------------------------------------------------------------------- 4-5. CloudFormation


def test_cloudformation_state_machine_executes_with_substitutions_from_s3(
    cloud: LocalCloud,
) -> None:
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket="defs")
    s3.put_object(Bucket="defs", Key="m.json", Body=json.dumps(
        {"StartAt": "Say", "States": {"Say": {"Type": "Pass", "Result": {"said": "${Greeting}"}, "End": True}}}
    ))  # fmt: skip
    template = {"Resources": {"Machine": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
        "StateMachineName": "from-cfn", "RoleArn": ROLE,
        "DefinitionS3Location": {"Bucket": "defs", "Key": "m.json"},
        "DefinitionSubstitutions": {"Greeting": "hello"},
    }}}}  # fmt: skip

    cloud.client("cloudformation").create_stack(StackName="s", TemplateBody=json.dumps(template))

    [machine] = cloud.client("stepfunctions").list_state_machines()["stateMachines"]
    described = run(cloud, machine["stateMachineArn"])
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == {"said": "hello"}


def test_cloudformation_creates_the_types_moto_skips(cloud: LocalCloud, tmp_path: Path) -> None:
    make_function(cloud, tmp_path, "target", "def handler(event, context):\n    return {}\n")
    _, queue_arn = queue(cloud, "dlq")
    template = {"Resources": {
        "InvokeConfig": {"Type": "AWS::Lambda::EventInvokeConfig", "Properties": {
            "FunctionName": "target", "Qualifier": "$LATEST", "MaximumRetryAttempts": 1,
            "DestinationConfig": {"OnFailure": {"Destination": queue_arn}}}},
        "Alarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": {
            "AlarmName": "depth", "Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible",
            "Statistic": "Maximum", "Period": 300, "EvaluationPeriods": 1, "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold"}},
        "Policy": {"Type": "AWS::SQS::QueuePolicy", "Properties": {"Queues": ["q"], "PolicyDocument": {}}},
    }}  # fmt: skip

    cloud.client("cloudformation").create_stack(StackName="s", TemplateBody=json.dumps(template))

    config = cloud.client("lambda").get_function_event_invoke_config(FunctionName="target")
    assert config["MaximumRetryAttempts"] == 1
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == queue_arn
    assert cloud.client("cloudwatch").describe_alarms(AlarmNames=["depth"])["MetricAlarms"]


def test_cloudformation_creates_sagemaker_pipelines_from_a_body_or_an_s3_file(
    cloud: LocalCloud,
) -> None:
    # moto reports both CREATE_COMPLETE without creating either pipeline.
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket="defs")
    s3.put_object(Bucket="defs", Key="p.json", Body='{"Version": "2020-12-01", "Steps": []}')
    template = {"Resources": {
        "FromBody": {"Type": "AWS::SageMaker::Pipeline", "Properties": {
            "PipelineName": "from-body", "RoleArn": ROLE, "PipelineDescription": "d",
            "PipelineDefinition": {"PipelineDefinitionBody": {"Fn::Sub": [
                '{"Version": "2020-12-01", "Steps": [], "Metadata": {"bucket": "${Bucket}"}}',
                {"Bucket": {"Fn::Sub": "b-${AWS::Region}"}},
            ]}}}},
        "FromFile": {"Type": "AWS::SageMaker::Pipeline", "Properties": {
            "PipelineName": "from-file", "RoleArn": ROLE,
            "PipelineDefinition": {"PipelineDefinitionS3Location": {"Bucket": "defs", "Key": "p.json"}}}},
    }}  # fmt: skip

    cloud.client("cloudformation").create_stack(StackName="s", TemplateBody=json.dumps(template))

    sagemaker = cloud.client("sagemaker")
    body = sagemaker.describe_pipeline(PipelineName="from-body")
    assert json.loads(body["PipelineDefinition"])["Metadata"] == {"bucket": "b-us-east-1"}
    assert (body["RoleArn"], body["PipelineDescription"]) == (ROLE, "d")
    from_file = sagemaker.describe_pipeline(PipelineName="from-file")["PipelineDefinition"]
    assert json.loads(from_file) == {"Version": "2020-12-01", "Steps": []}
    resources = cloud.client("cloudformation").describe_stack_resources(StackName="s")
    assert {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources["StackResources"]} == {
        "FromBody": "from-body", "FromFile": "from-file",
    }  # fmt: skip


# ---------------------------------------------------------------------------- 6-7. SageMaker


@pytest.fixture
def pipeline(cloud: LocalCloud) -> str:
    sagemaker = cloud.client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName="g")
    sagemaker.create_pipeline(
        PipelineName="p", PipelineDefinition='{"Version": "2020-12-01", "Steps": []}', RoleArn=ROLE
    )
    cloud.pipelines.register_group("p", "g")
    return "p"


def test_pipeline_execution_runs_until_the_simulator_ends_it(
    cloud: LocalCloud, pipeline: str
) -> None:
    from localcloud import Candidate

    sagemaker = cloud.client("sagemaker")
    arn = sagemaker.start_pipeline_execution(PipelineName=pipeline, ClientRequestToken="t" * 32)[
        "PipelineExecutionArn"
    ]
    assert (
        sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"]
        == "Executing"
    )

    package = cloud.pipelines.wait_for_run(pipeline).succeed(Candidate(metrics={"rmse": 1.0}))

    assert (
        sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"]
        == "Succeeded"
    )
    steps = sagemaker.list_pipeline_execution_steps(PipelineExecutionArn=arn)[
        "PipelineExecutionSteps"
    ]
    assert steps[0]["Metadata"]["RegisterModel"]["Arn"] == package  # newest step first


def test_client_request_token_makes_the_start_idempotent(cloud: LocalCloud, pipeline: str) -> None:
    sagemaker = cloud.client("sagemaker")
    first = sagemaker.start_pipeline_execution(PipelineName=pipeline, ClientRequestToken="a" * 32)
    again = sagemaker.start_pipeline_execution(PipelineName=pipeline, ClientRequestToken="a" * 32)
    other = sagemaker.start_pipeline_execution(PipelineName=pipeline, ClientRequestToken="b" * 32)

    assert (
        first["PipelineExecutionArn"]
        == again["PipelineExecutionArn"]
        != other["PipelineExecutionArn"]
    )


def test_stop_pipeline_execution_stops_a_running_execution_and_says_so(
    cloud: LocalCloud, pipeline: str
) -> None:
    from localcloud import Candidate

    url, queue_arn = queue(cloud, "pipeline-events")
    route(cloud, "stops", queue_arn, {"source": ["aws.sagemaker"]})
    sagemaker = cloud.client("sagemaker")
    arn = sagemaker.start_pipeline_execution(PipelineName=pipeline, ClientRequestToken="s" * 32)[
        "PipelineExecutionArn"
    ]
    run = cloud.pipelines.wait_for_run(pipeline)

    sagemaker.stop_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken="t" * 32)
    run.succeed(Candidate(metrics={"rmse": 1.0}))  # its steps end later: it stays stopped

    described = sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)
    assert described["PipelineExecutionStatus"] == "Stopped"
    statuses = [
        e["detail"]["currentPipelineExecutionStatus"]
        for e in cloud.queue_messages(url)
        if e["detail-type"] == "SageMaker Model Building Pipeline Execution Status Change"
    ]
    assert statuses == ["Executing", "Stopping", "Stopped"]


def test_failed_execution_reports_its_failure_reason(cloud: LocalCloud, pipeline: str) -> None:
    sagemaker = cloud.client("sagemaker")
    arn = sagemaker.start_pipeline_execution(PipelineName=pipeline, ClientRequestToken="c" * 32)[
        "PipelineExecutionArn"
    ]

    cloud.pipelines.wait_for_run(pipeline).fail("AlgorithmError: out of memory")

    described = sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)
    assert (described["PipelineExecutionStatus"], described["FailureReason"]) == (
        "Failed",
        "AlgorithmError: out of memory",
    )


def test_update_model_package_changes_only_what_it_names(cloud: LocalCloud, pipeline: str) -> None:
    sagemaker = cloud.client("sagemaker")
    arn = sagemaker.create_model_package(
        ModelPackageGroupName="g", ModelApprovalStatus="PendingManualApproval",
        CustomerMetadataProperties={"PipelineExecutionArn": "x"},
        InferenceSpecification={"Containers": [{"Image": "i"}], "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
    )["ModelPackageArn"]  # fmt: skip
    sagemaker.update_model_package(
        ModelPackageArn=arn, ModelApprovalStatus="Approved", ApprovalDescription="why"
    )

    sagemaker.update_model_package(
        ModelPackageArn=arn, CustomerMetadataProperties={"Champion": "yes"}
    )

    described = sagemaker.describe_model_package(ModelPackageName=arn)
    assert described["ModelApprovalStatus"] == "Approved"
    assert described["ApprovalDescription"] == "why"
    assert described["CustomerMetadataProperties"] == {
        "PipelineExecutionArn": "x",
        "Champion": "yes",
    }


def test_sagemaker_status_changes_reach_eventbridge(cloud: LocalCloud, pipeline: str) -> None:
    from localcloud import Candidate

    url, arn = queue(cloud, "sagemaker-events")
    route(cloud, "sm", arn, {"source": ["aws.sagemaker"]})
    sagemaker = cloud.client("sagemaker")
    execution = sagemaker.start_pipeline_execution(
        PipelineName=pipeline, ClientRequestToken="d" * 32
    )["PipelineExecutionArn"]

    package = cloud.pipelines.wait_for_run(pipeline).succeed(Candidate(metrics={"rmse": 1.0}))
    sagemaker.update_model_package(ModelPackageArn=package, ModelApprovalStatus="Approved")
    sagemaker.update_model_package(
        ModelPackageArn=package, ModelApprovalStatus="Approved"
    )  # no change

    seen = [(e["detail-type"], e["detail"]) for e in cloud.queue_messages(url)]
    pipeline_events = [
        d for t, d in seen if t == "SageMaker Model Building Pipeline Execution Status Change"
    ]
    package_events = [d for t, d in seen if t == "SageMaker Model Package State Change"]
    assert [(d["previousPipelineExecutionStatus"], d["currentPipelineExecutionStatus"]) for d in pipeline_events] == [
        ("", "Executing"), ("Executing", "Succeeded"),
    ]  # fmt: skip
    assert all(d["pipelineExecutionArn"] == execution for d in pipeline_events)
    assert [d["ModelApprovalStatus"] for d in package_events] == [
        "PendingManualApproval",
        "Approved",
    ]
    assert package_events[0]["ModelPackageGroupName"] == "g"


# ---------------------------------------------------------------------------- 11. Atomicity


def test_concurrent_transactions_have_exactly_one_winner_and_lose_nothing(
    cloud: LocalCloud,
) -> None:
    # The run ledger's own transactions (record the signal + take the lease), 20 at once, in
    # several rounds: without the patch, 2-6 callers "win" and rollbacks erase signal records.
    from modelfresh.aws.ledger import DynamoLedger
    from modelfresh.retrain.runs import Claim, Ticket
    from modelfresh.retrain.signals import Signal

    dynamodb = cloud.client("dynamodb")
    for table, key in (("state", "model"), ("signals", "signal_id")):
        dynamodb.create_table(
            TableName=table, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}], AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        )  # fmt: skip
    ledger = DynamoLedger(dynamodb, "state", "signals")

    for round_ in range(3):
        model = f"model-{round_}"
        signals = [
            Signal(model, "drift-alarm", f"alarm/{model}/{i}", "2026-11-22T10:00:00.000Z", "a")
            for i in range(20)
        ]
        barrier, claims = threading.Barrier(20), dict[str, Any]()

        def acquire(
            signal: Signal, barrier: threading.Barrier = barrier, claims: dict[str, Any] = claims
        ) -> None:
            barrier.wait()
            claims[signal.id] = ledger.acquire(
                Ticket(signal.model, signal.run_name, signal, 10**10), 1000
            ).claim

        threads = [threading.Thread(target=acquire, args=(signal,)) for signal in signals]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        winners = [signal for signal in signals if claims[signal.id] is Claim.WON]
        assert len(winners) == 1, (round_, len(winners))
        assert ledger.state(model).lease.run == winners[0].run_name  # type: ignore[union-attr]
        assert [s for s in signals if ledger.signal_record(s.id)] == winners


def test_concurrent_conditional_writes_have_exactly_one_winner(cloud: LocalCloud) -> None:
    dynamodb = cloud.client("dynamodb")
    dynamodb.create_table(
        TableName="t", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}], AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
    )  # fmt: skip
    barrier = threading.Barrier(30)
    winners = []

    def claim(i: int) -> None:
        client = cloud.client("dynamodb")
        barrier.wait()
        try:
            client.put_item(
                TableName="t",
                Item={"k": {"S": "lease"}, "by": {"N": str(i)}},
                ConditionExpression="attribute_not_exists(k)",
            )
            winners.append(i)
        except ClientError as error:
            assert error.response["Error"]["Code"] == "ConditionalCheckFailedException"

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(winners) == 1


def test_concurrent_starts_with_one_name_make_one_execution(cloud: LocalCloud) -> None:
    # Stock moto already behaves like AWS here; this keeps it so.
    machine = state_machine(
        cloud, {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 5, "End": True}}}
    )
    barrier = threading.Barrier(20)
    arns = set()
    refused = []

    def start() -> None:
        client = cloud.client("stepfunctions")
        barrier.wait()
        try:
            started = client.start_execution(stateMachineArn=machine, name="once", input="{}")
        except client.exceptions.ExecutionAlreadyExists:
            refused.append(1)  # a caller that lost the race is told so, as AWS may
            return
        arns.add(started["executionArn"])

    threads = [threading.Thread(target=start) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(arns) == 1
    assert (
        len(cloud.client("stepfunctions").list_executions(stateMachineArn=machine)["executions"])
        == 1
    )


# ---------------------------------------------------------------------------- 8-10. Callbacks


def callback_machine(cloud: LocalCloud, function_arn: str, heartbeat: int, timeout: int) -> str:
    return state_machine(cloud, {
        "StartAt": "Wait", "States": {
            "Wait": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                     "Parameters": {"FunctionName": function_arn, "Payload": {"token.$": "$$.Task.Token"}},
                     "HeartbeatSeconds": heartbeat, "TimeoutSeconds": timeout,
                     "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.caught", "Next": "Caught"}], "End": True},
            "Caught": {"Type": "Pass", "End": True},
        },
    })  # fmt: skip


def test_lapsed_heartbeat_fails_with_states_heartbeat_timeout(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    arn = make_function(cloud, tmp_path, "silent", "def handler(event, context):\n    return {}\n")

    described = run(cloud, callback_machine(cloud, arn, heartbeat=1, timeout=30))

    assert json.loads(described["output"])["caught"]["Error"] == "States.HeartbeatTimeout"


def test_callback_sent_while_the_tasks_lambda_runs_completes_the_task(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    # The handler resumes its own task before returning (as parking does when the pipeline
    # has already ended). The heartbeat is long: only the early outcome can end the wait.
    arn = make_function(
        cloud,
        tmp_path,
        "eager",
        """
        import boto3, json

        def handler(event, context):
            boto3.client("stepfunctions").send_task_success(taskToken=event["token"], output=json.dumps({"done": True}))
            return {}
    """,
    )
    started = time.monotonic()

    described = run(cloud, callback_machine(cloud, arn, heartbeat=300, timeout=600))

    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"done": True}
    assert time.monotonic() - started < 15


def test_send_task_failure_keeps_its_cause(cloud: LocalCloud, tmp_path: Path) -> None:
    arn = make_function(
        cloud,
        tmp_path,
        "refuser",
        """
        import boto3

        def handler(event, context):
            boto3.client("stepfunctions").send_task_failure(taskToken=event["token"], error="Nope", cause="because")
            return {}
    """,
    )

    described = run(cloud, callback_machine(cloud, arn, heartbeat=300, timeout=600))

    assert json.loads(described["output"])["caught"] == {"Error": "Nope", "Cause": "because"}


# ---------------------------------------------------------------------------- 12. Time


def test_heartbeat_deadlines_can_pass_faster_than_real_time(tmp_path: Path) -> None:
    with LocalCloud(heartbeat_time_scale=100) as fast:
        make_role(fast)
        arn = make_function(
            fast, tmp_path, "silent", "def handler(event, context):\n    return {}\n"
        )
        started = time.monotonic()

        described = run(fast, callback_machine(fast, arn, heartbeat=200, timeout=3000))

        assert json.loads(described["output"])["caught"]["Error"] == "States.HeartbeatTimeout"
        assert time.monotonic() - started < 20  # 200 s of heartbeat in about 2 s


def test_wait_states_and_retry_back_off_pass_faster_than_real_time(tmp_path: Path) -> None:
    with LocalCloud(wait_time_scale=1000) as fast:
        make_role(fast)
        arn = make_function(
            fast,
            tmp_path,
            "flaky",
            """
            CALLS = []

            class Flaky(Exception):
                pass

            def handler(event, context):
                CALLS.append(1)
                if len(CALLS) < 3:
                    raise Flaky("not yet")
                return {"attempts": len(CALLS)}
        """,
        )
        machine = state_machine(fast, {"StartAt": "Wait", "States": {
            "Wait": {"Type": "Wait", "Seconds": 600, "Next": "Call"},
            "Call": {"Type": "Task", "Resource": arn, "End": True,
                     "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 300, "BackoffRate": 2.0, "MaxAttempts": 3}]},
        }})  # fmt: skip
        started = time.monotonic()

        described = run(fast, machine)

        assert json.loads(described["output"]) == {"attempts": 3}
        assert time.monotonic() - started < 15  # 10 minutes of Wait and 15 of back-off


def test_a_boto3_clients_retry_back_off_passes_faster_than_real_time() -> None:
    from botocore.retries.standard import ExponentialBackoff, RetryContext

    backoff = ExponentialBackoff(random=lambda: 1.0)
    third_attempt = RetryContext(attempt_number=3, parsed_response={})
    with LocalCloud(wait_time_scale=1):
        real = backoff.delay_amount(third_attempt)
    with LocalCloud(wait_time_scale=100):
        fast = backoff.delay_amount(third_attempt)

    assert real > 0
    assert fast == pytest.approx(real / 100)


def test_a_throttled_call_of_a_standard_mode_client_is_retried_until_it_goes_through(
    cloud: LocalCloud,
) -> None:
    from botocore.config import Config

    sagemaker = boto3_client(
        cloud, "sagemaker", Config(retries={"mode": "standard", "max_attempts": 4})
    )
    cloud.faults.api("sagemaker", "ListModels", "throttle", times=3)

    assert sagemaker.list_models()["Models"] == []
    assert len(cloud.faults.fired) == 3


# ---------------------------------------------------------------------------- 13. Hosting


def test_create_endpoint_deploys_its_model_and_fails_when_the_model_cannot_load(
    cloud: LocalCloud,
) -> None:
    # (moto creates every endpoint InService and answers every invocation with a fixed string;
    # tests/localcloud/test_hosting.py has the rest of what the endpoints do.)
    sagemaker = cloud.client("sagemaker")
    good = cloud.upload_model()
    for name, uri in (("good", good), ("lost", f"s3://{cloud.artifacts_bucket}/lost.tar.gz")):
        sagemaker.create_model(
            ModelName=name,
            PrimaryContainer={"Image": "xgboost", "ModelDataUrl": uri},
            ExecutionRoleArn="arn:aws:iam::123456789012:role/serving",
        )
        sagemaker.create_endpoint_config(
            EndpointConfigName=name,
            ProductionVariants=[
                {"VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large"}
            ],
        )
        sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)

    assert sagemaker.describe_endpoint(EndpointName="good")["EndpointStatus"] == "InService"
    answer = (
        cloud.client("sagemaker-runtime")
        .invoke_endpoint(
            EndpointName="good",
            ContentType="text/csv",
            Body=b"1,2.4,8,1,11,40.75,-73.98,40.76,-73.97",
        )["Body"]
        .read()
    )
    assert float(answer) > 0
    lost = sagemaker.describe_endpoint(EndpointName="lost")
    assert lost["EndpointStatus"] == "Failed"
    assert lost["FailureReason"].startswith("Failed to download model data")


# ---------------------------------------------------------------------------- 14. Faults


def test_a_throttled_request_changes_nothing_and_a_retry_goes_through(
    cloud: LocalCloud, pipeline: str
) -> None:
    from botocore.config import Config

    sagemaker = cloud.client("sagemaker")
    once = boto3_client(cloud, "sagemaker", Config(retries={"total_max_attempts": 1}))
    cloud.faults.api("sagemaker", "StartPipelineExecution", "throttle", times=1)

    with pytest.raises(ClientError) as refused:
        once.start_pipeline_execution(PipelineName=pipeline, ClientRequestToken="r" * 32)
    assert refused.value.response["Error"]["Code"] == "ThrottlingException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert cloud.pipelines.runs(pipeline) == []  # nothing was applied

    sagemaker.start_pipeline_execution(PipelineName=pipeline, ClientRequestToken="r" * 32)
    assert len(cloud.pipelines.runs(pipeline)) == 1
    assert [(f.target, f.kind) for f in cloud.faults.fired] == [
        ("sagemaker:StartPipelineExecution", "throttle")
    ]


def test_a_lost_answer_is_applied_and_the_caller_hears_a_500(cloud: LocalCloud) -> None:
    from botocore.config import Config

    once = boto3_client(cloud, "dynamodb", Config(retries={"total_max_attempts": 1}))
    dynamodb = cloud.client("dynamodb")
    dynamodb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    cloud.faults.api("dynamodb", "PutItem", "lost", when=lambda p: p["Item"]["k"]["S"] == "b")

    once.put_item(TableName="t", Item={"k": {"S": "a"}})  # not what the fault is waiting for
    with pytest.raises(ClientError) as lost:
        once.put_item(TableName="t", Item={"k": {"S": "b"}})

    assert lost.value.response["Error"]["Code"] == "InternalFailure"
    assert lost.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert "Item" in dynamodb.get_item(TableName="t", Key={"k": {"S": "b"}})  # it was applied


def test_a_lambda_throttle_is_lambdas_own_error(cloud: LocalCloud, tmp_path: Path) -> None:
    from botocore.config import Config

    make_function(cloud, tmp_path, "f", "def handler(event, context):\n    return 1\n")
    once = boto3_client(cloud, "lambda", Config(retries={"total_max_attempts": 1}))
    cloud.faults.api("lambda", "Invoke", "throttle", when=lambda p: "/functions/f/" in p["_path"])

    with pytest.raises(ClientError) as throttled:
        once.invoke(FunctionName="f", Payload=b"{}")

    assert throttled.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429


def boto3_client(cloud: LocalCloud, service: str, config: Any) -> Any:
    import boto3

    return boto3.session.Session(region_name=cloud.region).client(  # type: ignore[call-overload]
        service, endpoint_url=cloud.endpoint, config=config
    )


# ---------------------------------------------------------------------------- 15. Error names


def caught_error(cloud: LocalCloud, resource: str, parameters: dict[str, Any]) -> str:
    """The error a Task calling `resource` fails with, as its Catch sees it."""
    machine = state_machine(cloud, {
        "StartAt": "Call", "States": {
            "Call": {"Type": "Task", "Resource": resource, "Parameters": parameters, "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.caught", "Next": "Caught"}], "End": True},
            "Caught": {"Type": "Pass", "End": True},
        },
    })  # fmt: skip
    described = run(cloud, machine)
    assert described["status"] == "SUCCEEDED", described
    return str(json.loads(described["output"])["caught"]["Error"])


def test_aws_sdk_integration_errors_are_named_as_step_functions_names_them(
    cloud: LocalCloud,
) -> None:
    describe = "arn:aws:states:::aws-sdk:sagemaker:describeEndpoint"
    cloud.faults.api("sagemaker", "DescribeEndpoint", "throttle")
    assert caught_error(cloud, describe, {"EndpointName": "e"}) == "SageMaker.ThrottlingException"

    cloud.faults.api("sagemaker", "DescribeEndpoint", "unavailable")
    assert caught_error(cloud, describe, {"EndpointName": "e"}) == (
        "SageMaker.ServiceUnavailableException"  # the Exception suffix is always there
    )
    cloud.faults.api("sagemaker", "ListModels", "lost")
    list_models = "arn:aws:states:::aws-sdk:sagemaker:listModels"
    assert caught_error(cloud, list_models, {}) == "SageMaker.InternalFailureException"
    # SageMaker's own answer for a missing endpoint: ValidationException
    assert caught_error(cloud, describe, {"EndpointName": "e"}) == "SageMaker.ValidationException"


def test_optimized_sagemaker_errors_it_does_not_model_are_amazon_sagemaker_exceptions(
    cloud: LocalCloud,
) -> None:
    update = "arn:aws:states:::sagemaker:updateEndpoint"
    cloud.faults.api("sagemaker", "UpdateEndpoint", "throttle")
    parameters = {"EndpointName": "e", "EndpointConfigName": "c"}

    assert caught_error(cloud, update, parameters) == "SageMaker.AmazonSageMakerException"
    cloud.faults.task("Call", "ResourceLimitExceeded")
    assert caught_error(cloud, update, parameters) == "SageMaker.ResourceLimitExceededException"


def test_a_lambda_api_error_of_a_lambda_task_is_named_lambda(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    arn = make_function(cloud, tmp_path, "g", "def handler(event, context):\n    return 1\n")
    cloud.faults.api("lambda", "Invoke", "throttle")
    assert caught_error(cloud, arn, {}) == "Lambda.TooManyRequestsException"
    cloud.faults.api("lambda", "Invoke", "unavailable")
    assert caught_error(cloud, arn, {}) == "Lambda.ServiceException"


def test_a_task_fault_fails_that_state_only(cloud: LocalCloud, tmp_path: Path) -> None:
    arn = make_function(cloud, tmp_path, "h", "def handler(event, context):\n    return 1\n")
    cloud.faults.task("Elsewhere", "ResourceNotFoundException")
    cloud.faults.task("Call", "ResourceNotFoundException", times=None)

    assert caught_error(cloud, arn, {}) == "Lambda.ResourceNotFoundException"
    assert [f.target for f in cloud.faults.fired] == ["task:Call"]


# ---------------------------------------------------------------------------- 16. Runtime


def test_states_all_catches_neither_states_runtime_nor_retries_it(cloud: LocalCloud) -> None:
    machine = state_machine(cloud, {
        "StartAt": "Read", "States": {
            "Read": {"Type": "Pass", "Parameters": {"x.$": "$.missing.field"}, "Next": "Call"},
            "Call": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sagemaker:listModels", "Parameters": {}, "ResultSelector": {"x.$": "$.NotThere"}, "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 3}], "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], "End": True},
            "Caught": {"Type": "Pass", "End": True},
        },
    })  # fmt: skip
    skip_read = json.dumps({"missing": {"field": 1}})
    started = cloud.client("stepfunctions").start_execution(
        stateMachineArn=machine, name="runtime", input=skip_read
    )

    described = cloud.wait_for_execution(started["executionArn"])

    assert (described["status"], described["error"]) == ("FAILED", "States.Runtime")
    history = cloud.client("stepfunctions").get_execution_history(
        executionArn=started["executionArn"], maxResults=1000
    )["events"]
    assert sum(e["type"] == "TaskScheduled" for e in history) == 1  # not retried


# ---------------------------------------------------------------------------- 17. CFN JSON


def test_a_json_template_is_read_as_json_and_means_what_yaml_reads(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml
    from moto.cloudformation.models import Stack

    body = json.dumps({"Description": "2026-12-07", "Parameters": {"On": {"Type": "String"}}})
    assert Stack.parse_template(body) == yaml.load(body, Loader=yaml.Loader)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a JSON template went through PyYAML")

    monkeypatch.setattr(yaml, "load", refuse)
    assert Stack.parse_template(body)["Parameters"] == {"On": {"Type": "String"}}
    with pytest.raises(AssertionError, match="went through PyYAML"):
        Stack.parse_template("Description: x\n")  # a YAML template still is read as YAML


# ---------------------------------------------------------------------------- 18. Parse


def count_parses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that gets one item each time moto's ASL grammar parses a state machine."""
    from moto.stepfunctions.parser.asl.antlr.runtime.ASLParser import ASLParser

    parsed: list[int] = []
    original = ASLParser.state_machine

    def counting(self: Any) -> Any:
        parsed.append(1)
        return original(self)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(ASLParser, "state_machine", counting)
    return parsed


def test_a_definition_is_parsed_once_and_every_execution_gets_components_of_its_own(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    definition = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    parsed = count_parses(monkeypatch)

    first, tree = AmazonStateLanguageParser.parse(definition)
    again, same_tree = AmazonStateLanguageParser.parse(definition)

    assert len(parsed) == 1
    assert same_tree is tree
    assert again is not first  # components are never shared between executions
    machine = state_machine(cloud, json.loads(definition))
    assert run(cloud, machine)["status"] == "SUCCEEDED"
    assert run(cloud, machine)["status"] == "SUCCEEDED"


# ---------------------------------------------------------------------------- 19. History


def pages(cloud: LocalCloud, execution_arn: str, **arguments: Any) -> list[list[dict[str, Any]]]:
    """Every page of an execution's history, following nextToken as a client does."""
    sfn = cloud.client("stepfunctions")
    found: list[list[dict[str, Any]]] = []
    token: dict[str, str] = {}
    while True:
        page = sfn.get_execution_history(executionArn=execution_arn, **arguments, **token)
        found.append(page["events"])
        if "nextToken" not in page:
            return found
        token = {"nextToken": page["nextToken"]}


@pytest.fixture
def long_history(cloud: LocalCloud) -> str:
    """A finished execution with more than 100 history events. Returns its ARN."""
    machine = state_machine(cloud, {
        "StartAt": "Each", "States": {"Each": {
            "Type": "Map", "ItemsPath": "$.items", "End": True, "ItemProcessor": {
                "StartAt": "Item", "States": {"Item": {"Type": "Pass", "End": True}},
            },
        }},
    })  # fmt: skip
    described = run(cloud, machine, {"items": list(range(30))})
    assert described["status"] == "SUCCEEDED"
    return str(described["executionArn"])


def test_execution_history_comes_in_pages_of_100_by_default_and_as_many_as_asked(
    cloud: LocalCloud, long_history: str
) -> None:
    everything = cloud.client("stepfunctions").get_execution_history(
        executionArn=long_history, maxResults=1000
    )
    events = everything["events"]
    assert len(events) > 100
    assert "nextToken" not in everything

    by_default = pages(cloud, long_history)
    by_fifty = pages(cloud, long_history, maxResults=50)

    assert [len(page) for page in by_default] == [100, len(events) - 100]
    assert list(chain.from_iterable(by_default)) == events
    assert all(len(page) == 50 for page in by_fifty[:-1])
    assert list(chain.from_iterable(by_fifty)) == events
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)  # oldest first


def test_execution_history_in_reverse_order_starts_with_the_latest_events(
    cloud: LocalCloud, long_history: str
) -> None:
    sfn = cloud.client("stepfunctions")
    events = sfn.get_execution_history(executionArn=long_history, maxResults=1000)["events"]

    latest = sfn.get_execution_history(executionArn=long_history, reverseOrder=True, maxResults=5)
    backwards = pages(cloud, long_history, reverseOrder=True, maxResults=40)

    assert latest["events"] == events[::-1][:5]
    assert latest["events"][0]["type"] == "ExecutionSucceeded"
    assert list(chain.from_iterable(backwards)) == events[::-1]


def test_execution_history_refuses_a_token_of_another_order_and_pages_over_1000(
    cloud: LocalCloud, long_history: str
) -> None:
    sfn = cloud.client("stepfunctions")
    token = sfn.get_execution_history(executionArn=long_history, maxResults=5)["nextToken"]

    with pytest.raises(ClientError) as other_order:
        sfn.get_execution_history(executionArn=long_history, reverseOrder=True, nextToken=token)
    with pytest.raises(ClientError) as too_many:
        sfn.get_execution_history(executionArn=long_history, maxResults=1001)

    assert other_order.value.response["Error"]["Code"] == "InvalidToken"
    assert too_many.value.response["Error"]["Code"] == "ValidationException"


def test_execution_history_leaves_out_inputs_and_outputs_when_asked(
    cloud: LocalCloud, long_history: str
) -> None:
    sfn = cloud.client("stepfunctions")

    with_data = sfn.get_execution_history(executionArn=long_history, maxResults=1000)["events"]
    without = sfn.get_execution_history(
        executionArn=long_history, maxResults=1000, includeExecutionData=False
    )["events"]

    def data(events: list[dict[str, Any]]) -> list[str]:
        return [
            key for e in events for details in e.values() if isinstance(details, dict)
            for key in details if key in ("input", "output")
        ]  # fmt: skip

    assert data(with_data)
    assert data(without) == []
    assert [e["type"] for e in without] == [e["type"] for e in with_data]


# ------------------------------------------------------------------------- 20. CFN key policy


def test_a_key_made_by_cloudformation_keeps_its_policy_as_a_document(cloud: LocalCloud) -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Admin", "Effect": "Allow", "Action": "kms:*", "Resource": "*",
             "Principal": {"AWS": f"arn:aws:iam::{cloud.account}:root"}},
        ],
    }  # fmt: skip
    template = {
        "Resources": {"Key": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": policy}}},
        "Outputs": {"Arn": {"Value": {"Fn::GetAtt": ["Key", "Arn"]}}},
    }
    cfn = cloud.client("cloudformation")
    cfn.create_stack(StackName="key", TemplateBody=json.dumps(template))
    arn = cfn.describe_stacks(StackName="key")["Stacks"][0]["Outputs"][0]["OutputValue"]

    kms = cloud.client("kms")
    # Without the patch, any call on the key fails (moto parses the policy it stored).
    assert kms.describe_key(KeyId=arn)["KeyMetadata"]["Arn"] == arn
    assert json.loads(kms.get_key_policy(KeyId=arn, PolicyName="default")["Policy"]) == policy


# ------------------------------------------------------------------- 22. CFN list defaults


def test_a_list_parameters_default_is_a_list_as_when_it_is_passed(cloud: LocalCloud) -> None:
    template = {
        "Parameters": {"Names": {"Type": "CommaDelimitedList", "Default": "a,b"}},
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"Second": {"Value": {"Fn::Select": [1, {"Ref": "Names"}]}}},
    }
    cfn = cloud.client("cloudformation")
    for stack, passed in (("defaulted", []), ("passed", ["a,b"])):
        parameters = [{"ParameterKey": "Names", "ParameterValue": v} for v in passed]
        cfn.create_stack(StackName=stack, TemplateBody=json.dumps(template), Parameters=parameters)

        # Without the patch, the default's Fn::Select picks a character of one string
        outputs = cfn.describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]
        assert outputs[0]["OutputValue"] == "b", stack


# ---------------------------------------------------------------- 23. Service models once


def test_a_new_sessions_client_is_made_without_reading_the_models_again(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3
    from botocore.loaders import JSONFileLoader

    boto3.session.Session(region_name=cloud.region).client("sagemaker")  # read once here
    read: list[str] = []
    original = JSONFileLoader.load_file

    def counting(self: Any, file_path: str) -> Any:
        read.append(file_path)
        return original(self, file_path)

    monkeypatch.setattr(JSONFileLoader, "load_file", counting)

    # Without the patch, each session's loader reads the service model and endpoints again
    client = boto3.session.Session(region_name=cloud.region).client("sagemaker")

    assert read == []
    assert client.list_models()["Models"] == []  # a client as any other


# ---------------------------------------------------------------------------- 24. CFN names


def test_the_same_stack_in_two_local_clouds_gets_the_same_names_and_is_parsed_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:

    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": "${Topic}"}}}
    template = {
        "Resources": {
            "Topic": {"Type": "AWS::SNS::Topic"},
            "Machine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "DefinitionString": json.dumps(definition),
                    "DefinitionSubstitutions": {"Topic": {"Ref": "Topic"}},
                    "RoleArn": "arn:aws:iam::123456789012:role/r",
                },
            },
        }
    }
    parsed = count_parses(monkeypatch)

    def names(cloud: LocalCloud, stack: str) -> list[str]:
        cfn = cloud.client("cloudformation")
        cfn.create_stack(StackName=stack, TemplateBody=json.dumps(template))
        found = cfn.describe_stack_resources(StackName=stack)["StackResources"]
        return sorted(r["PhysicalResourceId"] for r in found)

    # Given the same stack deployed in one local cloud, then in another
    with LocalCloud() as first:
        in_first = names(first, "s")
        again = names(first, "t")
    with LocalCloud() as second:
        in_second = names(second, "s")

    # Then its resources have the same names, AWS's shape, and the definition is parsed once
    assert in_first == in_second
    topic = next(n for n in in_first if ":s-Topic-" in n)
    assert re.fullmatch(r"arn:aws:sns:us-east-1:123456789012:s-Topic-[0-9A-Z]{12}", topic)
    assert len(parsed) == 1 + 1  # the first cloud's two stacks name different topics
    # ... while within one cloud the names still differ
    assert topic.rsplit("-", 1)[1] not in " ".join(again)


def test_a_local_cloud_that_stops_stops_the_executions_still_running() -> None:
    # A run left going would go on in the next local cloud's state (process-wide in moto)
    with LocalCloud() as local:
        make_role(local)
        machine = state_machine(
            local, {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": True}}}
        )
        sfn = local.client("stepfunctions")
        arn = sfn.start_execution(stateMachineArn=machine, name="long")["executionArn"]
        local.stop_executions()  # at once, before its worker has started
        local.wait_until(
            lambda: sfn.describe_execution(executionArn=arn)["status"] == "ABORTED",
            timeout=5,
            what="the run aborted",
        )


def test_a_state_machine_starts_another_and_waits_for_it(cloud: LocalCloud) -> None:
    # Patch 27: Step Functions' own integration, with its PascalCase names as in AWS
    child = state_machine(
        cloud,
        {
            "StartAt": "Fail?",
            "States": {
                "Fail?": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.fail", "BooleanEquals": True, "Next": "Failed"}],
                    "Default": "Done",
                },
                "Done": {"Type": "Pass", "Result": {"x": 1}, "ResultPath": "$.r", "End": True},
                "Failed": {"Type": "Fail", "Error": "ChildFailed", "Cause": "asked to"},
            },
        },
    )
    start = {
        "Type": "Task",
        "Resource": "arn:aws:states:::states:startExecution.sync:2",
        "Parameters": {"StateMachineArn": child, "Name.$": "$.name", "Input": {"fail.$": "$.fail"}},
        "ResultSelector": {"output.$": "$.Output", "status.$": "$.Status"},
        "Catch": [{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.caught", "Next": "Caught"}],
        "End": True,
    }  # fmt: skip
    parent = state_machine(
        cloud, {"StartAt": "Start", "States": {"Start": start, "Caught": {"Type": "Succeed"}}}
    )

    done = run(cloud, parent, {"name": "kid-1", "fail": False})
    assert json.loads(done["output"]) == {
        "output": {"fail": False, "r": {"x": 1}},
        "status": "SUCCEEDED",
    }

    failed = json.loads(run(cloud, parent, {"name": "kid-2", "fail": True})["output"])
    assert failed["caught"]["Error"] == "States.TaskFailed"
    cause = json.loads(failed["caught"]["Cause"])
    assert (cause["Error"], cause["Cause"], cause["Status"]) == (
        "ChildFailed",
        "asked to",
        "FAILED",
    )

    # The same name again, with another input: AWS's error, named as AWS names it (which
    # States.TaskFailed matches, as it matches every error but States.Timeout)
    again = json.loads(run(cloud, parent, {"name": "kid-1", "fail": True})["output"])
    assert again["caught"]["Error"] == "StepFunctions.ExecutionAlreadyExistsException"
