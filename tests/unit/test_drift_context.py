"""Where a drift finding travels: from the alarm into the retrain signal (only a finding that
can explain the alarm), onto the candidate's metadata, into the approval details, and in front
of the approver in the email and on the review page."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.session
import pytest
from botocore.validate import validate_parameters
from modelfresh.core.config import load_config
from modelfresh.core.schema import DriftCheck
from modelfresh.drift.plan import drift_summary, fresh_finding
from modelfresh.promote.approval_forms import Page, PageReply
from modelfresh.promote.approval_pages import email, render
from modelfresh.retrain.signals import Signal, alarm_signal, merge, parse_alarm_change
from modelfresh.retrain.steps import trigger_metadata

from tests.conftest import FIXTURES, sample_event
from tests.unit.test_approval_pages import (
    HOSTILE,
    LINK,
    METADATA,
    REASON,
    WINDOW,
    Parsed,
    make_approval,
    make_details,
)

TAXI = load_config(FIXTURES / "models.toml").model("taxi-fare")
CHANGE = parse_alarm_change(sample_event("cloudwatch_alarm_state_change_alarm"))
RUN = "taxi-fare-drift-20191002T1704-0123456789"
REPORT = "s3://modelfresh-artifacts-us-east-1-123456789012/modelfresh/drift/taxi-fare/20191002T1700/report.html"
FINDING: dict[str, Any] = {
    "execution": "arn:aws:states:us-east-1:123456789012:execution:drift-check:c-20191002T1700",
    "window": {"start": "2019-10-02T16:00:00.000Z", "end": "2019-10-02T17:00:00.000Z"},
    "rows": 500,
    "malformed": 0,
    "drifted_share": 0.3333,
    "features": [
        {"name": "trip_distance_km", "distance": 0.4123},
        {"name": "pickup_hour", "distance": 0.2051},
    ],
    "report": REPORT,
    "violations": REPORT.replace("report.html", "constraint_violations.json"),
}
SUMMARY = "33% of features drifted: trip_distance_km 0.41, pickup_hour 0.21"
METADATA_SUMMARY = "33 pct of features drifted: trip_distance_km 0.41 pickup_hour 0.21"
PACKAGE = "arn:aws:sagemaker:us-east-1:123456789012:model-package/taxi-fare/3"
PACKAGE_WINDOW = {"start": "2019-10-01T17:04:40.989Z", "end": "2019-10-02T17:04:40.989Z"}


# -- the alarm's signal ---------------------------------------------------------------------


def test_the_signal_carries_the_finding_under_drift_beside_the_alarms_detail() -> None:
    signal = alarm_signal(CHANGE, TAXI, FINDING)

    assert signal.detail["drift"] == FINDING
    assert signal.detail["alarm"] == "modelfresh-drift-taxi-fare"
    assert signal.detail["reason"] == CHANGE.reason


@pytest.mark.parametrize("drift", [None, {}], ids=["none", "empty"])
def test_a_signal_without_a_finding_has_no_drift_detail(drift: dict[str, Any] | None) -> None:
    assert "drift" not in alarm_signal(CHANGE, TAXI, drift).detail


def test_the_finding_does_not_change_which_run_the_alarm_change_names() -> None:
    # The same change, delivered once before and once after the finding was recorded
    with_finding = alarm_signal(CHANGE, TAXI, FINDING)
    without = alarm_signal(CHANGE, TAXI)

    assert (with_finding.id, with_finding.run_name) == (without.id, without.run_name)


def test_the_finding_survives_the_signals_trip_through_the_execution_input() -> None:
    signal = alarm_signal(CHANGE, TAXI, FINDING)

    assert Signal.from_dict(signal.to_dict()) == signal
    assert '"drift":{"drifted_share":0.3333' in signal.to_json()


def test_the_signal_keeps_its_own_copy_of_the_finding() -> None:
    finding = dict(FINDING)
    signal = alarm_signal(CHANGE, TAXI, finding)

    finding["drifted_share"] = 1.0

    assert signal.detail["drift"]["drifted_share"] == 0.3333


# -- fresh_finding: which finding can explain an alarm change -------------------------------

HOURLY = DriftCheck(features=("a",), every_hours=1, evaluation_periods=3)
END = datetime(2026, 11, 22, 6, tzinfo=UTC)


def ending(end: object) -> dict[str, Any]:
    return {"window": {"start": "2026-11-22T05:00:00.000Z", "end": end}}


@pytest.mark.parametrize(
    ("changed_at", "fresh"),
    [
        pytest.param(END, True, id="at-the-windows-end"),
        pytest.param(END + timedelta(minutes=10), True, id="ten-minutes-later"),
        pytest.param(END + timedelta(hours=4), True, id="oldest-the-alarm-evaluates"),
        pytest.param(END + timedelta(hours=4, seconds=1), False, id="older-than-that"),
        pytest.param(END - timedelta(hours=1), True, id="an-hour-before-the-end"),
        pytest.param(END - timedelta(hours=1, seconds=1), False, id="from-the-future"),
    ],
)
def test_a_finding_explains_changes_within_the_checks_the_alarm_evaluates(
    changed_at: datetime, fresh: bool
) -> None:
    finding = ending("2026-11-22T06:00:00.000Z")

    assert (fresh_finding(finding, changed_at, HOURLY) is finding) is fresh


def test_the_look_back_grows_with_the_check_interval_and_periods() -> None:
    six_hourly = DriftCheck(features=("a",), every_hours=6, evaluation_periods=2)
    finding = ending("2026-11-22T06:00:00Z")

    assert fresh_finding(finding, END + timedelta(hours=18), six_hourly) is finding
    assert fresh_finding(finding, END + timedelta(hours=18, minutes=1), six_hourly) is None


def test_a_window_end_in_another_time_zone_is_compared_as_the_same_moment() -> None:
    finding = ending("2026-11-22T01:00:00-05:00")  # 06:00 UTC

    assert fresh_finding(finding, END + timedelta(hours=4), HOURLY) is finding


@pytest.mark.parametrize(
    "finding",
    [
        pytest.param({}, id="no-window"),
        pytest.param({"window": None}, id="window-null"),
        pytest.param({"window": ["2026-11-22T06:00:00Z"]}, id="window-a-list"),
        pytest.param(ending(None), id="end-null"),
        pytest.param(ending(1795327200), id="end-a-number"),
        pytest.param(ending("yesterday"), id="end-not-a-time"),
    ],
)
def test_a_finding_without_a_readable_window_end_explains_nothing(
    finding: dict[str, Any],
) -> None:
    assert fresh_finding(finding, END, HOURLY) is None


def test_a_window_end_without_a_time_zone_explains_nothing_rather_than_failing() -> None:
    assert fresh_finding(ending("2026-11-22T06:00:00"), END, HOURLY) is None


def test_a_model_without_a_drift_check_has_no_fresh_finding() -> None:
    assert fresh_finding(ending("2026-11-22T06:00:00Z"), END, None) is None


# -- on the candidate: trigger_metadata -----------------------------------------------------


def drift_signal(drift: Any) -> Signal:
    signal = alarm_signal(CHANGE, TAXI)
    return replace(signal, detail={**signal.detail, "drift": drift})


def test_the_candidate_records_the_drift_summary_and_the_report() -> None:
    metadata = trigger_metadata(alarm_signal(CHANGE, TAXI, FINDING), RUN, PACKAGE_WINDOW)

    # In the characters SageMaker allows in metadata values: "%" and "," are not among them.
    assert drift_summary(FINDING) == SUMMARY
    assert metadata["modelfresh:drift"] == METADATA_SUMMARY
    assert metadata["modelfresh:drift-report"] == REPORT
    assert metadata["modelfresh:trigger"] == "drift-alarm"


def test_a_signal_without_a_finding_adds_no_drift_metadata() -> None:
    for signal in (alarm_signal(CHANGE, TAXI), drift_signal("not a finding")):
        metadata = trigger_metadata(signal, RUN, PACKAGE_WINDOW)

        assert "modelfresh:drift" not in metadata
        assert "modelfresh:drift-report" not in metadata


def test_a_long_summary_is_cut_to_sagemakers_256_characters() -> None:
    features = [{"name": f"feature_with_a_long_name_{n:02d}", "distance": 0.5} for n in range(10)]
    signal = alarm_signal(CHANGE, TAXI, FINDING | {"features": features})

    summary = trigger_metadata(signal, RUN, PACKAGE_WINDOW)["modelfresh:drift"]

    assert len(summary) <= 256
    assert summary.startswith("33 pct of features drifted: feature_with_a_long_name_00 0.50 ")
    assert summary.endswith("...")


def test_every_metadata_value_keeps_to_sagemakers_characters() -> None:
    reason = "Threshold Crossed: 1 datapoint [0.35 (22/11/26 06:00:00)] was > 0.2, 100% sure"
    signal = alarm_signal(replace(CHANGE, reason=reason), TAXI, FINDING)

    for value in trigger_metadata(signal, RUN, PACKAGE_WINDOW).values():
        assert 1 <= len(value) <= 256
        assert re.fullmatch(r"[\w .:/=+\-@]+", value), value


@pytest.mark.parametrize(("length", "kept"), [(256, True), (257, False)])
def test_the_report_is_recorded_only_when_its_uri_fits_256_characters(
    length: int, kept: bool
) -> None:
    prefix = "s3://modelfresh-artifacts-us-east-1-123456789012/"
    report = prefix + "r" * (length - len(prefix) - len(".html")) + ".html"
    assert len(report) == length

    metadata = trigger_metadata(
        alarm_signal(CHANGE, TAXI, FINDING | {"report": report}), RUN, PACKAGE_WINDOW
    )

    assert metadata.get("modelfresh:drift-report") == (report if kept else None)
    assert metadata["modelfresh:drift"] == METADATA_SUMMARY  # the summary travels either way


def update_model_package_accepts(metadata: dict[str, str]) -> None:
    """Raises ParamValidationError unless UpdateModelPackage's model accepts the values
    (botocore checks their lengths: 1 to 256 characters)."""
    model = botocore.session.get_session().get_service_model("sagemaker")
    shape = model.operation_model("UpdateModelPackage").input_shape
    assert shape is not None
    request = {"ModelPackageArn": PACKAGE, "CustomerMetadataProperties": metadata}
    validate_parameters(request, shape)


def test_drift_metadata_fits_sagemakers_customer_metadata_limits() -> None:
    long = FINDING | {"features": [{"name": "f" * 200, "distance": 0.5}] * 3}
    for finding in (FINDING, long):
        update_model_package_accepts(
            trigger_metadata(alarm_signal(CHANGE, TAXI, finding), RUN, PACKAGE_WINDOW)
        )


def test_a_finding_without_a_report_adds_no_report_entry() -> None:
    finding = {k: v for k, v in FINDING.items() if k != "report"}

    metadata = trigger_metadata(alarm_signal(CHANGE, TAXI, finding), RUN, PACKAGE_WINDOW)

    assert "modelfresh:drift-report" not in metadata
    update_model_package_accepts(metadata)


# -- in front of the approver ---------------------------------------------------------------

DRIFT_METADATA = METADATA | {"modelfresh:drift": SUMMARY, "modelfresh:drift-report": REPORT}


def test_the_approval_details_show_the_drift_and_its_report_from_the_package_metadata() -> None:
    trigger = make_details(metadata=DRIFT_METADATA)["trigger"]

    assert (trigger["drift"], trigger["report"]) == (SUMMARY, REPORT)
    assert trigger["reason"] == REASON


def test_a_candidate_retrained_without_a_drift_finding_shows_no_drift() -> None:
    trigger = make_details(metadata=METADATA)["trigger"]

    assert "drift" not in trigger
    assert "report" not in trigger


def test_a_drift_summary_without_a_report_shows_the_summary_alone() -> None:
    metadata = METADATA | {"modelfresh:drift": SUMMARY}

    trigger = make_details(metadata=metadata)["trigger"]
    text = email(make_approval(details=make_details(metadata=metadata)), LINK)

    assert (trigger["drift"], trigger.get("report", "")) == (SUMMARY, "")
    assert f"Drift check: {SUMMARY}\n" in text


def test_drift_metadata_on_a_package_no_modelfresh_run_made_is_not_shown() -> None:
    metadata = {"modelfresh:drift": SUMMARY, "modelfresh:drift-report": REPORT}

    assert make_details(metadata=metadata)["trigger"] == {}


def test_the_email_gives_the_drift_summary_and_report_after_the_trigger() -> None:
    approval = make_approval(details=make_details(metadata=DRIFT_METADATA))

    text = email(approval, LINK)

    assert (
        f"Trigger:   drift-alarm modelfresh-drift-churn: {REASON} (retrained on {WINDOW}). "
        f"Drift check: {SUMMARY} (report {REPORT})"
    ) in text.splitlines()
    # the report is named, but the one web link is still the approval page
    assert re.findall(r"https?://\S+", text) == [LINK]


def test_the_review_page_shows_the_drift_summary_and_report_as_text() -> None:
    approval = make_approval(details=make_details(metadata=DRIFT_METADATA))

    _, _, html = render(PageReply(Page.REVIEW, approval))

    parsed = Parsed(html)
    assert f"Drift check: {SUMMARY} (report {REPORT})" in parsed.text
    assert parsed.all("a") == []  # named, not linked


def test_the_review_page_escapes_the_drift_summary_and_report() -> None:
    metadata = METADATA | {"modelfresh:drift": HOSTILE, "modelfresh:drift-report": HOSTILE}
    approval = make_approval(details=make_details(metadata=metadata))

    _, _, html = render(PageReply(Page.REVIEW, approval))

    parsed = Parsed(html)
    assert parsed.tags.isdisjoint({"script", "img"})
    assert "<script>" not in html
    assert parsed.text.count(f"Drift check: {HOSTILE} (report {HOSTILE})") == 1


# -- a follow-up that stands for several alarm changes ----------------------------------------


def changed(seconds: int, reason: str, finding: dict[str, Any] | None = None) -> Signal:
    later = replace(
        CHANGE, changed_at=CHANGE.changed_at + timedelta(seconds=seconds), reason=reason
    )
    return alarm_signal(later, TAXI, finding)


MERGED = merge(
    merge(changed(0, "first", FINDING), changed(120, "third")),
    changed(60, "second", FINDING | {"features": [{"name": "pickup_hour", "distance": 0.6}]}),
)


def test_the_candidate_of_a_merged_follow_up_records_every_change_and_the_union_of_drift() -> None:
    metadata = trigger_metadata(MERGED, RUN, PACKAGE_WINDOW)

    # The newest change's reason, and every change, newest first
    assert metadata["modelfresh:reason"] == "third"
    assert metadata["modelfresh:coalesced"] == (
        "3 alarm changes newest first: 2019-10-02T17:06:40.989Z third "
        "2019-10-02T17:05:40.989Z second 2019-10-02T17:04:40.989Z first"
    )
    # ... and what every finding found, each feature at its worst
    assert metadata["modelfresh:drift"] == (
        "33 pct of features drifted: pickup_hour 0.60 trip_distance_km 0.41"
    )
    update_model_package_accepts(metadata)


def test_a_follow_up_of_many_changes_keeps_its_metadata_to_256_characters() -> None:
    signal = None
    for n in range(40):
        signal = merge(signal, changed(n, f"Threshold Crossed: {n} datapoints were > 0.2"))
    assert signal is not None

    metadata = trigger_metadata(signal, RUN, PACKAGE_WINDOW)

    assert metadata["modelfresh:coalesced"].startswith("40 alarm changes newest first: ")
    assert len(metadata["modelfresh:coalesced"]) <= 256
    update_model_package_accepts(metadata)


def test_a_single_change_adds_no_coalesced_entry() -> None:
    assert "modelfresh:coalesced" not in trigger_metadata(changed(0, "only"), RUN, PACKAGE_WINDOW)


def test_the_approver_sees_the_changes_a_follow_up_stands_for() -> None:
    coalesced = "3 alarm changes newest first: 17:06 third 17:05 second"
    details = make_details(metadata=DRIFT_METADATA | {"modelfresh:coalesced": coalesced})
    approval = make_approval(details=details)

    text = email(approval, LINK)
    _, _, html = render(PageReply(Page.REVIEW, approval))

    assert details["trigger"]["coalesced"] == coalesced
    assert f"Stands for {coalesced}." in text
    assert f"Stands for {coalesced}." in Parsed(html).text
