"""The drift benchmark's own machinery (bench/drift*.py), at tiny sizes and without Evidently:
the synthetic data say what they claim, the capture files hold exactly those rows, and the
verdicts and rates are counted right. The figures themselves belong to `make bench`."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from driftcheck import DriftSettings, Reference, WindowStats, baseline, compare

from bench import drift, drift_data, drift_ours

ROWS = 20_000


def reference_of(table: drift_data.Table) -> Reference:
    statistics, constraints = baseline(
        drift_data.value_rows(table), drift_ours.specs(), DriftSettings()
    )
    return Reference.from_baseline(statistics, constraints)


def test_the_same_seed_gives_the_same_table_and_a_shift_changes_only_its_feature() -> None:
    shifts = {"normal": drift_data.Shift("mean", 0.5)}

    first, again = drift_data.generate(500, seed=7), drift_data.generate(500, seed=7)
    shifted = drift_data.generate(500, seed=7, shifts=shifts)

    assert [f.name for f in drift_data.FEATURES] == list(first)
    for name in first:
        np.testing.assert_array_equal(first[name], again[name])
        if name != "normal":
            np.testing.assert_array_equal(first[name], shifted[name])
    assert not np.array_equal(first["normal"], shifted["normal"])


def test_numeric_shifts_move_the_mean_and_the_spread_by_what_they_say() -> None:
    _, sd = drift_data.moments("normal")
    plain = drift_data.generate(ROWS, seed=1)
    moved = drift_data.generate(ROWS, seed=1, shifts={"normal": drift_data.Shift("mean", 0.25)})
    wider = drift_data.generate(
        ROWS, seed=1, shifts={"normal_unit": drift_data.Shift("variance", 1.5)}
    )

    assert np.mean(moved["normal"]) - np.mean(plain["normal"]) == pytest.approx(0.25 * sd, 1e-3)
    assert np.var(wider["normal_unit"]) / np.var(plain["normal_unit"]) == pytest.approx(1.5, 1e-2)


def test_a_category_swap_exchanges_two_shares_and_a_spike_sets_the_missing_share() -> None:
    plain = drift_data.generate(ROWS, seed=2)
    changed = drift_data.generate(
        ROWS,
        seed=2,
        shifts={
            "cat_10": drift_data.Shift("swap", ranks=(0, 1)),
            "normal_missing": drift_data.Shift("missing", 0.15),
        },
    )

    before, after = (
        np.bincount(t["cat_10"].astype(np.int64), minlength=10) for t in (plain, changed)
    )
    assert (after[0], after[1]) == (before[1], before[0])
    np.testing.assert_array_equal(after[2:], before[2:])
    assert np.isnan(plain["normal_missing"]).mean() == pytest.approx(0.02, abs=0.005)
    assert np.isnan(changed["normal_missing"]).mean() == pytest.approx(0.15, abs=0.01)


def test_capture_lines_hold_exactly_the_table_rows() -> None:
    ref = reference_of(drift_data.generate(2_000, seed=3))
    table = drift_data.generate(1_500, seed=4, shifts=drift_data.WINDOW_SHIFTS)

    captured = WindowStats.empty(ref)
    captured.add_capture(drift_data.capture_lines(drift_data.csv_rows(table)), source="bench")
    direct = WindowStats.empty(ref)
    direct.add_rows(drift_data.value_rows(table))

    result = compare(ref, captured)
    assert (result.records, result.rows, result.malformed) == (1_500, 1_500, 0)
    assert result.statistics_json() == compare(ref, direct).statistics_json()


def test_agreement_counts_the_same_verdicts_and_names_the_others() -> None:
    ours = {"a": True, "b": False, "c": True}
    theirs = {"a": True, "b": True, "c": False}

    assert drift.agreement(ours, theirs) == {"agree": 1, "of": 3, "disagree": ["b", "c"]}
    with pytest.raises(ValueError, match="different features"):
        drift.agreement(ours, {"a": True})


def test_rates_count_a_violation_as_a_flag_and_any_flag_as_a_false_alarm() -> None:
    windows = [
        {"kind": "none", "drift": [], "violations": []},
        {
            "kind": "none",
            "drift": [],
            "violations": ["lognormal_missing"],
            "checks": ["completeness_check"],
        },
        {"kind": "none", "drift": ["cat_30"]},
        {"kind": "none", "drift": []},
        {"kind": "missing", "drift": [], "violations": ["normal_missing"]},
        {"kind": "missing", "drift": [], "violations": []},
        {"kind": "mean", "drift": ["uniform"], "violations": ["uniform"]},
    ]

    found = drift.summarise_rates(drift.rates(windows))

    assert (found["unshifted_windows"], found["false_alarms"], found["false_drift"]) == (4, 2, 1)
    assert (found["false_alarm_rate"], found["false_drift_rate"]) == (0.5, 0.25)
    assert found["false_alarms_per_check"] == {"completeness_check": 1}
    assert found["false_alarms_per_feature"] == {"cat_30": 0.25, "lognormal_missing": 0.25}
    missing = found["shifts"]["missing"]
    assert (missing["detected"], missing["windows"], missing["detected_as_drift"]) == (1, 2, 0)
    assert found["shifts"]["mean"]["detected"] == 0  # another feature drifted, not "normal"


def test_the_upper_bound_of_no_hits_is_the_rule_of_three_exactly() -> None:
    assert drift.upper_bound(0, 300) == pytest.approx(1 - 0.05 ** (1 / 300), rel=1e-9)
    assert drift.upper_bound(300, 300) == 1.0
    assert 2 / 200 < drift.upper_bound(2, 200) < 0.04
    assert math.isclose(drift.upper_bound(0, 0), 1.0)


def test_the_three_ways_ours_reads_the_window_give_the_same_verdicts(tmp_path: Path) -> None:
    # Given the benchmark's files at a tiny scale
    drift_data.write_data(tmp_path, drift_data.Sizes(reference_rows=3_000, window_rows=4_000))
    drift_ours.job_ours_baseline(tmp_path)

    # When ours reads the window from the files, from columns in memory, and fanned out
    from_files = drift_ours.job_ours_check(tmp_path)
    from_columns = drift_ours.job_ours_engine(tmp_path)
    fanned_out = drift_ours.job_ours_fanout(tmp_path)

    # Then every way reads every row and reaches the same verdicts
    assert from_files["rows"] == from_columns["rows"] == fanned_out["rows"] == 4_000
    assert from_files["features"] == from_columns["features"] == fanned_out["features"]
    assert {name for name, v in from_files["features"].items() if v["drifted"]} >= {"normal"}


def test_columns_read_from_the_capture_files_are_the_table(tmp_path: Path) -> None:
    table = drift_data.generate(300, seed=5, shifts=drift_data.WINDOW_SHIFTS)
    folder = tmp_path
    (folder / "capture").mkdir()
    (folder / "capture" / "000.jsonl").write_text(
        "".join(line + "\n" for line in drift_data.capture_lines(drift_data.csv_rows(table)))
    )

    columns = drift_ours.read_columns(drift_data.capture_files(folder))

    for feature in drift_data.FEATURES:
        if feature.categorical:
            labels = np.array([*feature.categories, None], dtype=object)
            assert columns[feature.name].tolist() == labels[table[feature.name]].tolist()
        else:
            np.testing.assert_array_equal(columns[feature.name], table[feature.name])
