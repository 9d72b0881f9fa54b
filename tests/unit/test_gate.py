"""The evaluation gate: reading the report, and the verdict (its status and its reasons)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from modelfresh.core.errors import EvaluationReportInvalid
from modelfresh.core.schema import ApprovalMode, Gate
from modelfresh.retrain.gate import (
    DESCRIPTION_LIMIT,
    Comparison,
    Evaluation,
    judge,
    read_evaluation,
)

PACKAGE = "arn:aws:sagemaker:us-east-1:123456789012:model-package/taxi-fare/3"
CHAMPION = "arn:aws:sagemaker:us-east-1:123456789012:model-package/taxi-fare/2"
HOLDOUT = "s3://modelfresh-data/taxi-fare/holdout/test.csv"
RUN = "taxi-fare-drift-20261122T1000-0123456789"
RMSE = Gate(metric="rmse", threshold=4.0, direction="minimize")
AUC = Gate(metric="auc", threshold=0.8, direction="maximize")


def report(section: str, metric: str, value: Any, **extra: Any) -> dict[str, Any]:
    return {section: {metric: {"value": value, "standard_deviation": 0.1}}, **extra}


# -- read_evaluation ---------------------------------------------------------------------------


def test_regression_report_with_champion_and_holdout_is_read() -> None:
    # Given the report layout the pipeline's evaluation step writes
    document = {
        "regression_metrics": {"rmse": {"value": 3.1, "standard_deviation": 0.2}},
        "champion": {
            "model_package_arn": CHAMPION,
            "regression_metrics": {"rmse": {"value": 3.4}},
        },
        "holdout": {"uri": HOLDOUT, "rows": 2000},
    }

    evaluation = read_evaluation(document, "rmse")

    assert evaluation == Evaluation(
        candidate=3.1, champion=3.4, champion_package=CHAMPION, holdout=HOLDOUT
    )


@pytest.mark.parametrize(
    "section", ["binary_classification_metrics", "multiclass_classification_metrics"]
)
def test_classification_report_is_read(section: str) -> None:
    document = report(section, "auc", 0.91, champion=report(section, "auc", 0.88))

    assert read_evaluation(document, "auc") == Evaluation(candidate=0.91, champion=0.88)


def test_integer_metric_is_read_as_a_float() -> None:
    evaluation = read_evaluation(report("regression_metrics", "rmse", 3), "rmse")

    assert evaluation.candidate == 3.0
    assert isinstance(evaluation.candidate, float)


@pytest.mark.parametrize(
    "champion",
    [
        pytest.param(None, id="no-champion-section"),
        pytest.param({"model_package_arn": CHAMPION}, id="champion-without-metric"),
        pytest.param(report("regression_metrics", "rmse", float("nan")), id="champion-nan"),
        pytest.param("arn:...", id="champion-not-an-object"),
    ],
)
def test_champion_is_optional(champion: Any) -> None:
    document = report("regression_metrics", "rmse", 3.1)
    if champion is not None:
        document["champion"] = champion

    evaluation = read_evaluation(document, "rmse")

    assert (evaluation.candidate, evaluation.champion) == (3.1, None)


@pytest.mark.parametrize(
    ("document", "sections"),
    [
        pytest.param(report("regression_metrics", "mae", 2.0), "regression_metrics", id="absent"),
        pytest.param(
            report("regression_metrics", "rmse", float("nan")), "regression_metrics", id="nan"
        ),
        pytest.param(
            report("regression_metrics", "rmse", float("inf")), "regression_metrics", id="inf"
        ),
        pytest.param(report("regression_metrics", "rmse", True), "regression_metrics", id="bool"),
        pytest.param(
            report("regression_metrics", "rmse", "3.1"), "regression_metrics", id="string"
        ),
        pytest.param({"regression_metrics": {"rmse": 3.1}}, "regression_metrics", id="bare-number"),
        pytest.param(
            {
                "regression_metrics": {"mae": {"value": 2.0}},
                "binary_classification_metrics": {"auc": {"value": 0.9}},
            },
            "regression_metrics, binary_classification_metrics",
            id="several-sections",
        ),
        pytest.param({"holdout": {"uri": HOLDOUT}}, "no metric sections", id="no-sections"),
    ],
)
def test_report_without_a_finite_gate_metric_is_invalid_and_names_it(
    document: dict[str, Any], sections: str
) -> None:
    with pytest.raises(EvaluationReportInvalid) as raised:
        read_evaluation(document, "rmse")

    assert str(raised.value) == (
        f"the evaluation report has no finite value for 'rmse' ({sections})"
    )


# -- judge -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gate", "value", "passed", "reason"),
    [
        (RMSE, 3.9, True, "rmse 3.9 meets the threshold (<= 4)"),
        (RMSE, 4.0, True, "rmse 4 meets the threshold (<= 4)"),
        (RMSE, 4.1, False, "rmse 4.1 misses the threshold (<= 4)"),
        (AUC, 0.81, True, "auc 0.81 meets the threshold (>= 0.8)"),
        (AUC, 0.8, True, "auc 0.8 meets the threshold (>= 0.8)"),
        (AUC, 0.79, False, "auc 0.79 misses the threshold (>= 0.8)"),
    ],
)
def test_threshold_is_inclusive_in_the_gate_direction(
    gate: Gate, value: float, passed: bool, reason: str
) -> None:
    verdict = judge(Evaluation(candidate=value), gate, "auto", PACKAGE, RUN)

    assert verdict["passed"] is passed
    assert verdict["reasons"] == [
        reason,
        "no champion metric in the report: judged on the threshold only",
    ]


@pytest.mark.parametrize(
    ("gate", "candidate", "champion", "passed", "reason"),
    [
        pytest.param(
            Gate("rmse", 4.0, "minimize", champion_margin=0.5),
            3.0,
            3.5,
            True,
            "beats the champion's 3.5 by the required margin 0.5 (improvement 0.5)",
            id="minimize-exactly-the-margin",
        ),
        pytest.param(
            Gate("rmse", 4.0, "minimize", champion_margin=0.5),
            3.25,
            3.5,
            False,
            "does not beat the champion's 3.5 by the required margin 0.5 (improvement 0.25)",
            id="minimize-below-the-margin",
        ),
        pytest.param(
            Gate("rmse", 4.0, "minimize"),
            3.75,
            3.5,
            False,
            "does not beat the champion's 3.5 by the required margin 0 (improvement -0.25)",
            id="minimize-worse-than-champion",
        ),
        pytest.param(
            Gate("rmse", 4.0, "minimize"),
            3.5,
            3.5,
            True,
            "beats the champion's 3.5 by the required margin 0 (improvement 0)",
            id="minimize-tie-without-margin",
        ),
        pytest.param(
            Gate("auc", 0.8, "maximize", champion_margin=0.125),
            0.875,
            0.75,
            True,
            "beats the champion's 0.75 by the required margin 0.125 (improvement 0.125)",
            id="maximize-exactly-the-margin",
        ),
        pytest.param(
            Gate("auc", 0.8, "maximize", champion_margin=0.125),
            0.8125,
            0.75,
            False,
            "does not beat the champion's 0.75 by the required margin 0.125 (improvement 0.0625)",
            id="maximize-below-the-margin",
        ),
    ],
)
def test_candidate_must_beat_the_champion_by_the_margin(
    gate: Gate, candidate: float, champion: float, passed: bool, reason: str
) -> None:
    evaluation = Evaluation(candidate=candidate, champion=champion)

    verdict = judge(evaluation, gate, "auto", PACKAGE, RUN)

    assert verdict["passed"] is passed
    assert verdict["reasons"][1] == reason


def test_improvement_of_exactly_a_decimal_margin_passes() -> None:
    gate = Gate("rmse", 4.0, "minimize", champion_margin=0.3)

    verdict = judge(Evaluation(candidate=3.1, champion=3.4), gate, "auto", PACKAGE, RUN)

    assert verdict["passed"], verdict["description"]


def test_holdout_is_named_in_the_champion_reason() -> None:
    evaluation = Evaluation(candidate=3.0, champion=3.5, holdout=HOLDOUT)

    verdict = judge(evaluation, RMSE, "auto", PACKAGE, RUN)

    assert verdict["reasons"][1] == (
        f"beats the champion's 3.5 by the required margin 0 (improvement 0.5) on holdout {HOLDOUT}"
    )


def test_candidate_over_the_threshold_is_rejected_even_if_it_beats_the_champion() -> None:
    verdict = judge(Evaluation(candidate=4.5, champion=9.0), RMSE, "auto", PACKAGE, RUN)

    assert (verdict["passed"], verdict["status"]) == (False, "Rejected")


@pytest.mark.parametrize(
    ("approval", "candidate", "status", "head"),
    [
        ("auto", 3.0, "Approved", "Approved by the gate"),
        ("manual", 3.0, "PendingManualApproval", "Passed the gate; awaiting manual approval"),
        ("auto", 4.5, "Rejected", "Rejected by the gate"),
        ("manual", 4.5, "Rejected", "Rejected by the gate"),
    ],
)
def test_registry_status_follows_the_gate_and_the_approval_mode(
    approval: ApprovalMode, candidate: float, status: str, head: str
) -> None:
    verdict = judge(Evaluation(candidate=candidate), RMSE, approval, PACKAGE, RUN)

    assert verdict["status"] == status
    assert verdict["description"].startswith(f"{head} (modelfresh run {RUN}): ")


def test_description_states_the_decision_the_run_and_every_reason() -> None:
    comparison = Comparison(interval=(0.31, 0.68), confidence=0.95, resamples=1000)
    evaluation = Evaluation(candidate=3.0, champion=3.5, comparison=comparison)
    gate = Gate("rmse", 4.0, "minimize", champion_margin=0.25)

    verdict = judge(evaluation, gate, "auto", PACKAGE, RUN)

    assert verdict["description"] == (
        f"Approved by the gate (modelfresh run {RUN}): "
        "rmse 3 meets the threshold (<= 4); "
        "beats the champion's 3.5 by the required margin 0.25 "
        "(improvement 0.5, 95% interval 0.31 to 0.68); "
        "the improvement is distinguishable from noise: its 95% interval lies above 0 "
        "(paired bootstrap of 1000 resamples of the holdout)."
    )


@pytest.mark.parametrize(
    ("run", "holdout"),
    [
        pytest.param("r" * 900, "s3://modelfresh-data/" + "k" * 1000, id="long-run-and-holdout"),
        pytest.param(RUN, "s3://modelfresh-data/" + "k" * 2000, id="long-holdout"),
        pytest.param("r" * 2000, HOLDOUT, id="run-longer-than-the-limit"),
    ],
)
def test_description_fits_the_registry_limit(run: str, holdout: str) -> None:
    # Given a very long run name or holdout URI
    evaluation = Evaluation(candidate=3.0, champion=3.5, holdout=holdout)

    verdict = judge(evaluation, RMSE, "manual", PACKAGE, run)

    # Then the description is cut to UpdateModelPackage's 1024 characters, decision first
    assert DESCRIPTION_LIMIT == 1024
    assert len(verdict["description"]) == 1024
    expected_start = (
        f"Passed the gate; awaiting manual approval (modelfresh run {run}): rmse 3 meets"
    )
    assert verdict["description"].startswith(expected_start[:1024])
    # ... while the reasons themselves are kept whole
    assert verdict["reasons"][1].endswith(f"on holdout {holdout}")


def test_verdict_is_json_serialisable() -> None:
    evaluation = Evaluation(candidate=3.0, champion=3.5, holdout=HOLDOUT)
    gate = Gate("rmse", 4.0, "minimize", champion_margin=0.25)
    verdict = judge(evaluation, gate, "auto", PACKAGE, RUN)

    data = json.loads(json.dumps(verdict))

    assert data == {
        "model_package_arn": PACKAGE,
        "passed": True,
        "status": "Approved",
        "reasons": list(verdict["reasons"]),
        "metric": "rmse",
        "direction": "minimize",
        "candidate": 3.0,
        "threshold": 4.0,
        "champion": 3.5,
        "margin": 0.25,
        "improvement": 0.5,
        "interval": None,
        "confidence": 0.95,
        "significant": None,
        "require_significant": True,
        "description": verdict["description"],
    }


def test_verdict_without_champion_serialises_it_as_null() -> None:
    verdict = judge(Evaluation(candidate=3.0), RMSE, "auto", PACKAGE, RUN)

    assert json.loads(json.dumps(verdict))["champion"] is None


# -- the champion comparison: margin and noise -------------------------------------------------

# The example: an AUC 0.0037 better than the champion's on 1,104 holdout rows, whose
# paired 95% interval straddles zero (the evaluation step's figures for such a holdout:
# test_pipeline_steps.py, test_an_auc_gain_of_0_0037_on_1104_rows_is_noise).
NOISE = Comparison(interval=(-0.0059, 0.0126), confidence=0.95, resamples=1000)
REAL = Comparison(interval=(0.0061, 0.0213), confidence=0.95, resamples=1000)
AUC_MARGIN = Gate("auc", 0.7, "maximize", champion_margin=0.002)


def against(candidate: float, comparison: Comparison | None, gate: Gate = AUC_MARGIN) -> Any:
    evaluation = Evaluation(candidate=candidate, champion=0.8100, comparison=comparison)
    return judge(evaluation, gate, "auto", PACKAGE, RUN)


def test_an_improvement_over_the_margin_that_is_noise_is_rejected_saying_so() -> None:
    # Given the candidate: 0.0037 better, over the margin, but within the noise
    verdict = against(0.8137, NOISE)

    # Then it loses, and the reasons say the margin was met but the interval reaches below 0
    assert (verdict["passed"], verdict["status"]) == (False, "Rejected")
    assert verdict["reasons"][1:] == [
        "beats the champion's 0.81 by the required margin 0.002 "
        "(improvement 0.0037, 95% interval -0.0059 to 0.013)",
        "the improvement is not distinguishable from noise: its 95% interval reaches -0.0059, "
        "not above 0 (paired bootstrap of 1000 resamples of the holdout)",
    ]
    assert verdict["improvement"] == pytest.approx(0.0037)
    assert (verdict["interval"], verdict["significant"]) == ([-0.0059, 0.0126], False)
    assert "improvement 0.0037, 95% interval -0.0059 to 0.013" in verdict["description"]


def test_an_improvement_over_the_margin_told_from_noise_passes() -> None:
    verdict = against(0.8237, REAL)

    assert (verdict["passed"], verdict["status"]) == (True, "Approved")
    assert verdict["reasons"][2] == (
        "the improvement is distinguishable from noise: its 95% interval lies above 0 "
        "(paired bootstrap of 1000 resamples of the holdout)"
    )
    assert (verdict["interval"], verdict["significant"]) == ([0.0061, 0.0213], True)


def test_a_significant_improvement_under_the_margin_is_rejected_by_the_margin() -> None:
    gate = Gate("auc", 0.7, "maximize", champion_margin=0.02)

    verdict = against(0.8237, REAL, gate)

    assert verdict["passed"] is False
    assert verdict["reasons"][1] == (
        "does not beat the champion's 0.81 by the required margin 0.02 "
        "(improvement 0.0137, 95% interval 0.0061 to 0.021)"
    )
    assert verdict["significant"] is True


def test_a_gate_that_does_not_require_significance_passes_noise_over_the_margin() -> None:
    gate = Gate("auc", 0.7, "maximize", champion_margin=0.002, require_significant=False)

    verdict = against(0.8137, NOISE, gate)

    assert verdict["passed"] is True
    assert verdict["reasons"][2] == (
        "the improvement is not distinguishable from noise: its 95% interval reaches -0.0059, "
        "not above 0 (paired bootstrap of 1000 resamples of the holdout), which this gate does "
        "not require (require_significant = false)"
    )
    assert (verdict["significant"], verdict["require_significant"]) == (False, False)


@pytest.mark.parametrize("required", [True, False])
def test_a_report_without_the_comparison_is_judged_on_the_margin_and_says_so(
    required: bool,
) -> None:
    # Given a report from a pipeline that predates the paired comparison
    gate = Gate("auc", 0.7, "maximize", champion_margin=0.002, require_significant=required)

    verdict = against(0.8137, None, gate)

    # Then the margin alone decides, as before; a gate that wanted the noise check says so
    assert verdict["passed"] is True
    assert verdict["reasons"][1] == (
        "beats the champion's 0.81 by the required margin 0.002 (improvement 0.0037)"
    )
    expected = (
        ["the report has no paired comparison with the champion at 95% confidence "
         "(an evaluation from before it): judged on the margin alone"]
        if required
        else []
    )  # fmt: skip
    assert verdict["reasons"][2:] == expected
    assert (verdict["interval"], verdict["significant"]) == (None, None)


def test_the_gates_confidence_takes_its_interval_from_the_resampled_differences() -> None:
    # Given 1,000 resampled improvements 0.000..0.999 and the report's 95% interval
    differences = tuple(i / 1000 - 0.1 for i in range(1000))
    comparison = Comparison(
        interval=(-0.075, 0.874), confidence=0.95, resamples=1000, differences=differences
    )

    # Then a gate at 95% uses the report's interval; one at 80% the differences' 10th to 90th
    # percentiles (numpy's linear interpolation); a report without differences has no other
    assert comparison.interval_at(0.95) == (-0.075, 0.874)
    low, high = comparison.interval_at(0.8) or (None, None)
    assert (low, high) == pytest.approx(tuple(np.quantile(differences, [0.1, 0.9])))
    assert Comparison(interval=(0.1, 0.2), confidence=0.95, resamples=9).interval_at(0.9) is None
    gate = Gate("auc", 0.7, "maximize", confidence=0.8)
    verdict = against(0.8137, comparison, gate)
    assert verdict["interval"] == pytest.approx([low, high])
    assert "80% interval -0.0001 to 0.8" in verdict["reasons"][1]


def test_the_comparison_is_read_from_the_report_for_the_gate_metric_only() -> None:
    document = {
        **report("binary_classification_metrics", "auc", 0.8137),
        "champion": report("binary_classification_metrics", "auc", 0.81),
        "comparison": {
            "metric": "auc",
            "direction": "maximize",
            "difference": 0.0037,
            "interval": [-0.0042, 0.0114],
            "confidence": 0.95,
            "resamples": 3,
            "resampled_differences": [0.01, -0.002, 0.004],
        },
    }

    read = read_evaluation(document, "auc")

    assert read.comparison == Comparison(
        interval=(-0.0042, 0.0114),
        confidence=0.95,
        resamples=3,
        differences=(-0.002, 0.004, 0.01),
    )
    # another metric's comparison, or one without a champion beside it, is none of the gate's
    other = {**document, "binary_classification_metrics": {"accuracy": {"value": 0.9}}}
    other["champion"] = {"binary_classification_metrics": {"accuracy": {"value": 0.8}}}
    assert read_evaluation(other, "accuracy").comparison is None
    assert read_evaluation({**document, "champion": None}, "auc").comparison is None


@pytest.mark.parametrize(
    ("comparison", "field"),
    [
        ("0.0037", "comparison is not an object"),
        ({"metric": "auc", "interval": [0.1]}, "comparison.interval is not a list of two"),
        ({"metric": "auc", "interval": [0.1, "x"]}, "comparison.interval is not a list of two"),
        ({"metric": "auc", "confidence": 95}, "comparison.confidence is not a number between"),
        ({"metric": "auc", "resampled_differences": [0.1, None]}, "resampled_differences is"),
        ({"metric": "auc", "resamples": -1}, "comparison.resamples is not a count"),
    ],
)
def test_an_unreadable_comparison_is_an_invalid_report_not_a_skipped_check(
    comparison: Any, field: str
) -> None:
    document = {
        **report("binary_classification_metrics", "auc", 0.8137),
        "champion": report("binary_classification_metrics", "auc", 0.81),
        "comparison": comparison,
    }

    with pytest.raises(EvaluationReportInvalid, match=field):
        read_evaluation(document, "auc")
