"""The demo's timeline and summary, read back from the system's own records: execution
histories, SageMaker's pipeline executions and registry, the audit table, the endpoints."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from modelfresh.batch.steps import ENDINGS as BATCH_ENDINGS
from modelfresh.core.schema import ModelConfig
from modelfresh.promote.steps import DEPLOY_ENDINGS
from modelfresh.retrain.steps import RUN_ENDINGS

from demo.world import World
from localcloud import LocalCloud, PipelineRun


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


@dataclass(frozen=True)
class Audited:
    """One outcome in the audit table."""

    at: datetime
    run: str
    kind: str
    summary: str


def now() -> datetime:
    return datetime.now(UTC)


def short(arn: str | None) -> str:
    return "nothing" if arn is None else "/".join(arn.split("/")[-2:])


def history(cloud: LocalCloud, execution_arn: str) -> Iterator[dict[str, Any]]:
    """An execution's history events, oldest first, page by page (nextToken)."""
    pages = cloud.client("stepfunctions").get_paginator("get_execution_history")
    for page in pages.paginate(executionArn=execution_arn, PaginationConfig={"PageSize": 1000}):
        yield from page["events"]


def failure_of(described: Mapping[str, Any]) -> str:
    """Why a run ended FAILED, as DescribeExecution says ("" if it did not fail)."""
    if described["status"] != "FAILED":
        return ""
    return ": ".join(str(described[k]) for k in ("error", "cause") if described.get(k))


def audit(cloud: LocalCloud, table: str, model: str) -> list[Audited]:
    """The model's outcomes, in time order."""
    pages = cloud.client("dynamodb").get_paginator("query")
    found = []
    for page in pages.paginate(
        TableName=table,
        KeyConditionExpression="model = :m",
        ExpressionAttributeValues={":m": {"S": model}},
    ):
        for item in page["Items"]:
            found.append(
                Audited(
                    at=datetime.fromisoformat(item["at"]["S"]),
                    run=item["run"]["S"],
                    kind=item["kind"]["S"],
                    summary=item["summary"]["S"],
                )
            )
    return sorted(found, key=lambda a: a.at)


def run_ending(cloud: LocalCloud, table: str, model: str, run: str) -> Audited | None:
    """How a run ended, as its last audit record of an ending says."""
    endings = RUN_ENDINGS | DEPLOY_ENDINGS | set(BATCH_ENDINGS.values())
    found = [a for a in audit(cloud, table, model) if a.run == run and a.kind in endings]
    return found[-1] if found else None


def pipeline_failure(cloud: LocalCloud, run: PipelineRun) -> str:
    """SageMaker's FailureReason of a pipeline execution ("" if none)."""
    described = cloud.client("sagemaker").describe_pipeline_execution(PipelineExecutionArn=run.arn)
    return str(described.get("FailureReason") or "")


def evaluation_of(cloud: LocalCloud, run: PipelineRun) -> dict[str, Any] | None:
    """The evaluation report the run's EvaluateModel step wrote, where the pipeline puts it."""
    execution = run.arn.rsplit("/", 1)[-1]
    key = (
        f"modelfresh/pipelines/{run.pipeline}/{execution}/EvaluateModel/evaluation/evaluation.json"
    )
    s3 = cloud.client("s3")
    try:
        body = s3.get_object(Bucket=cloud.artifacts_bucket, Key=key)["Body"]
    except s3.exceptions.NoSuchKey:
        return None
    return json.loads(body.read())  # type: ignore[no-any-return]


def holdout_line(report: Mapping[str, Any], world: World) -> str:
    """Candidate vs champion on the same holdout, as the evaluation step computed them."""
    gate, holdout = report["gate"], report["holdout"]
    champion = "none" if gate.get("champion") is None else f"{gate['champion']:.3f}"
    return (
        f"evaluated on the same holdout ({holdout['rows']} {world.noun}, {holdout['drift_rows']} "
        f"from the drift window): candidate {gate['metric']} {gate['candidate']:.3f}, champion "
        f"{champion}"
    )


# -- the timeline ------------------------------------------------------------------------------


def record_execution(
    cloud: LocalCloud, described: Mapping[str, Any], source: str, timeline: Timeline
) -> None:
    """A run's states and callbacks from its execution history."""
    for event in history(cloud, described["executionArn"]):
        kind = event["type"]
        if kind.endswith("StateEntered"):
            timeline.add(
                event["timestamp"], source, f"-> {event['stateEnteredEventDetails']['name']}"
            )
        elif kind == "TaskSucceeded" and "waitForTaskToken" in str(
            event["taskSucceededEventDetails"].get("resource")
        ):
            timeline.add(event["timestamp"], source, "   resumed by its callback")
        elif kind in ("ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted"):
            failure = failure_of(described)
            timeline.add(
                event["timestamp"],
                source,
                f"run {described['name']} {described['status']}"
                + (f" ({failure})" if failure else ""),
            )


def record_pipelines(
    cloud: LocalCloud, model: ModelConfig, world: World, timeline: Timeline
) -> None:
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
        if run.ended_at is None:
            continue
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
            timeline.add(run.ended_at, "sagemaker", f"   {holdout_line(report, world)}")
        reason = pipeline_failure(cloud, run)
        timeline.add(
            run.ended_at,
            "sagemaker",
            f"pipeline {run.status}"
            + (f": {reason}" if reason else f"; registered {short(run.package_arn)}"),
        )


def record_audit(cloud: LocalCloud, table: str, model: str, timeline: Timeline) -> None:
    for item in audit(cloud, table, model):
        timeline.add(item.at, "audit + sns", f"[{item.kind}] {item.summary}")


def summarise(
    cloud: LocalCloud,
    model: ModelConfig,
    outputs: Mapping[str, str],
    runs: Sequence[Mapping[str, Any]],
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

    for name in (model.live.staging, model.live.prod):
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
        ResourceId=f"endpoint/{model.live.prod}/variant/{model.deploy.variant}",
    )["ScalingPolicies"]
    lines.append(f"Auto scaling on prod: {', '.join(p['PolicyName'] for p in policies) or 'none'}")

    state = (
        cloud.client("dynamodb")
        .get_item(TableName=outputs["ModelStateTableName"], Key={"model": {"S": model.name}})
        .get("Item", {})
    )
    if "champion_package" in state:
        baseline = state.get("baseline_statistics", {}).get("S", "none")
        lines.append(
            f"Champion: {short(state['champion_package']['S'])} since "
            f"{state['champion_since']['S']}; drift baseline {baseline}"
        )
    for run in runs:
        events = list(history(cloud, run["executionArn"]))
        transitions = sum(e["type"].endswith("StateEntered") for e in events)
        took = (
            f" in {(run['stopDate'] - run['startDate']).total_seconds():.1f}s"
            if "stopDate" in run
            else ""
        )
        lines.append(
            f"Run {run['name']}: {run['status']}{took}, {transitions} state transitions, "
            f"{len(events)} history events"
        )
    return "\n".join(lines)
