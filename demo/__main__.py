"""The end-to-end demo on the local cloud (`make demo`).

The local cloud starts (moto, listening on 127.0.0.1), the app is deployed into it from
template.yaml, a model is seeded with a champion in production, its drift metric crosses the
alarm threshold, and the system takes it from there: alarm -> retrain -> pipeline -> gate ->
registry decision. The timeline is then read back from the system's own records (the
execution history, SageMaker's events, the audit table), not from prints along the way.

The pipeline's training is simulated here (metrics are scripted); the drift alarm is driven by
setting the alarm state, because the local cloud does not evaluate alarm rules on metrics.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from modelfresh.config import load_config

from localcloud import ROOT, Candidate, LocalCloud, PipelineRun
from localcloud.pipelines import XGBOOST_IMAGE

MODEL = "taxi-fare"
PIPELINE = "taxi-fare-retrain"
ALARM = "modelfresh-drift-taxi-fare"
OUTPUT = ROOT / "demo-output"
CHAMPION_RMSE = 3.95
CANDIDATE_RMSE = 3.62


class Timeline:
    """Moments from every source, printed in time order relative to the start."""

    def __init__(self) -> None:
        self.start = datetime.now(UTC)
        self.moments: list[tuple[datetime, str, str]] = []

    def add(self, at: datetime, source: str, text: str) -> None:
        self.moments.append((at.astimezone(UTC), source, text))

    def render(self) -> str:
        lines = []
        for at, source, text in sorted(self.moments, key=lambda m: m[0]):
            offset = (at - self.start).total_seconds()
            lines.append(f"{offset:6.2f}s  {source:<15} {text}")
        return "\n".join(lines)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def seed(cloud: LocalCloud, timeline: Timeline) -> str:
    """A model in production: its package group, its pipeline, an approved champion, the alarm."""
    cloud.seed_model(load_config(ROOT / "config" / "models.toml").model(MODEL))
    champion = cloud.client("sagemaker").create_model_package(
        ModelPackageGroupName=MODEL,
        ModelPackageDescription="The model in production",
        InferenceSpecification={
            "Containers": [{"Image": XGBOOST_IMAGE}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        ModelApprovalStatus="Approved",
    )["ModelPackageArn"]
    cloud.create_drift_alarm(ALARM, model=MODEL)
    timeline.add(
        datetime.now(UTC),
        "seed",
        f"model {MODEL} in production: champion {short(champion)} (rmse {CHAMPION_RMSE}), "
        f"pipeline {PIPELINE}, alarm {ALARM}",
    )
    return str(champion)


def simulated_pipeline(champion: str) -> Any:
    """What the retraining pipeline does here: 'train' for a moment, then register a candidate
    evaluated beside the champion on the same holdout (scripted metrics)."""

    def run(execution: PipelineRun) -> None:
        time.sleep(1.0)
        execution.succeed(
            Candidate(
                metrics={"rmse": CANDIDATE_RMSE, "mae": 2.41},
                champion_metrics={"rmse": CHAMPION_RMSE, "mae": 2.66},
                champion_package=champion,
            )
        )

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make demo", description=__doc__.splitlines()[0] if __doc__ else ""
    )
    parser.add_argument(
        "--keep-running", action="store_true", help="leave the local cloud up at the end"
    )
    parser.add_argument(
        "--port", type=int, default=0, help="port for the local cloud (default: a free one)"
    )
    args = parser.parse_args(argv)

    OUTPUT.mkdir(exist_ok=True)
    timeline = Timeline()
    port = args.port or free_port()
    with LocalCloud(server_port=port) as cloud:
        stack = cloud.deploy(stack_name="modelfresh-demo")
        functions = [r for r in stack.resources if r.endswith("Function")]
        timeline.add(
            datetime.now(UTC), "local cloud",
            f"{cloud.endpoint}: stack {stack.name} created from template.yaml "
            f"({len(stack.resources)} resources, {len(functions)} functions, 1 state machine)",
        )  # fmt: skip

        champion = seed(cloud, timeline)
        cloud.pipelines.script(PIPELINE, simulated_pipeline(champion))

        cloud.client("cloudwatch").put_metric_data(
            Namespace="ModelFresh/Drift",
            MetricData=[
                {
                    "MetricName": "drifted_feature_share",
                    "Dimensions": [{"Name": "model", "Value": MODEL}],
                    "Value": 0.35,
                }
            ],
        )
        timeline.add(
            datetime.now(UTC),
            "cloudwatch",
            "drifted_feature_share = 0.35 for taxi-fare (threshold 0.2)",
        )
        cloudwatch = cloud.client("cloudwatch")
        cloudwatch.set_alarm_state(
            AlarmName=ALARM,
            StateValue="ALARM",
            StateReason="Threshold Crossed: 1 datapoint [0.35] > 0.2",
        )
        alarm = cloudwatch.describe_alarms(AlarmNames=[ALARM])["MetricAlarms"][0]
        timeline.add(alarm["StateUpdatedTimestamp"], "cloudwatch", f"alarm {ALARM}: OK -> ALARM")

        sfn = cloud.client("stepfunctions")
        machine = stack.outputs["RetrainStateMachineArn"]
        execution = cloud.wait_until(
            lambda: sfn.list_executions(stateMachineArn=machine)["executions"],
            what="the retrain run",
        )[0]
        described = cloud.wait_for_execution(execution["executionArn"], timeout=60)

        record_run(cloud, stack.outputs, described, timeline)
        summary = summarise(cloud, described)
        report = timeline.render()
        print(f"modelfresh demo - the retrain loop on the local cloud ({cloud.endpoint})\n")
        print(report)
        print(f"\n{summary}")
        (OUTPUT / "timeline.txt").write_text(report + "\n\n" + summary + "\n")
        (OUTPUT / "execution.json").write_text(json.dumps(described, indent=2, default=str))
        write_lambda_logs(cloud, stack.resources)
        print(
            f"\nWritten: {OUTPUT.relative_to(ROOT)}/timeline.txt, execution.json, lambda-logs.jsonl"
        )

        if args.keep_running:
            print(f"\nThe local cloud stays up at {cloud.endpoint}. Try:\n"
                  f"  aws --endpoint-url {cloud.endpoint} --region us-east-1 stepfunctions "
                  f"get-execution-history --execution-arn {described['executionArn']}\n"
                  f"  aws --endpoint-url {cloud.endpoint} --region us-east-1 sagemaker "
                  f"list-model-packages --model-package-group-name {MODEL}\n"
                  "Press Ctrl-C to stop.")  # fmt: skip
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    return 0 if described["status"] == "SUCCEEDED" else 1


def record_run(
    cloud: LocalCloud, outputs: Mapping[str, str], described: dict[str, Any], timeline: Timeline
) -> None:
    """Read the run back from its records into the timeline."""
    sfn = cloud.client("stepfunctions")
    history = sfn.get_execution_history(executionArn=described["executionArn"], maxResults=1000)[
        "events"
    ]
    for event in history:
        if event["type"].endswith("StateEntered"):
            timeline.add(
                event["timestamp"],
                "step functions",
                f"-> {event['stateEnteredEventDetails']['name']}",
            )
        elif (
            event["type"] == "TaskSucceeded"
            and "waitForTaskToken" in event["taskSucceededEventDetails"]["resource"]
        ):
            timeline.add(
                event["timestamp"], "step functions", "   resumed by the pipeline's status event"
            )
        elif event["type"] == "ExecutionSucceeded":
            timeline.add(event["timestamp"], "step functions", f"run {described['name']} SUCCEEDED")
        elif event["type"] == "ExecutionFailed":
            timeline.add(event["timestamp"], "step functions", f"run {described['name']} FAILED")

    for run in cloud.pipelines.runs(PIPELINE):
        window = (
            f"{run.parameters.get('DriftWindowStart')} .. {run.parameters.get('DriftWindowEnd')}"
        )
        timeline.add(
            run.started_at,
            "sagemaker",
            f"pipeline execution Executing (trigger {run.parameters.get('TriggerKind')}, "
            f"drift window {window})",
        )
        if run.ended_at is not None:
            timeline.add(
                run.ended_at,
                "sagemaker",
                f"pipeline execution {run.status}; registered {short(run.package_arn)}",
            )

    dynamodb = cloud.client("dynamodb")
    audit = dynamodb.query(
        TableName=outputs["AuditTableName"],
        KeyConditionExpression="model = :m",
        ExpressionAttributeValues={":m": {"S": MODEL}},
    )["Items"]
    for item in audit:
        at = datetime.fromisoformat(item["at"]["S"])
        timeline.add(at, "audit + sns", f"[{item['kind']['S']}] {item['summary']['S']}")


def summarise(cloud: LocalCloud, described: dict[str, Any]) -> str:
    """The registry after the run, and what the run cost."""
    sfn = cloud.client("stepfunctions")
    sagemaker = cloud.client("sagemaker")
    history = sfn.get_execution_history(executionArn=described["executionArn"], maxResults=1000)
    events = history["events"]
    transitions = sum(e["type"].endswith("StateEntered") for e in events)
    packages = sagemaker.list_model_packages(ModelPackageGroupName=MODEL)
    lines = [f"Registry {MODEL}:"]
    for package in sorted(
        packages["ModelPackageSummaryList"], key=lambda p: p["ModelPackageVersion"]
    ):
        detail = sagemaker.describe_model_package(ModelPackageName=package["ModelPackageArn"])
        why = detail.get("ApprovalDescription") or detail.get("ModelPackageDescription", "")
        lines.append(
            f"  v{package['ModelPackageVersion']}  {package['ModelApprovalStatus']:<22} {why}"
        )
    seconds = (described["stopDate"] - described["startDate"]).total_seconds()
    lines.append(
        f"Run {described['name']}: {described['status']} in {seconds:.1f}s, "
        f"{transitions} state transitions, {len(events)} history events."
    )
    return "\n".join(lines)


def short(arn: str | None) -> str:
    return "nothing" if arn is None else "/".join(arn.split("/")[-2:])


def write_lambda_logs(cloud: LocalCloud, resources: Mapping[str, str]) -> None:
    with (OUTPUT / "lambda-logs.jsonl").open("w") as out:
        for logical_id in sorted(r for r in resources if r.endswith("Function")):
            for line in cloud.function_logs(logical_id):
                out.write(json.dumps({"function": logical_id, **line}) + "\n")


if __name__ == "__main__":
    sys.exit(main())
