"""The estimate benchmark's own machinery (bench/estimate.py), at tiny sizes: its scenarios
move what they say, its figures are counted from the hours, and `--only estimate` records the
section beside the other sections' last figures. The figures themselves belong to `make bench`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from driftcheck import estimate

import bench.__main__ as bench_main
from bench import estimate as section

TINY = section.Sizes(
    training_rows=2000,
    holdout_rows=600,
    windows=3,
    window_rows=300,
    rounds=8,
    timed_rows=(300,),
    timing_runs=1,
)


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    return section.benchmark(TINY, progress=lambda _: None)


def test_a_scenario_moves_its_inputs_by_the_hours_share_of_its_change() -> None:
    scenario = section.Scenario("t", offset=(2.0, 0, 0, 0, 0), scale=(0.5, 1, 1, 1, 1))

    first = scenario.inputs(20_000, 0.0, np.random.default_rng(1))
    last = scenario.inputs(20_000, 1.0, np.random.default_rng(1))

    assert np.mean(first[:, 0]) == pytest.approx(0.0, abs=0.03)
    assert np.mean(last[:, 0]) == pytest.approx(2.0, abs=0.03)
    assert np.std(last[:, 0]) == pytest.approx(0.5, abs=0.01)
    np.testing.assert_array_equal(first[:, 1:], last[:, 1:])


def test_every_scenario_reports_every_metric_and_the_goal_its_worst_covariate_hour(
    results: dict[str, Any],
) -> None:
    for problem, world in section.WORLDS.items():
        found = results["problems"][problem]
        assert set(found["scenarios"]) == set(world.scenarios)
        assert set(found["timing_ms"]) == {"300"}
        for scenario in found["scenarios"].values():
            assert tuple(scenario["metrics"]) == estimate.METRICS[problem]
            for figures in scenario["metrics"].values():
                assert figures["max_absolute_error"] >= figures["mean_absolute_error"] >= 0
                assert 0 <= figures["within_two_sd"] <= 1
    binary = results["problems"]["binary_classification"]["scenarios"]
    worst = max(binary[name]["metrics"]["auc"]["max_absolute_error"] for name in section.COVARIATE)
    assert results["goal"]["max_absolute_error"] == worst
    assert results["goal"]["met"] is (worst <= 0.03)


def test_only_the_estimate_section_runs_and_joins_the_recorded_results(
    results: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given recorded results of every other section
    recorded = json.loads((bench_main.RESULTS / "results.json").read_text())
    recorded.pop("estimate", None)
    (tmp_path / "results.json").write_text(json.dumps(recorded))
    monkeypatch.setattr(bench_main, "RESULTS", tmp_path)
    monkeypatch.setattr(section, "benchmark", lambda: results)

    # When the bench runs with --only estimate
    assert bench_main.main(["--only", "estimate"]) == 0

    # Then the other sections keep their figures, and RESULTS.md shows all of them
    written = json.loads((tmp_path / "results.json").read_text())
    assert {k: v for k, v in written.items() if k != "estimate"} == recorded
    assert written["estimate"]["problems"] == results["problems"]
    report = (tmp_path / "RESULTS.md").read_text()
    assert "## Drift check vs Evidently" in report
    assert "## Performance estimated before labels arrive" in report
    assert "| pure concept drift | auc |" in report
