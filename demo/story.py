"""The demo's story on the local cloud, told line by line as it happens: a model in production,
traffic that drifts, and the system taking it from there. At the end the timeline is read back
from the system's own records (demo.records), whatever the system decided.

Over 500 lines on purpose: it is the demo's script, read top to bottom in the order it is told.
"""

from __future__ import annotations

import contextlib
import json
import operator
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Literal

from modelfresh.core.schema import DriftCheck, ModelConfig
from modelfresh.drift.plan import DriftCheckRequest
from modelfresh.quality.plan import QualityCheckRequest, execution_name, quality_summary

from demo import records
from demo.records import Audited, Timeline, now, short
from demo.world import World, csv_rows, training_csv
from localcloud import LocalCloud, PipelineRun, Stack, approver
from pipelines import bundle

DEMO_COMMENT = "Approved by make demo, the way a browser submits the form"
# How far the world has moved from the training data, in each of the three hours of traffic.
DRIFT_BY_HOUR = (0.0, 1.0, 1.0)
TRAINING_ROWS = 6_000
# One row per request, each with its inference id: a label (the ground truth) names one request.
REQUESTS_PER_HOUR = 600
# The labels of an hour arrive in the next one (a fare when the trip ends, say).
LABELS_AFTER = timedelta(minutes=70)
# Longer than any step takes on a loaded machine; past it the demo says what it waited for.
STEP_TIMEOUT = 600.0
POLL_SECONDS = 0.2
APPROVAL_STATE = "Ask for approval"
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
FILES = (
    "timeline.txt",
    "drift-report.html",
    "approval-email.txt",
    "retrain-execution.json",
    "deploy-execution.json",
    "lambda-logs.jsonl",
)


class Stuck(Exception):
    """Something the demo waits for did not happen in time."""


@dataclass(frozen=True)
class Ending:
    """How the loop ended and why, as the records say. promoted: the candidate serves prod;
    decided: the system chose not to promote (no alarm, a rejected candidate, a person's no);
    failed: a run failed or the demo got stuck; interrupted: Ctrl-C while waiting."""

    kind: Literal["promoted", "decided", "failed", "interrupted"]
    why: str


def ending_of(described: Mapping[str, Any], outcome: Audited | None) -> Ending:
    """The ending of a run that did not lead on to production."""
    why = outcome.summary if outcome is not None else records.failure_of(described)
    failed = described["status"] != "SUCCEEDED"
    return Ending(
        "failed" if failed else "decided",
        f"{described['name']} {described['status']}: {why or 'no outcome recorded'}",
    )


def no_alarm(alarm: Mapping[str, Any] | None, shares: list[float]) -> Ending:
    """The ending when the drift checks did not move the alarm: what it needs, what was found."""
    found = ", ".join(f"{share:.0%}" for share in shares)
    if alarm is None:
        return Ending("decided", f"no retrain: no drift alarm exists (checks found {found})")
    return Ending(
        "decided",
        f"no retrain: the alarm {alarm['AlarmName']} is {alarm['StateValue']}; it goes to ALARM "
        f"when more than {alarm['Threshold']:.0%} of features drift in "
        f"{alarm.get('DatapointsToAlarm', alarm['EvaluationPeriods'])} of the last "
        f"{alarm['EvaluationPeriods']} checks, and the hourly checks found {found} "
        "(drift below the alarm's share is recorded, and retrains nothing)",
    )


class Story:
    """One model's loop on the local cloud, told as it happens and read back at the end."""

    def __init__(
        self,
        cloud: LocalCloud,
        model: ModelConfig,
        world: World,
        *,
        config: Path,
        output: Path,
        say: Callable[[str, str], None],
    ) -> None:
        """config: the models file the app is deployed with (it must name `model`);
        output: where the demo writes its files; say(stage, text): tells progress."""
        self.cloud = cloud
        self.config = config
        self.model = model
        self.world = world
        self.output = output
        self.say = say
        self.timeline = Timeline()
        self.stack: Stack | None = None
        self.checks: list[dict[str, Any]] = []
        self.runs: dict[str, dict[str, Any]] = {}  # "retrain" / "deploy" -> described
        self.link = ""
        self._told_events: dict[str, int] = {}  # execution ARN -> last history event told
        self._told_pipelines: dict[str, str] = {}  # pipeline execution ARN -> status told

    @property
    def outputs(self) -> Mapping[str, str]:
        if self.stack is None:
            raise RuntimeError("deploy first")
        return self.stack.outputs

    # -- the loop ------------------------------------------------------------------------------

    def run(self, wait_for_approval: bool) -> Ending:
        """Drift to production (or to whatever the system decides); then the timeline."""
        for name in FILES:
            (self.output / name).unlink(missing_ok=True)  # an earlier run's files would mislead
        try:
            ending = self.loop(wait_for_approval)
        except Stuck as stuck:
            ending = Ending("failed", str(stuck))
        self.read_back(ending)
        return ending

    def loop(self, wait_for_approval: bool) -> Ending:
        self.cloud.seed_model(self.model)
        self.seed()
        self.deploy_app()
        shares = self.traffic_and_drift_checks()
        alarm = self.drift_alarm()
        if alarm is None or alarm["StateValue"] != "ALARM":
            return no_alarm(alarm, shares)

        retrain = self.follow(self.started("RetrainStateMachineArn", "retrain"), "retrain")
        self.runs["retrain"] = retrain
        outcome = self.told_ending(retrain)
        if outcome is None or outcome.kind != "approved":
            return ending_of(retrain, outcome)

        arn = self.started("DeployStateMachineArn", "deploy")
        deploy = self.follow(arn, "deploy", until=self.approval_email)
        self.runs["deploy"] = deploy
        if deploy["status"] != "RUNNING":
            return ending_of(deploy, self.told_ending(deploy))
        self.show_approval_email()
        if wait_for_approval:
            if not self.wait_for_a_person(arn):
                self.runs["deploy"] = self.describe(arn)
                return Ending(
                    "interrupted",
                    "stopped by Ctrl-C while the approval was open; nothing was decided",
                )
        else:
            status, _ = approver.decide(self.link, "approve", DEMO_COMMENT)
            self.say("approval", f"the demo opened the link and clicked Approve (HTTP {status})")
        deploy = self.follow(arn, "deploy")
        self.runs["deploy"] = deploy
        outcome = self.told_ending(deploy)
        if outcome is None or outcome.kind != "promoted":
            return ending_of(deploy, outcome)
        self.the_next_hour()
        return Ending("promoted", outcome.summary)

    # -- before the controller -----------------------------------------------------------------

    def seed(self) -> str:
        """A model in production before the controller watches it: its base training data, a
        champion that the retraining pipeline trained on that data alone (so it was never shown
        the pipeline's holdout, and its baseline is the pipeline's own), approved and served on
        staging and prod with auto scaling and data capture."""
        cloud, model, world = self.cloud, self.model, self.world
        base_data = model.training_data_uri(cloud.data_bucket)
        self.base_data()
        run, champion = self.first_training()
        sagemaker = cloud.client("sagemaker")
        sagemaker.update_model_package(ModelPackageArn=champion, ModelApprovalStatus="Approved")
        report = records.evaluation_of(cloud, run)
        trained = (
            f"champion {short(champion)} trained by the pipeline on {TRAINING_ROWS:,} "
            f"{world.noun} of the world as it was (base data {base_data}); "
            + (records.holdout_line(report, world) if report else "no evaluation report")
        )
        self.say("seed", trained)
        self.timeline.add(now(), "seed", trained)
        cloud.seed_production(model, champion)
        deploy = model.deploy
        serving = (
            f"{model.name} in production: champion {short(champion)} on {model.live.prod}, "
            f"{deploy.instance_count} x {deploy.instance_type}, auto scaling "
            f"{deploy.autoscaling.min_instances}-{deploy.autoscaling.max_instances}, capturing "
            f"traffic to {cloud.capture_uri}"
        )
        self.say("seed", serving)
        self.timeline.add(now(), "seed", serving)
        return champion

    def base_data(self, drift: float = 0.0, seed: int = 1) -> None:
        """The model's base training data, TRAINING_ROWS of its world at `drift` (labelled by
        that world's rule), where its config says."""
        cloud, model, world = self.cloud, self.model, self.world
        base_data = model.training_data_uri(cloud.data_bucket)
        said = f"{TRAINING_ROWS:,} {world.noun} {world.describe(drift)}"
        self.say("seed", f"{said}: the base training data at {base_data}")
        rows = world.requests(TRAINING_ROWS, seed=seed, drift=drift)
        base = training_csv(world, rows, seed=seed + 1, drift=drift)
        bucket, _, key = f"{base_data.rstrip('/')}/part-0.csv"[5:].partition("/")
        s3 = cloud.client("s3")
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key=key, Body=base.encode())

    def first_training(self) -> tuple[PipelineRun, str]:
        """The team's first training, before the controller was installed: the same pipeline
        definition, deployed by hand under another name (the stack deploys model.pipeline),
        run on the base data alone. Returns the run and the package it registered."""
        cloud, model = self.cloud, self.model
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
        first = f"{model.pipeline}-first"
        self.say("seed", f"the team's first training: pipeline {first} trains the first model ...")
        role = f"arn:aws:iam::{cloud.account}:role/sagemaker-pipelines"
        bundle.upload(cloud.client("s3"), cloud.artifacts_bucket)
        sagemaker = cloud.client("sagemaker")
        sagemaker.create_pipeline(
            PipelineName=first,
            PipelineDefinition=cloud.pipeline_definition(role, cloud.artifacts_bucket),
            RoleArn=role,
        )
        sagemaker.start_pipeline_execution(
            PipelineName=first,
            PipelineParameters=[
                {"Name": name, "Value": value}
                for name, value in first_run_parameters(cloud, model, manifest).items()
            ],
        )
        run = cloud.pipelines.wait_for_run(first)
        package = run.execute()
        if package is None:
            raise Stuck(
                f"the first training registered no model: pipeline {run.status}: "
                f"{records.pipeline_failure(cloud, run) or 'no reason given'}"
            )
        return run, package

    def deploy_app(self) -> None:
        self.say("setup", "deploying the app into the local cloud from template.yaml ...")
        stack = self.cloud.deploy(model_config=self.config)
        self.stack = stack
        functions = [r for r in stack.resources if r.endswith("Function")]
        machines = [r for r in stack.resources if r.endswith("StateMachine")]
        created = (
            f"{self.cloud.endpoint}: stack {stack.name} created from template.yaml "
            f"({len(stack.resources)} resources, {len(functions)} functions, "
            f"{len(machines)} state machines, "
            f"approval API at {self.cloud.api_url('ApprovalApi')})"
        )
        self.say("setup", created)
        self.timeline.add(now(), "local cloud", created)
        self.cloud.pipelines.train_for_real(self.model.pipeline)

    # -- traffic and drift -------------------------------------------------------------------------

    def serve_hour(self, hour: datetime, drift: float) -> int:
        """An hour of requests to prod, each captured with its time in that hour and its
        inference id; the labels arrive later as ground truth, keyed by those ids."""
        cloud, model, world = self.cloud, self.model, self.world
        runtime = cloud.client("sagemaker-runtime")
        seed = int(hour.timestamp())
        rows = world.requests(REQUESTS_PER_HOUR, seed=seed, drift=drift)
        ids = [f"{model.name}-{hour:%Y%m%dT%H}-{i:04d}" for i in range(REQUESTS_PER_HOUR)]
        for i, (body, inference_id) in enumerate(zip(csv_rows(rows), ids, strict=True)):
            cloud.hosting.capture.clock = partial(
                operator.add, hour, timedelta(seconds=i * 3600 / REQUESTS_PER_HOUR)
            )
            runtime.invoke_endpoint(
                EndpointName=model.live.prod,
                ContentType="text/csv",
                Body=body,
                InferenceId=inference_id,
            )
        cloud.flush_capture()
        cloud.ground_truth.clock = partial(operator.add, hour, LABELS_AFTER)
        labels = world.labels(rows, seed=seed + 1, drift=drift)
        cloud.ground_truth.write(
            self.ground_truth_uri(), ((i, f"{y:g}") for i, y in zip(ids, labels, strict=True))
        )
        return len(rows)

    def ground_truth_uri(self) -> str:
        uri = self.model.training.ground_truth_uri
        return uri or f"{self.cloud.ground_truth_uri}/{self.model.name}"

    def check_hour(self, hour: datetime) -> dict[str, Any]:
        """The drift check of [hour, hour + 1h), started as the hourly schedule starts it."""
        request = DriftCheckRequest(self.model.name, hour + timedelta(hours=1, minutes=10))
        started = self.cloud.client("stepfunctions").start_execution(
            stateMachineArn=self.outputs["DriftCheckStateMachineArn"],
            name=request.execution_name(drift_check_of(self.model)),
            input=request.to_json(),
        )
        described = self.wait_for_end(started["executionArn"], "the drift check")
        if described["status"] != "SUCCEEDED":
            raise Stuck(f"the drift check {described['name']} {records.failure_of(described)}")
        result = json.loads(described["output"])["result"]
        features = len(drift_check_of(self.model).features)
        drifted = ", ".join(result["drifted"]) or "none"
        found = (
            f"{hour:%H}:00 window: {result['rows']} rows, {result['driftedShare']:.0%} of "
            f"features drifted ({len(result['drifted'])} of {features}: {drifted})"
        )
        self.say("check", found)
        self.timeline.add(
            described["stopDate"], "drift check", f"{found}; report {result['report']}"
        )
        self.checks.append(described)
        return result  # type: ignore[no-any-return]

    def check_quality(self, hour: datetime) -> None:
        """The quality check the same tick starts: the hour whose fares are in by now, its
        answers scored against them (a model without a quality check has none)."""
        if self.model.quality is None:
            return
        tick = hour + timedelta(hours=1, minutes=10)
        request = QualityCheckRequest(self.model.name, tick)
        started = self.cloud.client("stepfunctions").start_execution(
            stateMachineArn=self.outputs["QualityCheckStateMachineArn"],
            name=execution_name(self.model, tick),
            input=request.to_json(),
        )
        described = self.wait_for_end(started["executionArn"], "the quality check")
        if described["status"] != "SUCCEEDED":
            raise Stuck(f"the quality check {described['name']} {records.failure_of(described)}")
        output = json.loads(described["output"])
        if "result" not in output:  # nothing labelled yet, nothing to estimate with
            return
        finding = output["result"]["finding"]
        window = datetime.fromisoformat(finding["window"]["start"])
        text = f"{window:%H}:00 window, its {self.world.labels_are} in: {quality_summary(finding)}"
        self.say("quality", text)
        self.timeline.add(
            described["stopDate"], "quality check", f"{text}; report {finding['report']}"
        )

    def traffic_and_drift_checks(self) -> list[float]:
        """Three hours of requests to prod, each hour checked for drift, and the alarm evaluated
        on the metrics the checks publish (CloudWatch does it every minute). Returns the share
        of features each check found drifted."""
        latest = now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
        shares = []
        for hours_back, drift in zip((2, 1, 0), DRIFT_BY_HOUR, strict=True):
            hour = latest - timedelta(hours=hours_back)
            span = f"{hour:%H}:00-{hour + timedelta(hours=1):%H}:00 UTC"
            world = self.world.describe(drift)
            self.say(
                "prod",
                f"{span}: {REQUESTS_PER_HOUR} {self.world.noun} ({world}) to "
                f"{self.model.live.prod} ...",
            )
            rows = self.serve_hour(hour, drift)
            self.timeline.add(
                now(),
                "prod",
                f"{span}: {rows} {self.world.noun} ({world}) answered and captured; their "
                f"{self.world.labels_are} arrive as ground truth an hour later",
            )
            shares.append(float(self.check_hour(hour)["driftedShare"]))
            self.check_quality(hour)
            self.evaluate_alarms(hour)
        report = self.checks[-1]
        uri = json.loads(report["output"])["result"]["report"]
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        body = self.cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        (self.output / "drift-report.html").write_bytes(body)
        return shares

    def drift_alarm(self) -> dict[str, Any] | None:
        """The alarm on the model's drifted feature share, as CloudWatch describes it."""
        pages = self.cloud.client("cloudwatch").get_paginator("describe_alarms")
        for page in pages.paginate(AlarmTypes=["MetricAlarm"]):
            for alarm in page["MetricAlarms"]:
                dimensions = {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}
                if (
                    alarm.get("MetricName") == "drifted_feature_share"
                    and dimensions.get("model") == self.model.name
                ):
                    return alarm  # type: ignore[no-any-return]
        return None

    def the_next_hour(self) -> None:
        """After the promotion: the changed world's traffic, checked against the new champion's
        baseline. It no longer drifts against it; the alarm stays in ALARM until the drifted
        hours age out of its window, and starts nothing meanwhile (it fires on changes only)."""
        hour = now().replace(minute=0, second=0, microsecond=0)
        span = f"{hour:%H}:00-{hour + timedelta(hours=1):%H}:00 UTC"
        self.say("prod", f"{span}: the changed world's {self.world.noun}, served by the new model")
        rows = self.serve_hour(hour, DRIFT_BY_HOUR[-1])
        self.timeline.add(
            now(), "prod", f"{span}: {rows} {self.world.noun}, the changed world, served by v2"
        )
        self.check_hour(hour)
        self.evaluate_alarms(hour)
        alarm = self.drift_alarm()
        if alarm is not None and alarm["StateValue"] == "ALARM":
            stays = (
                f"{alarm['AlarmName']} stays in ALARM: the drifted hours are still among its "
                f"last {alarm['EvaluationPeriods']} checks. It returns to OK as they age out, "
                "and as it fires only on a change of state, it starts no retrain meanwhile."
            )
            self.say("alarm", stays)
            self.timeline.add(now(), "cloudwatch", stays)

    def evaluate_alarms(self, hour: datetime) -> None:
        """CloudWatch's evaluation after the hour's check (it evaluates every minute)."""
        evaluated_at = now()
        for change in self.cloud.evaluate_alarms(hour + timedelta(hours=1, minutes=10)):
            text = f"{change.alarm} {change.old} -> {change.new}: {change.reason}"
            self.say("alarm", text)
            self.timeline.add(evaluated_at, "cloudwatch", text)

    # -- the runs, as they happen ------------------------------------------------------------------

    def started(self, output: str, what: str) -> str:
        """The ARN of the run the system started on a state machine (the newest)."""
        sfn = self.cloud.client("stepfunctions")
        found = self.wait_for(
            lambda: sfn.list_executions(stateMachineArn=self.outputs[output])["executions"],
            f"the {what} run to start",
        )
        execution = max(found, key=lambda e: e["startDate"])
        self.say(what, f"run {execution['name']} started")
        return str(execution["executionArn"])

    def follow(
        self, arn: str, source: str, until: Callable[[], Any] | None = None
    ) -> dict[str, Any]:
        """Tell each state the run enters (and the pipeline's progress) as it happens, until the
        run ends or `until()` is true; returns the run, described."""
        deadline = time.monotonic() + STEP_TIMEOUT
        while True:
            described = self.describe(arn)
            self.tell_states(arn, source)
            self.tell_pipelines()
            if described["status"] in TERMINAL or (until is not None and until()):
                return described
            if time.monotonic() > deadline:
                raise Stuck(
                    f"the {source} run {described['name']} was still {described['status']} "
                    f"after {STEP_TIMEOUT:.0f}s"
                )
            time.sleep(POLL_SECONDS)

    def describe(self, arn: str) -> dict[str, Any]:
        described: dict[str, Any] = self.cloud.client("stepfunctions").describe_execution(
            executionArn=arn
        )
        return described

    def tell_states(self, arn: str, source: str) -> None:
        told = self._told_events.get(arn, 0)
        for event in records.history(self.cloud, arn):
            if event["id"] <= told:
                continue
            told = max(told, event["id"])
            if event["type"].endswith("StateEntered"):
                self.say(source, f"-> {event['stateEnteredEventDetails']['name']}")
        self._told_events[arn] = told

    def tell_pipelines(self) -> None:
        for run in self.cloud.pipelines.runs(self.model.pipeline):
            status = run.status
            if self._told_pipelines.get(run.arn) == status:
                continue
            self._told_pipelines[run.arn] = status
            if status == "Executing":
                window = f"{run.parameters.get('DriftWindowStart')} .. "
                window += str(run.parameters.get("DriftWindowEnd"))
                self.say(
                    "pipeline",
                    f"{run.pipeline} Executing: trains on the base data and the drift window "
                    f"{window} ...",
                )
            elif status == "Succeeded":
                report = records.evaluation_of(self.cloud, run)
                holdout = records.holdout_line(report, self.world) if report else "no report"
                self.say(
                    "pipeline",
                    f"{run.pipeline} Succeeded: {holdout}; registered {short(run.package_arn)}",
                )
            else:
                reason = records.pipeline_failure(self.cloud, run) or "no reason given"
                self.say("pipeline", f"{run.pipeline} {status}: {reason}")

    def told_ending(self, described: Mapping[str, Any]) -> Audited | None:
        """The run's ending from the audit table, told."""
        outcome = records.run_ending(
            self.cloud, self.outputs["AuditTableName"], self.model.name, described["name"]
        )
        if outcome is not None:
            self.say("decided", f"[{outcome.kind}] {outcome.summary}")
        failure = records.failure_of(described)
        if failure:
            self.say("decided", f"run {described['name']} FAILED ({failure})")
        return outcome

    def approval_email(self) -> dict[str, Any] | None:
        emails = self.cloud.notifications(self.outputs["ApprovalsTopicArn"])
        return emails[0] if emails else None

    def show_approval_email(self) -> None:
        email = self.approval_email()
        if email is None:
            raise Stuck("the approval email")
        self.link = approver.link_in(email["email"])
        (self.output / "approval-email.txt").write_text(
            f"Subject: {email['subject']}\n\n{email['email']}"
        )
        self.say("approval", "the approvers' email (SNS), as they get it:")
        print(f"\nSubject: {email['subject']}\n\n{email['email'].rstrip()}\n", flush=True)

    def wait_for_a_person(self, arn: str) -> bool:
        """Wait as long as the approval is open, for a person to decide on the page; False if
        Ctrl-C stopped the wait first."""
        print(
            "Open the link above in a browser on this machine, read the page and decide. The\n"
            "demo waits as long as the approval is open (the local cloud's schedules run\n"
            "meanwhile, so the heartbeat keeps it open); Ctrl-C stops the demo.",
            flush=True,
        )
        self.say("approval", "waiting for your decision ...")
        try:
            while not self.decided(arn):
                time.sleep(1.0)
        except KeyboardInterrupt:
            self.say("approval", "stopped by Ctrl-C; the approval is still open, undecided")
            return False
        decisions = ("approval-granted", "approval-refused", "promotion-expired")
        found = [
            a
            for a in records.audit(self.cloud, self.outputs["AuditTableName"], self.model.name)
            if a.kind in decisions
        ]
        told = f"[{found[-1].kind}] {found[-1].summary}" if found else "the deploy went on"
        self.say("approval", f"decision received: {told}")
        return True

    def decided(self, arn: str) -> bool:
        """Whether the approval task is over: its run entered a state after it, or ended. (Not
        any TaskSucceeded: earlier tasks of the run succeeded long before anyone decided.)"""
        if self.describe(arn)["status"] != "RUNNING":
            return True
        asked = None
        for event in records.history(self.cloud, arn):
            if not event["type"].endswith("StateEntered"):
                continue
            if event["stateEnteredEventDetails"]["name"] == APPROVAL_STATE:
                asked = event["id"]
            elif asked is not None and event["id"] > asked:
                return True
        return False

    # -- waiting -------------------------------------------------------------------------------

    def wait_for(self, condition: Callable[[], Any], what: str) -> Any:
        try:
            return self.cloud.wait_until(condition, timeout=STEP_TIMEOUT, what=what)
        except TimeoutError:
            raise Stuck(f"{what}: not within {STEP_TIMEOUT:.0f}s") from None

    def wait_for_end(self, arn: str, what: str) -> dict[str, Any]:
        try:
            return self.cloud.wait_for_execution(arn, timeout=STEP_TIMEOUT)
        except TimeoutError:
            raise Stuck(f"{what} did not end within {STEP_TIMEOUT:.0f}s") from None

    # -- reading it back -----------------------------------------------------------------------

    def read_back(self, ending: Ending) -> None:
        """The timeline and summary from the records, printed and written, and the ending."""
        if self.stack is not None:
            self.say("records", "reading the timeline back from the system's records ...")
            timeline = self.timeline
            for source, described in self.runs.items():
                records.record_execution(self.cloud, described, f"{source} run", timeline)
            records.record_pipelines(self.cloud, self.model, self.world, timeline)
            records.record_audit(
                self.cloud, self.outputs["AuditTableName"], self.model.name, timeline
            )
            finished = self.checks + list(self.runs.values())
            summary = records.summarise(self.cloud, self.model, self.outputs, finished)
            report = f"{timeline.render()}\n\n{summary}"
            print(
                "\nThe timeline, read back from the records (execution histories, SageMaker, "
                f"the audit table):\n\n{report}",
                flush=True,
            )
            (self.output / "timeline.txt").write_text(f"{report}\n\nOutcome: {ending.why}\n")
            for source, described in self.runs.items():
                (self.output / f"{source}-execution.json").write_text(
                    json.dumps(described, indent=2, default=str)
                )
            self.write_lambda_logs()
            written = [name for name in FILES if (self.output / name).exists()]
            print(f"\nWritten to {os.path.relpath(self.output)}/: {', '.join(written)}", flush=True)
        print(f"\nOutcome ({ending.kind}): {ending.why}", flush=True)

    def write_lambda_logs(self) -> None:
        """Every function's log lines, oldest first, each tagged with its function."""
        with (self.output / "lambda-logs.jsonl").open("w") as out:
            for line in self.cloud.lambda_logs():
                out.write(json.dumps(line) + "\n")


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
        "TrainingData": model.training_data_uri(cloud.data_bucket),
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
        raise ValueError(f"the demo needs a [models.{model.name}.drift_check] in the config")
    return model.drift_check
