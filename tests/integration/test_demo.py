"""`make demo` keeps working: the whole loop, in server mode, as the README promises; for the
taxi-fare regressor and the churn classifier, on and off the happy path."""

from __future__ import annotations

import io
import re
import threading
import time
from pathlib import Path

import pytest

import demo.__main__ as demo
from demo import records, taxi
from demo.story import Story, ending_of
from localcloud import approver
from tests.conftest import App

PERSON = "Looked at the report: the new city is real. Ship it."


class Transcript(io.StringIO):
    """stdout, remembering for each line whether the person had clicked yet."""

    def __init__(self, clicked: threading.Event) -> None:
        super().__init__()
        self.clicked = clicked
        self.lines: list[tuple[str, bool]] = []

    def write(self, text: str) -> int:
        self.lines.append((text, self.clicked.is_set()))
        return super().write(text)


def run_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: str) -> None:
    """The demo reads `config` and writes to tmp_path. The smoke tests' latency bar is raised
    as in the tests' own models: on a loaded CI box a local request can stall past the shipped
    1 s (CI once stopped this demo at its smoke test so), which says nothing about a model."""
    assert config.count("max_latency_ms = 1000") == 2  # the two smoke tests, not the rollback
    (tmp_path / "models.toml").write_text(
        config.replace("max_latency_ms = 1000", "max_latency_ms = 30000")
    )
    monkeypatch.setattr(demo, "CONFIG", tmp_path / "models.toml")
    monkeypatch.setattr(demo, "OUTPUT", tmp_path)


def approve_later(output: Path, clicked: threading.Event) -> None:
    """A person: reads the email once it arrives, takes a while, then approves on the page."""
    email = output / "approval-email.txt"
    deadline = time.monotonic() + 600
    while not email.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    link = approver.link_in(email.read_text())
    time.sleep(2.0)  # reading the page; a demo that does not wait reports a decision meanwhile
    clicked.set()
    approver.decide(link, "approve", PERSON)


def test_the_demo_waits_for_a_person_and_takes_a_drift_alarm_to_production(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the taxi-fare demo that waits for a person, who approves a while after the email
    run_with(tmp_path, monkeypatch, demo.CONFIG.read_text())
    clicked = threading.Event()
    transcript = Transcript(clicked)
    monkeypatch.setattr("sys.stdout", transcript)
    person = threading.Thread(target=approve_later, args=(tmp_path, clicked), daemon=True)
    person.start()

    # When it runs
    status = demo.main(["--wait-for-approval"])

    # Then it reported the decision only once the person had clicked, and reached production
    assert status == 0
    decided = [after for text, after in transcript.lines if "decision received" in text]
    assert decided == [True]
    printed = transcript.getvalue()
    assert printed.index("modelfresh demo: taxi-fare") < printed.index("setup ")
    assert "Approve taxi-fare v2 for production?" in printed
    timeline = (tmp_path / "timeline.txt").read_text()
    assert "[approval-requested]" in timeline
    assert f"[approval-granted] v2 approved by 127.0.0.1: {PERSON}" in timeline
    assert "[promoted] taxi-fare v2 now serves production" in timeline
    assert "Endpoint taxi-fare-prod: InService, serves taxi-fare/2 on 2 x ml.m5.large" in timeline
    assert "Auto scaling on prod: modelfresh-taxi-fare-invocations" in timeline
    assert "/baseline/statistics.json" in timeline.split("Champion: taxi-fare/2")[1]
    # From captured traffic: the drift checks, the alarm from their metrics, the report...
    # (the first hour as trained, two changed hours, and the changed city after re-baselining)
    checks = re.findall(
        r"drift check +\S+ window: \d+ rows, (\d+)% of features drifted \((\d+) of 9: ([^)]*)\)",
        timeline,
    )
    assert [int(share) for share, _, _ in checks][0::3] == [0, 0]
    assert min(int(share) for share, _, _ in checks[1:3]) > 20
    # every drifted feature is named, none cut off
    assert all(int(n) == len(names.split(", ")) for _, n, names in checks[1:3])
    assert "modelfresh-drift-taxi-fare OK -> ALARM: Threshold Crossed: 2 out of the last 3" in (
        timeline
    )
    assert "<svg" in (tmp_path / "drift-report.html").read_text()
    # ...which travels into the approval email.
    email = (tmp_path / "approval-email.txt").read_text()
    assert "Drift check: " in email
    # The email the approvers get, printed with its one link, and no task token anywhere
    assert email.count("http://127.0.0.1:") == 1
    for name in ("timeline.txt", "lambda-logs.jsonl", "deploy-execution.json"):
        assert "taskToken" not in (tmp_path / name).read_text()


def test_the_churn_demo_says_why_a_candidate_was_not_promoted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the churn classifier, whose candidate must beat the champion's AUC by 0.5
    config = demo.CONFIG.read_text().replace("champion_margin = 0.005", "champion_margin = 0.5", 1)
    assert "champion_margin = 0.5" in config
    run_with(tmp_path, monkeypatch, config)

    # When the demo runs it
    status = demo.main(["--model", "churn"])

    # Then it ends cleanly with the system's decision and why, the timeline still printed
    assert status == demo.EXIT["decided"] == 3
    printed = capsys.readouterr().out
    assert "modelfresh demo: churn (binary_classification, gate auc maximize 0.75)" in printed
    assert "[rejected] Rejected by the gate" in printed
    assert "does not beat the champion" in printed
    timeline = (tmp_path / "timeline.txt").read_text()
    assert re.search(r"candidate auc 0\.\d+, champion 0\.\d+", timeline)
    assert "[rejected]" in timeline
    assert re.search(r"v2  Rejected +Rejected by the gate", timeline)
    assert "Endpoint churn-prod: InService, serves churn/1" in timeline
    assert re.search(r"Outcome \(decided\): churn-drift-\S+ SUCCEEDED: Rejected by", printed)
    assert not (tmp_path / "approval-email.txt").exists()


def test_a_failed_pipeline_is_told_with_sagemakers_reason(app: App, tmp_path: Path) -> None:
    # Given a retrain whose pipeline failed, SageMaker saying why
    reason = "auc 0.79, which does not meet the gate (maximize 0.8)"
    app.fire_alarm()
    app.cloud.pipelines.wait_for_run("modelfresh-retrain").fail(reason)
    described = app.wait(app.only_execution())
    said: list[str] = []
    story = Story(
        app.cloud,
        app.config.model("taxi-fare"),
        taxi.City(),
        config=demo.ROOT / "tests" / "fixtures" / "models.toml",
        output=tmp_path,
        say=lambda stage, text: said.append(f"{stage} {text}"),
    )
    story.stack = app.stack

    # When the demo follows the run, concludes, and reads the records back
    story.follow(described["executionArn"], "retrain")
    ending = ending_of(described, story.told_ending(described))
    timeline = records.Timeline()
    records.record_pipelines(app.cloud, story.model, story.world, timeline)
    records.record_execution(app.cloud, described, "retrain run", timeline)

    # Then the reason is there wherever the failure is reported
    assert f"pipeline modelfresh-retrain Failed: {reason}" in said
    assert any(line.startswith("decided [failed]") and reason in line for line in said)
    assert ending.kind == "failed"
    assert reason in ending.why
    told = timeline.render()
    assert f"pipeline Failed: {reason}" in told
    assert "FAILED (RetrainFailed: " in told
