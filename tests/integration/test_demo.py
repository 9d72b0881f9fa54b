"""`make demo` keeps working: the whole loop, in server mode, as the README promises."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import demo.__main__ as demo


def test_the_demo_takes_a_drift_alarm_to_production(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(demo, "OUTPUT", tmp_path)

    assert demo.main([]) == 0

    printed = capsys.readouterr().out
    timeline = (tmp_path / "timeline.txt").read_text()
    assert "[approval-requested]" in timeline
    assert f"[approval-granted] v2 approved by 127.0.0.1: {demo.DEMO_COMMENT}" in timeline
    assert "[promoted] taxi-fare v2 now serves production" in timeline
    assert "Endpoint taxi-fare-prod: InService, serves taxi-fare/2 on 2 x ml.m5.large" in timeline
    assert "Auto scaling on prod: modelfresh-taxi-fare-invocations" in timeline
    assert "/baseline/statistics.json" in timeline.split("Champion: taxi-fare/2")[1]
    # From captured traffic: the drift checks, the alarm from their metrics, the report...
    # (the first hour as trained, two changed hours, and the changed city after re-baselining)
    shares = [
        int(share)
        for share in re.findall(r"drift check +\S+ window: \d+ rows, (\d+)% of features", timeline)
    ]
    assert len(shares) == 4
    assert shares[0] == 0 and min(shares[1:3]) > 20 and shares[3] == 0
    assert "modelfresh-drift-taxi-fare OK -> ALARM: Threshold Crossed: 2 out of the last 3" in (
        timeline
    )
    assert "<svg" in (tmp_path / "drift-report.html").read_text()
    # ...which travels into the approval email.
    assert "Drift check: " in (tmp_path / "approval-email.txt").read_text()
    # The email the approvers get, printed with its one link, and no task token anywhere
    email = (tmp_path / "approval-email.txt").read_text()
    assert email.count("http://127.0.0.1:") == 1
    assert "Approve taxi-fare v2 for production?" in printed
    for name in ("timeline.txt", "lambda-logs.jsonl", "deploy-execution.json"):
        assert "taskToken" not in (tmp_path / name).read_text()
