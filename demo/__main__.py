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
import contextlib
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

from modelfresh.config import DriftCheck, ModelConfig, load_config
from modelfresh.driftplan import DriftCheckRequest

from demo import taxi
from localcloud import ROOT, LocalCloud, PipelineRun, approver
from pipelines import bundle

MODEL = "taxi-fare"
OUTPUT = ROOT / "demo-output"
DEMO_COMMENT = "Approved by make demo, the way a browser submits the form"
# How far the city has moved from the training data, in each of the three hours of traffic.
DRIFT_BY_HOUR = (0.0, 1.0, 1.0)
TRAINING_TRIPS = 6_000
# One trip per request, each with its inference id: a fare (the ground truth) labels one trip.
REQUESTS_PER_HOUR = 600
# A fare is known when the trip ends: the labels of an hour arrive in the next one.
LABELS_AFTER = timedelta(minutes=70)


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
    """A model in production before the controller watches it: its base training data, a
    champion that the retraining pipeline trained on that data alone (so it was never shown
    the pipeline's holdout, and its baseline is the pipeline's own), approved and served on
    staging and prod with auto scaling and data capture."""
    base = taxi.training_csv(taxi.trips(TRAINING_TRIPS, seed=1), seed=2)
    bucket, _, key = f"{model.training.data_uri.rstrip('/')}/part-0.csv"[5:].partition("/")
    s3 = cloud.client("s3")
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=key, Body=base.encode())
    manifest = cloud.put_json(
        f"s3://{cloud.artifacts_bucket}/demo/champion/manifest.json",
        {
            "version": 1,
            "model": model.name,
            "window": {"start": "", "end": ""},
            "capture": {"bucket": cloud.artifacts_bucket, "keys": []},
            "groundTruth": {"bucket": cloud.artifacts_bucket, "keys": []},
            "notes": ["the first model: trained on the base data alone"],
        },
    )
    # The team's first training, before the controller was installed: the same pipeline
    # definition, deployed by hand under another name (the stack deploys model.pipeline).
    first = f"{model.pipeline}-first"
    role = f"arn:aws:iam::{cloud.account}:role/sagemaker-pipelines"
    bundle.upload(s3, cloud.artifacts_bucket)
    cloud.client("sagemaker").create_pipeline(
        PipelineName=first,
        PipelineDefinition=cloud.pipeline_definition(role, cloud.artifacts_bucket),
        RoleArn=role,
    )
    cloud.client("sagemaker").start_pipeline_execution(
        PipelineName=first,
        PipelineParameters=[
            {"Name": name, "Value": value}
            for name, value in first_run_parameters(cloud, model, manifest).items()
        ],
    )
    run = cloud.pipelines.wait_for_run(first)
    champion = run.execute()
    if champion is None:
        raise SystemExit(f"the pipeline did not train a champion: {run.status}")
    cloud.client("sagemaker").update_model_package(
        ModelPackageArn=champion, ModelApprovalStatus="Approved"
    )
    report = evaluation_of(cloud, run)
    timeline.add(
        now(),
        "seed",
        f"champion {short(champion)} trained by the pipeline on {TRAINING_TRIPS:,} trips "
        f"of the city as it was (base data {model.training.data_uri}); "
        + (holdout_line(report) if report else "no evaluation report"),
    )
    cloud.seed_production(model, champion)
    deploy = model.deploy
    timeline.add(
        now(),
        "seed",
        f"{model.name} in production: champion {short(champion)} on {model.endpoints.prod}, "
        f"{deploy.instance_count} x {deploy.instance_type}, auto scaling "
        f"{deploy.autoscaling.min_instances}-{deploy.autoscaling.max_instances}, capturing "
        f"traffic to {cloud.capture_uri}",
    )
    return champion


def first_run_parameters(cloud: LocalCloud, model: ModelConfig, manifest: str) -> dict[str, str]:
    """The pipeline's parameters for the model's first training, as the controller would set
    them for a run with no drift window and no champion."""
    check = drift_check_of(model)
    gate = model.gate
    return {
        "TriggerKind": "manual",
        "TriggerId": "demo-first-model",
        "DriftWindowStart": "",
        "DriftWindowEnd": "",
        "RunName": "demo-first-model",
        "TrainingData": model.training.data_uri,
        "DriftDataset": manifest,
        "ProblemType": model.training.problem_type,
        "Objective": model.training.xgboost_objective,
        "FeatureNames": ",".join(check.features),
        "CategoricalFeatures": ",".join(check.categorical),
        "GateMetric": gate.metric,
        "GateDirection": gate.direction,
        "GateThreshold": str(gate.threshold),
        "ModelPackageGroup": model.package_group,
        "ChampionModelPackageArn": "",
        "ChampionModelData": "",
    }


def drift_check_of(model: ModelConfig) -> DriftCheck:
    if model.drift_check is None:
        raise SystemExit(f"the demo needs a [models.{model.name}.drift_check] in the config")
    return model.drift_check


def serve_hour(cloud: LocalCloud, model: ModelConfig, hour: datetime, drift: float) -> int:
    """An hour of requests to prod, each captured with its time in that hour and its inference
    id; the fares paid arrive later as ground truth, keyed by those ids."""
    runtime = cloud.client("sagemaker-runtime")
    seed = int(hour.timestamp())
    rows = taxi.trips(REQUESTS_PER_HOUR, seed=seed, drift=drift)
    ids = [f"trip-{hour:%Y%m%dT%H}-{i:04d}" for i in range(REQUESTS_PER_HOUR)]
    for i, (trip, inference_id) in enumerate(zip(taxi.csv_rows(rows), ids, strict=True)):
        cloud.hosting.capture.clock = partial(
            operator.add, hour, timedelta(seconds=i * 3600 / REQUESTS_PER_HOUR)
        )
        runtime.invoke_endpoint(
            EndpointName=model.endpoints.prod,
            ContentType="text/csv",
            Body=trip,
            InferenceId=inference_id,
        )
    cloud.flush_capture()
    cloud.ground_truth.clock = partial(operator.add, hour, LABELS_AFTER)
    fares = taxi.fares(rows, seed=seed + 1, drift=drift)
    cloud.ground_truth.write(
        ground_truth_uri(cloud, model), ((i, f"{f:g}") for i, f in zip(ids, fares, strict=True))
    )
    return len(rows)


def ground_truth_uri(cloud: LocalCloud, model: ModelConfig) -> str:
    return model.training.ground_truth_uri or f"{cloud.ground_truth_uri}/{model.name}"


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
            f"{hour:%H}:00-{hour + timedelta(hours=1):%H}:00 UTC: {trips} trips ({world}) "
            "answered and captured; their fares arrive as ground truth an hour later",
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
            for step in cloud.client("sagemaker").list_pipeline_execution_steps(
                PipelineExecutionArn=run.arn
            )["PipelineExecutionSteps"][::-1]:
                timeline.add(
                    run.ended_at,
                    "sagemaker",
                    f"   step {step['StepName']} {step['StepStatus']} "
                    f"{step.get('FailureReason', '')}".rstrip(),
                )
            report = evaluation_of(cloud, run)
            if report is not None:
                timeline.add(run.ended_at, "sagemaker", f"   {holdout_line(report)}")
            timeline.add(
                run.ended_at,
                "sagemaker",
                f"pipeline {run.status}; registered {short(run.package_arn)}",
            )


def evaluation_of(cloud: LocalCloud, run: PipelineRun) -> dict[str, Any] | None:
    """The evaluation report the run's EvaluateModel step wrote, where the pipeline puts it."""
    execution = run.arn.rsplit("/", 1)[-1]
    key = (
        f"modelfresh/pipelines/{run.pipeline}/{execution}/EvaluateModel/evaluation/evaluation.json"
    )
    try:
        body = cloud.client("s3").get_object(Bucket=cloud.artifacts_bucket, Key=key)["Body"]
    except cloud.client("s3").exceptions.NoSuchKey:
        return None
    return json.loads(body.read())  # type: ignore[no-any-return]


def holdout_line(report: Mapping[str, Any]) -> str:
    """Candidate vs champion on the same holdout, as the evaluation step computed them."""
    gate, holdout = report["gate"], report["holdout"]
    champion = "none" if gate.get("champion") is None else f"{gate['champion']:.3f}"
    return (
        f"evaluated on the same holdout ({holdout['rows']} trips, {holdout['drift_rows']} from "
        f"the drift window): candidate {gate['metric']} {gate['candidate']:.3f}, champion "
        f"{champion}"
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


def write_lambda_logs(cloud: LocalCloud) -> None:
    """Every function's log lines, oldest first, each tagged with its function."""
    with (OUTPUT / "lambda-logs.jsonl").open("w") as out:
        for line in cloud.lambda_logs():
            out.write(json.dumps(line) + "\n")


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
    cloud.seed_model(model)
    seed(cloud, model, timeline)
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
    cloud.pipelines.train_for_real(model.pipeline)

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
    write_lambda_logs(cloud)
    print(
        f"\nWritten: {os.path.relpath(OUTPUT)}/timeline.txt, drift-report.html, "
        "approval-email.txt, retrain-execution.json, deploy-execution.json, lambda-logs.jsonl"
    )
    return retrain, deploy, link


if __name__ == "__main__":
    sys.exit(main())
