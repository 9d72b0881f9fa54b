"""The end-to-end demo on the local cloud (`make demo`).

The local cloud starts (moto, listening on 127.0.0.1), a model is in production (a champion
trained on synthetic taxi trips, with the drift baseline our engine computed from its training
data, served on staging and on two prod instances with auto scaling, capturing traffic), the
app is deployed into the cloud from template.yaml, and three hours of requests reach prod: the
first like the training data, the next two from a city that has changed. The system takes it
from there:

    captured traffic -> hourly drift checks -> metrics -> the drift alarm (2 of 3 hours)
    -> retrain run -> pipeline -> gate -> Approved in the registry
    -> deploy run -> staging -> smoke test -> approval email -> a person approves
    -> blue/green deployment to prod -> new champion, drift baseline re-pointed

By default the demo approves like a browser would (GET the link from the email, POST the
form). With --wait-for-approval it prints the link and waits for you to open it in a browser
on this machine and click. The timeline is read back from the system's own records (the
execution histories, SageMaker's events, the audit table), not from prints along the way.

Simulated here, until the issue that makes it real lands: the pipeline's run (scripted
metrics; the candidate's model is trained by the local cloud on the changed city's trips). The
endpoints serve real predictions from the models they were deployed with. The hours of traffic
are sent in seconds, each stamped with its hour as SageMaker's capture would be.
"""

from __future__ import annotations

import argparse
import io
import json
import operator
import os
import socket
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from driftcheck import DriftSettings, FeatureSpec, baseline_csv
from modelfresh.config import DriftCheck, ModelConfig, load_config
from modelfresh.driftplan import DriftCheckRequest

from demo import taxi
from localcloud import ROOT, Candidate, LocalCloud, PipelineRun, TaxiModel, approver

MODEL = "taxi-fare"
OUTPUT = ROOT / "demo-output"
CHAMPION_METRICS = {"rmse": 3.95, "mae": 2.66}
CANDIDATE_METRICS = {"rmse": 3.62, "mae": 2.41}
DEMO_COMMENT = "Approved by make demo, the way a browser submits the form"
# How far the city has moved from the training data, in each of the three hours of traffic.
DRIFT_BY_HOUR = (0.0, 1.0, 1.0)
TRAINING_TRIPS = 50_000
# The champion learnt the city as it was; the retrain learns it as it has become.
CHAMPION_MODEL = TaxiModel(trips=TRAINING_TRIPS, trips_seed=1, fares_seed=2)
CANDIDATE_MODEL = TaxiModel(trips=TRAINING_TRIPS, trips_seed=3, fares_seed=4, drift=1.0)
REQUESTS_PER_HOUR = 120
TRIPS_PER_REQUEST = 5


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
            lines.append(f"{offset:7.2f}s  {source:<13} {text}")
        return "\n".join(lines)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def now() -> datetime:
    return datetime.now(UTC)


def short(arn: str | None) -> str:
    return "nothing" if arn is None else "/".join(arn.split("/")[-2:])


# -- the story -------------------------------------------------------------------------------


def seed(cloud: LocalCloud, model: ModelConfig, timeline: Timeline) -> str:
    """A model in production before the controller arrives: package group, pipeline, an
    approved champion (with its drift baseline) served on staging and prod, auto scaling."""
    cloud.seed_model(model)
    champion = cloud.register_package(
        model.package_group,
        "Approved",
        description="The model in production",
        model=CHAMPION_MODEL,
        DriftCheckBaselines=champion_baseline(cloud, model, timeline),
    )
    cloud.seed_production(model, champion)
    deploy = model.deploy
    timeline.add(
        now(),
        "seed",
        f"{model.name} in production: champion {short(champion)} (rmse "
        f"{CHAMPION_METRICS['rmse']}) on {model.endpoints.prod}, {deploy.instance_count} x "
        f"{deploy.instance_type}, auto scaling {deploy.autoscaling.min_instances}-"
        f"{deploy.autoscaling.max_instances}, capturing traffic to {cloud.capture_uri}",
    )
    return champion


def champion_baseline(cloud: LocalCloud, model: ModelConfig, timeline: Timeline) -> Any:
    """The champion's training data and the baseline our engine computes from it (what the
    retraining pipeline's baseline step does), registered with the champion's package."""
    training = training_csv(CHAMPION_MODEL)
    prefix = f"s3://{cloud.artifacts_bucket}/{model.pipeline}/champion"
    bucket, _, key = f"{prefix}/data/train.csv".removeprefix("s3://").partition("/")
    cloud.client("s3").put_object(Bucket=bucket, Key=key, Body=training.encode())
    statistics, constraints = baseline_of(model, training)
    files = {
        kind: cloud.put_json(f"{prefix}/baseline/{kind.lower()}.json", document)
        for kind, document in (("Statistics", statistics), ("Constraints", constraints))
    }
    timeline.add(
        now(),
        "seed",
        f"baseline of {TRAINING_TRIPS:,} training trips x {len(drift_check_of(model).features)} "
        f"features: {files['Statistics']}",
    )
    return {
        "ModelDataQuality": {
            kind: {"ContentType": "application/json", "S3Uri": uri} for kind, uri in files.items()
        }
    }


def training_csv(model: TaxiModel) -> str:
    """The data a model is trained on, as the training step reads it (the fare first)."""
    rows, _ = model.training_data()
    return taxi.training_csv(rows, seed=model.fares_seed)


def baseline_of(model: ModelConfig, training: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """statistics.json and constraints.json of training data (the fare first, no header)."""
    check = drift_check_of(model)
    features = [
        FeatureSpec(name, "categorical" if name in check.categorical else "numeric")
        for name in check.features
    ]
    settings = DriftSettings(threshold=check.threshold, method=check.method)
    return baseline_csv(
        io.StringIO(training),
        features,
        settings,
        header=False,
        columns=["fare", *check.features],
    )


def drift_check_of(model: ModelConfig) -> DriftCheck:
    if model.drift_check is None:
        raise SystemExit(f"the demo needs a [models.{model.name}.drift_check] in the config")
    return model.drift_check


def simulated_training(champion: str, model: ModelConfig) -> Any:
    """What the retraining pipeline does here: learn from the drifted window's trips, make the
    baseline of that training data, and register a candidate evaluated beside the champion on
    the same holdout (scripted metrics until real training lands)."""

    def run(execution: PipelineRun) -> None:
        training = training_csv(CANDIDATE_MODEL)
        execution.succeed(
            Candidate(
                metrics=CANDIDATE_METRICS,
                model=CANDIDATE_MODEL,
                champion_metrics=CHAMPION_METRICS,
                champion_package=champion,
                baseline=baseline_of(model, training),
            )
        )

    return run


def serve_hour(cloud: LocalCloud, model: ModelConfig, hour: datetime, drift: float) -> int:
    """An hour of requests to prod, each captured with its time in that hour."""
    runtime = cloud.client("sagemaker-runtime")
    trips = taxi.csv_rows(
        taxi.trips(REQUESTS_PER_HOUR * TRIPS_PER_REQUEST, seed=int(hour.timestamp()), drift=drift)
    )
    for i in range(REQUESTS_PER_HOUR):
        cloud.hosting.capture.clock = partial(
            operator.add, hour, timedelta(seconds=i * 3600 / REQUESTS_PER_HOUR)
        )
        body = "\n".join(trips[i * TRIPS_PER_REQUEST : (i + 1) * TRIPS_PER_REQUEST])
        runtime.invoke_endpoint(
            EndpointName=model.endpoints.prod, ContentType="text/csv", Body=body
        )
    cloud.flush_capture()
    return len(trips)


def check_hour(
    cloud: LocalCloud,
    model: ModelConfig,
    outputs: Mapping[str, str],
    hour: datetime,
    timeline: Timeline,
) -> dict[str, Any]:
    """The drift check of [hour, hour + 1h), started as the hourly schedule starts it."""
    request = DriftCheckRequest(MODEL, hour + timedelta(hours=1, minutes=10))
    started = cloud.client("stepfunctions").start_execution(
        stateMachineArn=outputs["DriftCheckStateMachineArn"],
        name=request.execution_name(drift_check_of(model)),
        input=request.to_json(),
    )
    described = cloud.wait_for_execution(started["executionArn"], timeout=60)
    result = json.loads(described["output"])["result"]
    worst = ", ".join(result["drifted"][:4]) or "none"
    timeline.add(
        described["stopDate"],
        "drift check",
        f"{hour:%H}:00 window: {result['rows']} rows, {result['driftedShare']:.0%} of "
        f"features drifted ({worst}); report {result['report']}",
    )
    return described


def traffic_and_drift_checks(
    cloud: LocalCloud, model: ModelConfig, outputs: Mapping[str, str], timeline: Timeline
) -> list[dict[str, Any]]:
    """Three hours of requests to prod, each hour checked for drift, and the alarm evaluated
    on the metrics the checks publish (CloudWatch does it every minute)."""
    latest = now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    checks = []
    for hours_back, drift in zip((2, 1, 0), DRIFT_BY_HOUR, strict=True):
        hour = latest - timedelta(hours=hours_back)
        trips = serve_hour(cloud, model, hour, drift)
        world = "like the training data" if drift == 0 else "longer trips, later pickups"
        timeline.add(
            now(),
            "prod",
            f"{hour:%H}:00-{hour + timedelta(hours=1):%H}:00 UTC: {REQUESTS_PER_HOUR} requests "
            f"({trips} trips, {world}) answered and captured",
        )
        checks.append(check_hour(cloud, model, outputs, hour, timeline))
        evaluated_at = now()
        for change in cloud.evaluate_alarms(hour + timedelta(hours=1, minutes=10)):
            timeline.add(
                evaluated_at,
                "cloudwatch",
                f"{change.alarm} {change.old} -> {change.new}: {change.reason}",
            )
    report = json.loads(checks[-1]["output"])["result"]["report"]
    bucket, _, key = report.removeprefix("s3://").partition("/")
    body = cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    (OUTPUT / "drift-report.html").write_bytes(body)
    return checks


def the_next_hour(
    cloud: LocalCloud, model: ModelConfig, outputs: Mapping[str, str], timeline: Timeline
) -> dict[str, Any]:
    """After the promotion: the changed city's traffic, checked against the new champion's
    baseline. It no longer drifts, so the loop settles instead of retraining forever."""
    hour = now().replace(minute=0, second=0, microsecond=0)
    trips = serve_hour(cloud, model, hour, DRIFT_BY_HOUR[-1])
    timeline.add(
        now(),
        "prod",
        f"{hour:%H}:00-{hour + timedelta(hours=1):%H}:00 UTC: {trips} trips, the changed "
        "city, served by v2",
    )
    return check_hour(cloud, model, outputs, hour, timeline)


def only_execution(cloud: LocalCloud, state_machine: str, what: str) -> dict[str, Any]:
    sfn = cloud.client("stepfunctions")
    found = cloud.wait_until(
        lambda: sfn.list_executions(stateMachineArn=state_machine)["executions"],
        timeout=60,
        what=what,
    )
    return found[0]  # type: ignore[no-any-return]


def approval_email(cloud: LocalCloud, topic: str, deploy_arn: str) -> dict[str, Any]:
    """The approval email, once the deploy run asks (or the run, if it stopped before)."""
    sfn = cloud.client("stepfunctions")

    def arrived() -> Any:
        emails = cloud.notifications(topic)
        if emails:
            return emails[0]
        if sfn.describe_execution(executionArn=deploy_arn)["status"] != "RUNNING":
            raise RuntimeError("the deploy run ended before asking for approval")
        return None

    return cloud.wait_until(arrived, timeout=120, what="the approval email")  # type: ignore[no-any-return]


def wait_for_a_person(cloud: LocalCloud, deploy_arn: str) -> None:
    print(
        "\nOpen the link above in a browser on this machine, read the page and decide.\n"
        "(The local cloud's EventBridge schedules run meanwhile, so the heartbeat keeps the\n"
        "approval open; Ctrl-C stops the demo.) Waiting for your decision...",
        flush=True,
    )
    sfn = cloud.client("stepfunctions")
    while sfn.describe_execution(executionArn=deploy_arn)["status"] == "RUNNING":
        history = sfn.get_execution_history(
            executionArn=deploy_arn, reverseOrder=True, maxResults=5
        )["events"]
        if any(e["type"] in ("TaskSucceeded", "TaskFailed") for e in history):
            break  # decided: the rest of the deploy follows
        time.sleep(1.0)
    print("Decision received.\n", flush=True)


# -- reading it back ---------------------------------------------------------------------------


def record_execution(
    cloud: LocalCloud, described: dict[str, Any], source: str, timeline: Timeline
) -> None:
    """A run's states and callbacks from its execution history."""
    sfn = cloud.client("stepfunctions")
    history = sfn.get_execution_history(executionArn=described["executionArn"], maxResults=1000)
    for event in history["events"]:
        kind = event["type"]
        if kind.endswith("StateEntered"):
            timeline.add(
                event["timestamp"], source, f"-> {event['stateEnteredEventDetails']['name']}"
            )
        elif kind == "TaskSucceeded" and "waitForTaskToken" in str(
            event["taskSucceededEventDetails"].get("resource")
        ):
            timeline.add(event["timestamp"], source, "   resumed by its callback")
        elif kind in ("ExecutionSucceeded", "ExecutionFailed"):
            timeline.add(
                event["timestamp"], source, f"run {described['name']} {described['status']}"
            )


def record_pipelines(cloud: LocalCloud, model: ModelConfig, timeline: Timeline) -> None:
    for run in cloud.pipelines.runs(model.pipeline):
        params = run.parameters
        timeline.add(
            run.started_at,
            "sagemaker",
            f"pipeline {model.pipeline} Executing (trigger {params.get('TriggerKind')}, drift "
            f"window {params.get('DriftWindowStart')} .. {params.get('DriftWindowEnd')})",
        )
        # The drift dataset the run's plan wrote, as the pipeline reads it.
        bucket, _, key = params["DriftDataset"].removeprefix("s3://").partition("/")
        manifest = json.loads(cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
        timeline.add(
            run.started_at,
            "sagemaker",
            f"   drift dataset {params['DriftDataset']}: "
            f"{len(manifest['capture']['keys'])} captured object(s), "
            f"{len(manifest['groundTruth']['keys'])} of ground truth",
        )
        for note in manifest["notes"]:
            timeline.add(run.started_at, "sagemaker", f"   note: {note}")
        if run.ended_at is not None:
            timeline.add(
                run.ended_at,
                "sagemaker",
                f"pipeline {run.status}; registered {short(run.package_arn)}",
            )


def record_audit(cloud: LocalCloud, outputs: Mapping[str, str], timeline: Timeline) -> None:
    items = cloud.client("dynamodb").query(
        TableName=outputs["AuditTableName"],
        KeyConditionExpression="model = :m",
        ExpressionAttributeValues={":m": {"S": MODEL}},
    )["Items"]
    for item in items:
        at = datetime.fromisoformat(item["at"]["S"])
        timeline.add(at, "audit + sns", f"[{item['kind']['S']}] {item['summary']['S']}")


def summarise(
    cloud: LocalCloud, model: ModelConfig, outputs: Mapping[str, str], runs: list[dict[str, Any]]
) -> str:
    """The registry, production and the model's records after the runs, and what they cost."""
    sagemaker = cloud.client("sagemaker")
    lines = [f"Registry {model.package_group}:"]
    summaries = sagemaker.list_model_packages(ModelPackageGroupName=model.package_group)
    for package in sorted(
        summaries["ModelPackageSummaryList"], key=lambda p: p["ModelPackageVersion"]
    ):
        detail = sagemaker.describe_model_package(ModelPackageName=package["ModelPackageArn"])
        why = detail.get("ApprovalDescription") or detail.get("ModelPackageDescription", "")
        lines.append(
            f"  v{package['ModelPackageVersion']}  {package['ModelApprovalStatus']:<9} {why}"
        )

    for name in (model.endpoints.staging, model.endpoints.prod):
        endpoint = sagemaker.describe_endpoint(EndpointName=name)
        config = sagemaker.describe_endpoint_config(
            EndpointConfigName=endpoint["EndpointConfigName"]
        )
        variant = config["ProductionVariants"][0]
        container = sagemaker.describe_model(ModelName=variant["ModelName"])["PrimaryContainer"]
        capture = "on" if config.get("DataCaptureConfig", {}).get("EnableCapture") else "off"
        lines.append(
            f"Endpoint {name}: {endpoint['EndpointStatus']}, serves "
            f"{short(container.get('ModelPackageName'))} on {variant['InitialInstanceCount']} x "
            f"{variant['InstanceType']} (variant {variant['VariantName']}, data capture {capture})"
        )
    policies = cloud.client("application-autoscaling").describe_scaling_policies(
        ServiceNamespace="sagemaker",
        ResourceId=f"endpoint/{model.endpoints.prod}/variant/{model.deploy.variant}",
    )["ScalingPolicies"]
    lines.append(f"Auto scaling on prod: {', '.join(p['PolicyName'] for p in policies) or 'none'}")

    state = cloud.client("dynamodb").get_item(
        TableName=outputs["ModelStateTableName"], Key={"model": {"S": MODEL}}
    )["Item"]
    if "champion_package" in state:
        baseline = state.get("baseline_statistics", {}).get("S", "none")
        lines.append(
            f"Champion: {short(state['champion_package']['S'])} since "
            f"{state['champion_since']['S']}; drift baseline {baseline}"
        )
    sfn = cloud.client("stepfunctions")
    for run in runs:
        events = sfn.get_execution_history(executionArn=run["executionArn"], maxResults=1000)[
            "events"
        ]
        transitions = sum(e["type"].endswith("StateEntered") for e in events)
        seconds = (run["stopDate"] - run["startDate"]).total_seconds()
        lines.append(
            f"Run {run['name']}: {run['status']} in {seconds:.1f}s, {transitions} state "
            f"transitions, {len(events)} history events"
        )
    return "\n".join(lines)


def write_lambda_logs(cloud: LocalCloud, resources: Mapping[str, str]) -> None:
    with (OUTPUT / "lambda-logs.jsonl").open("w") as out:
        for logical_id in sorted(r for r in resources if r.endswith("Function")):
            for line in cloud.function_logs(logical_id):
                out.write(json.dumps({"function": logical_id, **line}) + "\n")


# -- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make demo", description=__doc__.splitlines()[0] if __doc__ else ""
    )
    parser.add_argument(
        "--wait-for-approval",
        action="store_true",
        help="wait for a person to open the emailed link and decide (default: approve as a "
        "browser would)",
    )
    parser.add_argument(
        "--keep-running", action="store_true", help="leave the local cloud up at the end"
    )
    parser.add_argument(
        "--port", type=int, default=0, help="port for the local cloud (default: a free one)"
    )
    args = parser.parse_args(argv)

    OUTPUT.mkdir(exist_ok=True)
    model = load_config(ROOT / "config" / "models.toml").model(MODEL)
    interactive = args.wait_for_approval or args.keep_running
    with LocalCloud(server_port=args.port or free_port(), run_schedules=interactive) as cloud:
        retrain, deploy, link = run_the_loop(cloud, model, args.wait_for_approval)
        if args.keep_running:
            print(
                f"\nThe local cloud stays up at {cloud.endpoint}. Try:\n"
                f"  aws --endpoint-url {cloud.endpoint} --region us-east-1 stepfunctions "
                f"get-execution-history --execution-arn {deploy['executionArn']}\n"
                f"  aws --endpoint-url {cloud.endpoint} --region us-east-1 sagemaker "
                f"list-model-packages --model-package-group-name {MODEL}\n"
                f"  open {link} (decided now: it says so)\n"
                "Press Ctrl-C to stop."
            )
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    succeeded = retrain["status"] == deploy["status"] == "SUCCEEDED"
    return 0 if succeeded else 1


def run_the_loop(
    cloud: LocalCloud, model: ModelConfig, wait_for_approval: bool
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Drift alarm to production; prints and writes the timeline. Returns both runs, described,
    and the approval link."""
    timeline = Timeline()
    champion = seed(cloud, model, timeline)
    stack = cloud.deploy(stack_name="modelfresh-demo")
    outputs = stack.outputs
    functions = [r for r in stack.resources if r.endswith("Function")]
    timeline.add(
        now(),
        "local cloud",
        f"{cloud.endpoint}: stack {stack.name} created from template.yaml "
        f"({len(stack.resources)} resources, {len(functions)} functions, 3 state machines, "
        f"approval API at {cloud.api_url('ApprovalApi')})",
    )
    cloud.pipelines.script(model.pipeline, simulated_training(champion, model))

    checks = traffic_and_drift_checks(cloud, model, outputs, timeline)
    retrain = only_execution(cloud, outputs["RetrainStateMachineArn"], "the retrain run")
    retrain = cloud.wait_for_execution(retrain["executionArn"], timeout=60)
    deploy = only_execution(cloud, outputs["DeployStateMachineArn"], "the deploy run")

    email = approval_email(cloud, outputs["ApprovalsTopicArn"], deploy["executionArn"])
    link = approver.link_in(email["email"])
    (OUTPUT / "approval-email.txt").write_text(f"Subject: {email['subject']}\n\n{email['email']}")
    print(f"modelfresh demo - the whole loop on the local cloud ({cloud.endpoint})\n")
    print(f"The approval email (SNS, to the approvers):\n\nSubject: {email['subject']}\n")
    print(email["email"].rstrip())
    if wait_for_approval:
        wait_for_a_person(cloud, deploy["executionArn"])
    else:
        status, _ = approver.decide(link, "approve", DEMO_COMMENT)
        print(f"\nThe demo opened the link and clicked Approve (HTTP {status}).\n")
    deploy = cloud.wait_for_execution(deploy["executionArn"], timeout=180)
    settled = the_next_hour(cloud, model, outputs, timeline)

    record_execution(cloud, retrain, "retrain run", timeline)
    record_execution(cloud, deploy, "deploy run", timeline)
    record_pipelines(cloud, model, timeline)
    record_audit(cloud, outputs, timeline)
    summary = summarise(cloud, model, outputs, [checks[-1], retrain, deploy, settled])
    report = timeline.render()
    print(f"{report}\n\n{summary}")
    (OUTPUT / "timeline.txt").write_text(f"{report}\n\n{summary}\n")
    for name, described in (("retrain", retrain), ("deploy", deploy)):
        (OUTPUT / f"{name}-execution.json").write_text(json.dumps(described, indent=2, default=str))
    write_lambda_logs(cloud, stack.resources)
    print(
        f"\nWritten: {os.path.relpath(OUTPUT)}/timeline.txt, drift-report.html, "
        "approval-email.txt, retrain-execution.json, deploy-execution.json, lambda-logs.jsonl"
    )
    return retrain, deploy, link


if __name__ == "__main__":
    sys.exit(main())
