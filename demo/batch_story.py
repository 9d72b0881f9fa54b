"""The batch demo's story (`make demo MODEL=churn-batch`): a batch churn classifier scored
every day at 06:00 by the batch-inference state machine, told as it happens.

Its first model is trained by the team's own run of the pipeline and approved in the registry,
which makes it the champion (a batch model has no endpoint to deploy to). Then four days of
customers arrive: the first like the training data, the next three after a rival's cheaper
plan. Each day's run checks its input against the champion's baseline, scores it (and flags
a drifted day: the model's on_violation is "score-and-flag"), and the drift alarm counts the
days. Two drifted days set it off; the retrain learns from the team's refreshed data, its
candidate passes the gate and becomes the champion, and the fourth day is scored with it. The
labels of every day are known here (the world made them), so each day's AUC is shown: the
decay, and the recovery.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from demo import records
from demo.records import now, short
from demo.story import Ending, Story, Stuck
from demo.world import csv_rows

TRAINING_ROWS = 6_000
# The first scheduled time the demo's days run at: 06:00, in the past (the hourly tick fires).
FIRST = datetime(2026, 11, 2, 6, tzinfo=UTC)
DRIFT_BY_DAY = (0.0, 1.0, 1.0, 1.0)
# Each day's customers arrive in a few files over the day before its run.
FILES_PER_DAY, ROWS_PER_FILE = 4, 500


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """The probability that a leaver is scored above a stayer (ties count half)."""
    order = scores.argsort(kind="mergesort")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    for value in np.unique(scores):  # average ranks over ties
        tied = scores == value
        ranks[tied] = ranks[tied].mean()
    positives = int(labels.sum())
    negatives = len(labels) - positives
    return float(
        (ranks[labels == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives)
    )


class BatchStory(Story):
    """A batch model's days on the local cloud, told as they happen and read back at the end."""

    def loop(self, wait_for_approval: bool) -> Ending:
        self.cloud.seed_model(self.model)
        self.deploy_app()
        first = self.first_model()
        champion = first
        for day, drift in enumerate(DRIFT_BY_DAY):
            at = FIRST + timedelta(days=day)
            labels = self.arrive(at, drift)
            ran = self.score(at)
            if ran["status"] != "SUCCEEDED":
                return Ending("failed", f"{ran['name']} {ran['status']}: {records.failure_of(ran)}")
            scored = self.read_scores(at)
            figure = f"AUC {auc(labels, scored):.3f} on its {len(scored):,} customers"
            outcome = records.run_ending(
                self.cloud, self.outputs["AuditTableName"], self.model.name, ran["name"]
            )
            said = f"[{outcome.kind}] " if outcome else ""
            self.say("scored", f"{said}{figure} (the world's labels, known to the demo)")
            self.timeline.add(now(), "demo", f"{ran['name']}: {figure}")
            if self.alarm_went_off(at):
                champion = self.retrain(champion)
        if champion == first:
            return Ending("decided", f"no retrain: {short(first)} scored every day")
        return Ending(
            "promoted",
            f"{short(champion)} replaced {short(first)} as the batch champion after two "
            "drifted days, and scored the fourth",
        )

    # -- the first model -------------------------------------------------------------------------

    def first_model(self) -> str:
        """The team's first training (its own pipeline run on the base data), approved by a
        person in the registry: the controller records it as the batch champion."""
        self.base_data()
        run, package = self.first_training()
        report = records.evaluation_of(self.cloud, run)
        holdout = records.holdout_line(report, self.world) if report else "no evaluation report"
        self.say("seed", f"{short(package)} trained: {holdout}; a person approves it ...")
        self.cloud.client("sagemaker").update_model_package(
            ModelPackageArn=package, ModelApprovalStatus="Approved"
        )
        return self.champion_after(None)

    def champion_after(self, previous: str | None) -> str:
        """Wait for the controller to record a new batch champion; tell it."""
        table = self.outputs["ModelStateTableName"]
        dynamodb = self.cloud.client("dynamodb")

        def recorded() -> str | None:
            item = dynamodb.get_item(TableName=table, Key={"model": {"S": self.model.name}})
            found = item.get("Item", {}).get("champion_package", {}).get("S")
            return found if found not in (None, previous) else None

        package = str(self.wait_for(recorded, "the batch champion's record"))
        said = f"{short(package)} is the batch champion (on_model_approved: no endpoint, no deploy)"
        self.say("champion", said)
        self.timeline.add(now(), "controller", said)
        return package

    # -- a day ---------------------------------------------------------------------------------

    def arrive(self, at: datetime, drift: float) -> np.ndarray:
        """The day's customers, in files over the hours before its run; their labels."""
        uri = self.model.batch_input_uri(self.cloud.data_bucket)
        bucket, _, prefix = uri[5:].partition("/")
        s3, labels = self.cloud.client("s3"), []
        for n in range(FILES_PER_DAY):
            written = at - timedelta(hours=22 - 6 * n)
            seed = int(written.timestamp())
            rows = self.world.requests(ROWS_PER_FILE, seed=seed, drift=drift)
            labels.append(self.world.labels(rows, seed=seed + 1, drift=drift))
            key = f"{prefix}/{written:%Y/%m/%d/%H}/customers-{n}.csv"
            s3.put_object(Bucket=bucket, Key=key, Body=("\n".join(csv_rows(rows)) + "\n").encode())
        count, noun = FILES_PER_DAY * ROWS_PER_FILE, self.world.noun
        said = f"{count:,} {noun} {self.world.describe(drift)} arrive under {uri}/"
        self.say("input", f"{said} for the run at {at:%Y-%m-%d %H:%M}")
        return np.concatenate(labels)

    def score(self, at: datetime) -> dict[str, Any]:
        """The hourly tick at the run's time starts it (a second tick in the hour starts
        nothing); follow it to its end."""
        for minute in (0, 30):
            self.cloud.fire_schedules(
                at + timedelta(minutes=minute, seconds=5), only=lambda r: "Schedule" in r
            )
        name = f"{self.model.name}-batch-{at:%Y%m%dT%H%M}"
        sfn = self.cloud.client("stepfunctions")
        machine = self.outputs["BatchInferenceStateMachineArn"]
        found = self.wait_for(
            lambda: [
                e
                for e in sfn.list_executions(stateMachineArn=machine)["executions"]
                if e["name"] == name
            ],
            f"the batch run {name}",
        )
        self.say("batch", f"run {name} started by the hourly tick ({len(found)} run for two ticks)")
        ran = self.follow(found[0]["executionArn"], "batch")
        self.runs[name] = ran
        return ran

    def read_scores(self, at: datetime) -> np.ndarray:
        """The run's predictions, in the order the files and rows arrived."""
        uri = f"{self.model.batch_output_uri(self.cloud.artifacts_bucket)}/{at:%Y%m%dT%H%M}/"
        bucket, _, prefix = uri[5:].partition("/")
        s3 = self.cloud.client("s3")
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
        keys = sorted(o["Key"] for o in listed if o["Key"].endswith(".out"))
        lines = [s3.get_object(Bucket=bucket, Key=k)["Body"].read().decode().split() for k in keys]
        return np.array([float(p) for file in lines for p in file])

    def alarm_went_off(self, at: datetime) -> bool:
        """CloudWatch's evaluation after the run's check (it evaluates every minute)."""
        fired = False
        for change in self.cloud.evaluate_alarms(at + timedelta(minutes=30)):
            text = f"{change.alarm} {change.old} -> {change.new}: {change.reason}"
            self.say("alarm", text)
            self.timeline.add(now(), "cloudwatch", text)
            fired |= change.new == "ALARM"
        return fired

    def retrain(self, champion: str) -> str:
        """The drift alarm's retrain, on the base data the team refreshed from the changed
        business; its approved candidate becomes the champion."""
        self.base_data(drift=1.0, seed=5)  # the team refreshed it from the changed business
        retrain = self.follow(self.started("RetrainStateMachineArn", "retrain"), "retrain")
        self.runs["retrain"] = retrain
        outcome = self.told_ending(retrain)
        if outcome is None or outcome.kind != "approved":
            why = outcome.summary if outcome else records.failure_of(retrain)
            raise Stuck(f"the retrain ended {retrain['status']}: {why or 'no outcome recorded'}")
        return self.champion_after(champion)

    # -- reading it back -------------------------------------------------------------------------

    def read_back(self, ending: Ending) -> None:
        if self.stack is not None:
            timeline = self.timeline
            for source, described in self.runs.items():
                records.record_execution(self.cloud, described, f"{source} run", timeline)
            records.record_audit(
                self.cloud, self.outputs["AuditTableName"], self.model.name, timeline
            )
            print(
                "\nThe timeline, read back from the records (execution histories, the audit "
                f"table):\n\n{timeline.render()}",
                flush=True,
            )
            (self.output / "batch-timeline.txt").write_text(
                f"{timeline.render()}\n\nOutcome: {ending.why}\n"
            )
        print(f"\nOutcome ({ending.kind}): {ending.why}", flush=True)
