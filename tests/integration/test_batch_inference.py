"""Batch inference on the local cloud, end to end: a churn classifier (twenty features, as in
the seed's use case) scored once a day from its
schedule (the hourly tick), with the package its approval made champion (never a newer pending
one), its input checked first against that package's baseline by the drift-check machine
(nested), under each violation policy; a drifted input that keeps coming raises the model's
drift alarm, its retrain's approved candidate becomes the champion, and the next run scores
with it. Real template, real state machines, real pipeline and transform jobs."""

from __future__ import annotations

import contextlib
import json
import operator
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from modelfresh.quality.plan import QualityCheckRequest

from demo.churn import WIDE_CATEGORICAL, WIDE_FEATURES, wide_churned, wide_customers
from demo.records import pipeline_failure
from demo.world import csv_rows
from localcloud import LocalCloud
from tests.conftest import App

DAILY, STRICT, ASKED = "churn-daily", "churn-strict", "churn-asked"
# The first scheduled time the tests tick at: 06:00 on a day in the past.
FIRST = datetime(2026, 11, 25, 6, tzinfo=UTC)
ROWS_PER_FILE = 300
# Where each model's input and output are below its name: the defaults, or as configured.
INPUT = {DAILY: "batch/input", STRICT: "input", ASKED: "batch/input"}
OUTPUT = {DAILY: "batch/scored", STRICT: "scored", ASKED: "batch/scored"}
GATE = '{ metric = "auc", direction = "maximize", threshold = 0.7, require_significant = false }'
TRAINING = '{ problem_type = "binary_classification", objective = "binary:logistic" }'

MODELS = """
[defaults]
approval = "auto"
cooldown_hours = 0

[models.{daily}]
kind = "batch"
package_group = "{daily}"
pipeline = "modelfresh-retrain"
gate = {gate}
training = {training}
# Each input row starts with a customer id, which the predictions keep beside their scores,
# and by which the customers' outcomes, known a day later, are joined with them
batch = {{ schedule = "cron(0 6 * * ? *)", on_violation = "score-and-flag", record_ids = true }}
quality = {{ every_hours = 24, threshold = 0.7 }}
retrain_on = "drift"  # its drifted days retrain it, as the scenario below has them do
drift_check = {{ features = {features}, categorical = {categorical}, every_hours = 24 }}

[models.{strict}]
kind = "batch"
package_group = "{strict}"
pipeline = "modelfresh-retrain"
gate = {gate}
training = {training}
batch = {{ input_uri = "s3://{data}/{strict}/input", output_uri = "s3://{artifacts}/{strict}/scored", schedule = "cron(0 6 * * ? *)" }}
# Its input checks fan out over a Distributed Map past a few kilobytes (a test of that path)
drift_check = {{ features = {features}, categorical = {categorical}, every_hours = 24, fan_out_above_mb = 0.005 }}

[models.{asked}]
kind = "batch"
package_group = "{asked}"
pipeline = "modelfresh-retrain"
gate = {gate}
training = {training}
# A person approves each candidate on a page that shows it scoring the newest input
batch = {{ schedule = "cron(0 6 * * ? *)", approval_email = true, sample_rows = 5 }}
drift_check = {{ features = {features}, categorical = {categorical}, every_hours = 24 }}
"""


class BatchApp(App):
    """The app with two daily batch churn models: one scores and flags a drifted input, the
    other (on_violation's default, "stop") scores nothing then."""

    def __init__(self, cloud: LocalCloud, tmp_path: Path) -> None:
        config = tmp_path / "models.toml"
        config.write_text(
            MODELS.format(
                daily=DAILY, strict=STRICT, asked=ASKED, data=cloud.data_bucket,
                artifacts=cloud.artifacts_bucket, features=json.dumps(list(WIDE_FEATURES)),
                categorical=json.dumps(list(WIDE_CATEGORICAL)), gate=GATE, training=TRAINING,
            )
        )  # fmt: skip
        self.s3 = cloud.client("s3")
        with contextlib.suppress(self.s3.exceptions.BucketAlreadyOwnedByYou):
            self.s3.create_bucket(Bucket=cloud.data_bucket)
        super().__init__(cloud, model_config=config)
        self.batch_arn = self.stack.outputs["BatchInferenceStateMachineArn"]
        self.left: dict[str, str] = {}  # each customer's outcome (1: left), by record id
        self.drift_check_arn = self.stack.outputs["DriftCheckStateMachineArn"]

    def base_data(self, model: str, drift: float, seed: int) -> None:
        """The base training data a retrain learns from (the team refreshes it)."""
        rows = wide_customers(4000, seed, drift)
        lines = [
            f"{y},{x}"
            for y, x in zip(wide_churned(rows, seed + 1, drift), csv_rows(rows), strict=True)
        ]
        self.s3.put_object(
            Bucket=self.cloud.data_bucket,
            Key=f"{model}/training/part-0.csv",
            Body=("\n".join(lines) + "\n").encode(),
        )

    def retrain(self, model: str, count: int) -> str:
        """A retrain on the model's drift alarm (fired by hand, or already in ALARM), its
        pipeline run for real; the approved candidate, once it is the recorded champion."""
        package = self.candidate(count)
        self.cloud.wait_until(
            lambda: self.model_state(model).get("champion_package") == package,
            what="the batch champion's record",
        )
        return package

    def first_champion(self, model: str) -> str:
        """The model's first model: a retrain on its base data (the drift alarm set off by
        hand), approved by its gate; once it is the recorded champion."""
        self.base_data(model, drift=0.0, seed=1)
        self.cloud.create_drift_alarm(f"modelfresh-drift-{model}", model=model)
        self.fire_alarm(f"modelfresh-drift-{model}", reason="first model")
        return self.retrain(model, count=1)

    def candidate(self, count: int) -> str:
        """The package the `count`-th retrain's pipeline registered, once the run ended."""
        run = self.cloud.pipelines.wait_for_run("modelfresh-retrain", count=count, timeout=60)
        package = run.execute()
        assert package is not None, pipeline_failure(self.cloud, run)
        execution = self.cloud.wait_until(
            lambda: [e for e in self.executions() if e["status"] != "RUNNING"][count - 1 :],
            timeout=60,
            what="the retrain's end",
        )[0]
        assert execution["status"] == "SUCCEEDED", execution
        return str(package)

    def put_input(self, model: str, day_end: datetime, drift: float, hours: list[int]) -> int:
        """CSV input in the hours before `day_end` (its run's time): features only, or a
        customer id first for a model with record ids."""
        for n, hour in enumerate(hours):
            at = day_end - timedelta(hours=hour)
            rows = wide_customers(ROWS_PER_FILE, int(at.timestamp()) + n, drift)
            key = f"{model}/{INPUT[model]}/{at:%Y/%m/%d/%H}/part-{n}.csv"
            lines = csv_rows(rows)
            if model == DAILY:
                ids = [f"c{at:%m%d%H}-{n}-{i}" for i in range(len(lines))]
                lines = [f"{i},{line}" for i, line in zip(ids, lines, strict=True)]
                left = wide_churned(rows, int(at.timestamp()) + n + 1, drift)
                self.left.update(zip(ids, (f"{y:g}" for y in left), strict=True))
            body = "\n".join(lines) + "\n"
            self.s3.put_object(Bucket=self.cloud.data_bucket, Key=key, Body=body.encode())
        return len(hours) * ROWS_PER_FILE

    def tick(self, at: datetime) -> None:
        self.cloud.fire_schedules(at, only=lambda rule: "Schedule" in rule)

    def batch_runs(self) -> list[dict[str, Any]]:
        found = self.sfn.list_executions(stateMachineArn=self.batch_arn)["executions"]
        return sorted(found, key=lambda e: e["name"])

    def run_at(self, at: datetime, model: str = DAILY) -> dict[str, Any]:
        """The batch run of one scheduled time, once it ended."""
        name = f"{model}-batch-{at:%Y%m%dT%H%M}"
        found = self.cloud.wait_until(
            lambda: [e for e in self.batch_runs() if e["name"] == name], what=name
        )
        return self.cloud.wait_for_execution(found[0]["executionArn"], timeout=120)

    def scored(self, model: str, at: datetime) -> dict[str, list[str]]:
        """The run's predictions: each output object (<input key>.out) and its lines."""
        prefix = f"{model}/{OUTPUT[model]}/{at:%Y%m%dT%H%M}/"
        listed = self.s3.list_objects_v2(Bucket=self.cloud.artifacts_bucket, Prefix=prefix)
        keys = [o["Key"] for o in listed.get("Contents", []) if o["Key"].endswith(".out")]
        return {key.removeprefix(prefix): self.read_lines(key) for key in keys}

    def read_lines(self, key: str) -> list[str]:
        body = self.s3.get_object(Bucket=self.cloud.artifacts_bucket, Key=key)["Body"]
        return body.read().decode().splitlines()  # type: ignore[no-any-return]

    def marker(self, model: str, at: datetime) -> dict[str, Any] | None:
        """The run's modelfresh-run.json beside its predictions, if it wrote one."""
        key = f"{model}/{OUTPUT[model]}/{at:%Y%m%dT%H%M}/modelfresh-run.json"
        try:
            body = self.s3.get_object(Bucket=self.cloud.artifacts_bucket, Key=key)["Body"]
        except self.s3.exceptions.NoSuchKey:
            return None
        return json.loads(body.read())  # type: ignore[no-any-return]

    def last_audit(self, model: str) -> dict[str, Any]:
        found = sorted(self.audit(model), key=lambda a: a["at"])[-1]
        return found | {"detail": json.loads(found["detail"])}


@pytest.fixture
def batch_app(cloud: LocalCloud, tmp_path: Path) -> Iterator[BatchApp]:
    yield BatchApp(cloud, tmp_path)


def test_a_daily_batch_scores_with_its_champion_flags_drift_and_moves_to_the_retrained_model(
    batch_app: BatchApp,
) -> None:
    app = batch_app
    # Given a first model: a retrain on the base data, approved by its gate, which makes it
    # the batch champion (no endpoint, no deploy)
    v1 = app.first_champion(DAILY)
    assert [a["kind"] for a in app.audit(DAILY)].count("batch-champion") == 1
    assert app.deploys() == []
    # ... and a newer package waiting for a person, which no run may use
    pending = app.cloud.register_package(DAILY, "PendingManualApproval")

    # When the day's input arrives and the hourly tick passes 06:00, twice
    rows = app.put_input(DAILY, FIRST, drift=0.0, hours=[22, 9, 3])
    app.put_input(DAILY, FIRST + timedelta(hours=1), drift=0.0, hours=[0])  # the next day's
    app.tick(FIRST + timedelta(seconds=10))
    app.tick(FIRST + timedelta(minutes=40))

    # Then one run scored the day's three objects with the champion, one answer per row
    run = app.run_at(FIRST)
    assert run["status"] == "SUCCEEDED", run
    assert [r["name"] for r in app.batch_runs()] == [
        f"{ASKED}-batch-20261125T0600",  # which, as the next, has nothing to score yet
        f"{DAILY}-batch-20261125T0600",
        f"{STRICT}-batch-20261125T0600",
    ]
    skipped = app.run_at(FIRST, STRICT)
    assert skipped["status"] == "SUCCEEDED"
    assert app.last_audit(STRICT)["summary"] == (
        f"Nothing scored: no input under s3://{app.cloud.data_bucket}/{STRICT}/input for "
        "2026-11-24T06:00:00.000Z to 2026-11-25T06:00:00.000Z."
    )
    scored = app.scored(DAILY, FIRST)
    assert len(scored) == 3 and sum(len(lines) for lines in scored.values()) == rows
    # ... each score beside its customer's id, in the input's order
    answers = [line.split(",") for lines in scored.values() for line in lines]
    assert all(len(a) == 2 and 0.0 <= float(a[1]) <= 1.0 for a in answers)
    first = scored[next(k for k in scored if "/part-0.csv.out" in k)]
    assert [line.split(",")[0] for line in first[:2]] == ["c112408-0-0", "c112408-0-1"]
    record = app.last_audit(DAILY)
    assert record["kind"] == "batch-scored"
    assert record["detail"]["package"] == v1 != pending
    # ... and the marker beside the predictions says what they are
    marker = app.marker(DAILY, FIRST)
    assert marker is not None and (marker["version"], marker["flagged"]) == (1, False)
    assert marker["run"] == record["run"] and marker["objects"] == 3
    assert record["detail"]["chosen"] == "the recorded champion (v1)"
    assert record["detail"]["input"] == {"drifted": False, "summary": "0% of features drifted"}
    # ... after its input was checked by the drift-check machine, against v1's baseline
    (check,) = app.sfn.list_executions(stateMachineArn=app.drift_check_arn)["executions"]
    assert check["name"] == f"{DAILY}-batch-20261125T0600-input"
    assert check["status"] == "SUCCEEDED"

    # ... and the drift alarm, set off by hand for the first model, sees a clean check
    alarm = f"modelfresh-drift-{DAILY}"
    changes = app.cloud.evaluate_alarms(FIRST + timedelta(minutes=30))
    assert [(c.alarm, c.new) for c in changes] == [(alarm, "OK")]

    # When two days of input come from a changed business (a rival's cheaper plan)
    for day in (1, 2):
        app.put_input(DAILY, FIRST + timedelta(days=day), drift=1.0, hours=[20, 10, 2])
        app.tick(FIRST + timedelta(days=day, seconds=10))
        flagged = app.run_at(FIRST + timedelta(days=day))
        assert flagged["status"] == "SUCCEEDED", flagged
        record = app.last_audit(DAILY)
        assert record["kind"] == "batch-flagged"  # scored, and the drift said
        flag = app.marker(DAILY, FIRST + timedelta(days=day))
        assert flag is not None and flag["flagged"] and flag["input"]["drifted"]
        assert "monthly_charges" in record["detail"]["input"]["summary"]
        # (the first day's run left 07:00's object, written after it, to the second)
        assert len(app.scored(DAILY, FIRST + timedelta(days=day))) == (4 if day == 1 else 3)

    # Then the drift alarm sees both checks and goes off: a retrain starts, on refreshed data
    app.base_data(DAILY, drift=1.0, seed=5)
    changes = app.cloud.evaluate_alarms(FIRST + timedelta(days=2, minutes=30))
    assert [(c.alarm, c.new) for c in changes] == [(alarm, "ALARM")]
    retrained = app.retrain(DAILY, count=2)
    assert retrained not in (v1, pending)

    # ... and the next run checks and scores with the retrained champion
    app.put_input(DAILY, FIRST + timedelta(days=3), drift=1.0, hours=[12])
    app.tick(FIRST + timedelta(days=3, seconds=10))
    assert app.run_at(FIRST + timedelta(days=3))["status"] == "SUCCEEDED"
    record = app.last_audit(DAILY)
    assert record["detail"]["package"] == retrained
    assert record["kind"] == "batch-scored"  # its own baseline is the changed business


def test_a_drifted_input_under_stop_scores_nothing_and_says_why(batch_app: BatchApp) -> None:
    app = batch_app
    # Given a champion (approved by a person in the registry) whose package has a baseline
    champion = app.first_champion(STRICT)

    # When its day's input drifted
    app.put_input(STRICT, FIRST, drift=1.0, hours=[20, 4])
    app.tick(FIRST + timedelta(seconds=10))

    # Then the run ends refused, nothing scored, and the record says what drifted
    run = app.run_at(FIRST, STRICT)
    assert (run["status"], run.get("error")) == ("FAILED", "BatchInputRefused")
    assert app.scored(STRICT, FIRST) == {} and app.marker(STRICT, FIRST) is None
    record = app.last_audit(STRICT)
    assert record["kind"] == "batch-stopped"
    assert record["detail"]["package"] == champion
    assert "monthly_charges" in record["detail"]["input"]["summary"]
    assert 'on_violation is "stop"' in record["summary"]
    note = app.cloud.notifications(app.topic_arn)[-1]
    assert (note["kind"], note["model"]) == ("batch-stopped", STRICT)
    # ... and its input, over the model's fan-out size, was checked by a Distributed Map
    (check,) = app.sfn.list_executions(stateMachineArn=app.drift_check_arn)["executions"]
    assert (
        json.loads(app.sfn.describe_execution(executionArn=check["executionArn"])["output"])[
            "plan"
        ]["mode"]
        == "fan-out"
    )
    assert "Summarise each batch" in app.entered(check)


def test_a_person_approves_a_batch_candidate_on_a_page_that_shows_it_scoring_the_newest_input(
    batch_app: BatchApp,
) -> None:
    app = batch_app
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    app.put_input(ASKED, now, drift=0.0, hours=[2])  # the newest input, two hours old
    app.base_data(ASKED, drift=0.0, seed=1)
    alarm = f"modelfresh-drift-{ASKED}"
    app.cloud.create_drift_alarm(alarm, model=ASKED)

    # Given a candidate its gate approved: a promotion run scores a sample, then asks
    app.fire_alarm(alarm, reason="first model")
    first = app.candidate(count=1)
    email = app.wait_for_approval_email()
    assert email["subject"] == f"[modelfresh] Approve {ASKED} v1 as its batch champion?"
    assert (
        f"Sample:    v1 scored 5 of 5 rows of s3://{app.cloud.data_bucket}/{ASKED}/"
        in (email["email"])
    )
    assert app.model_state(ASKED).get("champion_package") is None  # not before a yes
    status, page = app.http("GET", app.approval_link())
    assert status == 200 and f"Make {ASKED} v1 its batch champion?" in page
    assert page.count("<tr><td><b>0.") + page.count("<tr><td><b>1") == 5  # five scored rows

    # When the approver says yes, it is the champion
    assert app.decide("approve", "the scores look right")[0] == 200
    app.cloud.wait_until(
        lambda: app.model_state(ASKED).get("champion_package") == first, what="the champion"
    )
    promotions = app.sfn.list_executions(
        stateMachineArn=app.stack.outputs["BatchPromotionStateMachineArn"]
    )["executions"]
    assert [app.wait(e)["status"] for e in promotions] == ["SUCCEEDED"]

    # And when the next candidate is turned down, it is Rejected, and the champion stays
    app.fire_alarm(alarm, reason="again")
    second = app.candidate(count=2)
    app.wait_for_approval_email(count=2)
    assert app.decide("reject", "not this week", count=2)[0] == 200
    app.cloud.wait_until(
        lambda: (
            app.sagemaker.describe_model_package(ModelPackageName=second)["ModelApprovalStatus"]
            == "Rejected"
        ),
        what="the rejection",
    )
    assert app.model_state(ASKED)["champion_package"] == first
    kinds = [a["kind"] for a in app.audit(ASKED)]
    assert kinds.count("batch-champion") == 1 and "promotion-rejected" in kinds


def test_a_batch_models_quality_is_its_scores_joined_with_later_labels_by_record_id(
    batch_app: BatchApp,
) -> None:
    app = batch_app
    app.first_champion(DAILY)
    rows = app.put_input(DAILY, FIRST, drift=0.0, hours=[9, 3])
    app.tick(FIRST + timedelta(seconds=10))
    assert app.run_at(FIRST)["status"] == "SUCCEEDED"

    # Given whether each customer left, known the next day, for all but 100 of them
    known = list(app.left.items())[: rows - 100]
    app.cloud.ground_truth.clock = partial(operator.add, FIRST, timedelta(hours=20))
    app.cloud.ground_truth.write(f"{app.cloud.ground_truth_uri}/{DAILY}", known)

    # When the day's quality check runs, once its labels are in (the lag: a day)
    request = QualityCheckRequest(DAILY, datetime(2026, 11, 27, 0, 10, tzinfo=UTC))
    machine = app.stack.outputs["QualityCheckStateMachineArn"]
    started = app.sfn.start_execution(
        stateMachineArn=machine, name="batch-quality", input=request.to_json()
    )
    checked = app.cloud.wait_for_execution(started["executionArn"], timeout=60)

    # Then the run's scores are joined with the labels by id and scored as the gate scores
    assert checked["status"] == "SUCCEEDED", checked
    finding = json.loads(checked["output"])["result"]["finding"]
    assert (finding["metric"], finding["rows"], finding["unlabelled"]) == ("auc", rows - 100, 100)
    assert 0.8 < finding["value"] < 0.95 and not finding["violated"]
    # ... published where the model's quality alarm watches, as a real-time model's are
    points = app.cloudwatch.get_metric_statistics(
        Namespace="ModelFresh/Quality", MetricName="auc",
        Dimensions=[{"Name": "model", "Value": DAILY}],
        StartTime=FIRST - timedelta(days=2), EndTime=FIRST + timedelta(days=3),
        Period=86400, Statistics=["Maximum"],
    )["Datapoints"]  # fmt: skip
    assert [round(p["Maximum"], 6) for p in points] == [round(finding["value"], 6)]
    alarms = app.cloudwatch.describe_alarms(AlarmNamePrefix=f"modelfresh-drift-{DAILY}--quality")
    assert [a["Namespace"] for a in alarms["MetricAlarms"]] == ["ModelFresh/Quality"]

    # When two more days are scored for a changed business, and their outcomes come in
    quality_alarm = f"modelfresh-drift-{DAILY}--quality"
    changes = []
    for day in (1, 2):
        before = set(app.left)
        app.put_input(DAILY, FIRST + timedelta(days=day), drift=1.0, hours=[9, 3])
        app.tick(FIRST + timedelta(days=day, seconds=10))
        assert app.run_at(FIRST + timedelta(days=day))["status"] == "SUCCEEDED"
        app.cloud.ground_truth.clock = partial(operator.add, FIRST, timedelta(days=day, hours=20))
        app.cloud.ground_truth.write(
            f"{app.cloud.ground_truth_uri}/{DAILY}",
            [(i, y) for i, y in app.left.items() if i not in before],
        )
        at = datetime(2026, 11, 27 + day, 0, 10, tzinfo=UTC)
        started = app.sfn.start_execution(
            stateMachineArn=machine, name=f"batch-quality-{day}",
            input=QualityCheckRequest(DAILY, at).to_json(),
        )  # fmt: skip
        drifted = app.cloud.wait_for_execution(started["executionArn"], timeout=60)
        assert json.loads(drifted["output"])["result"]["finding"]["violated"]
        changes += [c for c in app.cloud.evaluate_alarms(at) if c.alarm == quality_alarm]

    # Then the quality alarm goes off on the two bad days, and reaches the controller's trigger
    # as a real-time model's does (this model's retrain_on is "drift": it is recorded)
    assert [c.new for c in changes] == ["ALARM"]
    recorded = app.cloud.wait_until(
        lambda: [a for a in app.audit(DAILY) if a["kind"] == "alarm-recorded"], what="the record"
    )
    assert quality_alarm in recorded[0]["summary"]
