"""The HTML report: self-contained, nothing from data unescaped, and it tells the truth about
each verdict: the measure that decided and its threshold, why a large number can sit beside
"ok", where the check stands against the alarm, whose baseline it used, and the history."""

from __future__ import annotations

import dataclasses
import itertools
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import numpy as np
import pytest
from driftcheck import DriftResult, FeatureSpec, Reference, WindowStats, compare, render_report
from driftcheck.reference import NumericReference
from driftcheck.report import AlarmRule, PastCheck, ReportContext
from driftcheck.summary import moments
from driftcheck.window import NumericPartial

from tests.unit.drift_fixtures import reference_for, window_of

SCRIPT = "<script>alert('x')</script>"
FEATURES = [FeatureSpec(SCRIPT, "categorical"), FeatureSpec("amount", "numeric")]
START = datetime(2026, 11, 22, 5, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_names_and_values_from_data_are_escaped_and_drift_is_plotted() -> None:
    rng = np.random.default_rng(0)
    ref = reference_for(
        [
            (k, float(a))
            for k, a in zip(rng.choice(["a", "b"], 2000), rng.normal(size=2000), strict=True)
        ],
        FEATURES,
    )
    window = window_of(
        ref,
        [(SCRIPT, float(a) + 1) for a in rng.normal(size=500)] + [("a", 0.0)] * 500,
    )
    result = compare(ref, window)

    page = render_report(result, ref, title=f"model {SCRIPT}", window="2024-05-06 10:00 <UTC>")

    assert set(result.drifted_features) == {SCRIPT, "amount"}
    assert "<script" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "2024-05-06 10:00 &lt;UTC&gt;" in page
    assert "<polyline" in page and "<rect" in page
    assert "<link" not in page and "src=" not in page and "@import" not in page
    assert "Drift in 2 of 2 features" in page


def test_a_window_without_data_says_so() -> None:
    ref = reference_for([("a", 1.0)], FEATURES)

    page = render_report(compare(ref, WindowStats.empty(ref)), ref, title="model")

    assert "No data" in page and "<table" not in page and "<svg" not in page


# -- one realistic window: a spread change (PSI), a shift of whole numbers (the distance) and
# -- a small change of category shares that chi-square calls significant (ok by the distance)

TAXI = [
    FeatureSpec("amount", "numeric"),
    FeatureSpec("count", "numeric"),
    FeatureSpec("plan", "categorical"),
]


def traffic(
    rng: np.random.Generator, size: int, *, scale: float = 1.0, plus: int = 0, gold: float = 0.6
) -> list[tuple[object, ...]]:
    amounts = 100.0 + 15.0 * rng.normal(size=size) * scale
    counts = rng.poisson(20, size=size) + plus * (np.arange(size) % 2)
    plans = rng.choice(["gold", "silver", "basic"], size=size, p=[gold, 0.9 - gold, 0.1])
    return list(zip(amounts.tolist(), counts.tolist(), plans.tolist(), strict=True))


@pytest.fixture(scope="module")
def checked() -> tuple[DriftResult, Reference]:
    ref = reference_for(traffic(np.random.default_rng(0), 20_000), TAXI)
    window = traffic(np.random.default_rng(3), 20_000, scale=2**0.5, plus=3, gold=0.56)
    return compare(ref, window_of(ref, window)), ref


HISTORY = (
    PastCheck(START - 3 * HOUR, 0.0, {"amount": 0.01, "count": 0.02, "plan": 0.01}),
    PastCheck(START - 2 * HOUR, None),  # no traffic: nothing published
    PastCheck(START - HOUR, 0.67, {"amount": 0.05, "count": 0.12, "plan": 0.02}),
)
CONTEXT = ReportContext(
    baseline="taxi-fare v3",
    baseline_uri="s3://bucket/baselines/v3/statistics.json",
    alarm=AlarmRule(share=0.2, datapoints=2, periods=3),
    history=HISTORY,
)


@pytest.fixture(scope="module")
def page(checked: tuple[DriftResult, Reference]) -> str:
    result, ref = checked
    return render_report(result, ref, title="taxi-fare drift check", context=CONTEXT)


def test_each_verdict_names_the_measure_that_decided_beside_its_threshold(
    checked: tuple[DriftResult, Reference], page: str
) -> None:
    result, _ = checked
    amount, count, plan = result.features
    assert (amount.found_by, count.found_by, plan.drifted) == ("psi", "distance", False)

    rows = feature_rows(page)

    # The spread change: PSI decided (in bold red), beside its threshold; its distance did not
    assert rows["amount"]["Verdict"] == ("drift by PSI", "")
    assert rows["amount"]["PSI / threshold"] == (f"{amount.psi:.3f} / 0.1", "decided")
    assert rows["amount"]["Distance / threshold"] == (f"{amount.distance:.3f} / 0.1", "")
    assert rows["amount"]["Why"][0].startswith(f"PSI {amount.psi:.3f} > 0.1")
    # The shift of whole numbers: the distance decided
    assert rows["count"]["Verdict"] == ("drift by distance", "")
    assert rows["count"]["Distance / threshold"] == (f"{count.distance:.3f} / 0.1", "decided")
    # ... and the violations, rounded, say which measure it was
    assert "Baseline drift population stability index: " + f"{amount.psi:.3g}" in page
    assert f"Baseline drift distance: {count.distance:.3g} exceeds threshold: 0.1" in page
    assert str(amount.psi) not in page  # never the full Java double


def test_a_large_chi_square_beside_ok_says_why(
    checked: tuple[DriftResult, Reference], page: str
) -> None:
    _, _, plan = checked[0].features
    assert plan.chi2 is not None and plan.chi2 > 100 and not plan.drifted

    why, _ = feature_rows(page)["plan"]["Why"]

    assert why.startswith("χ² is significant (p < 1e-15), but the distance decides: ")
    assert f"{plan.distance:.3f} ≤ 0.1 (χ² grows with the number of values, 20,000 here" in why


def test_measures_past_their_threshold_in_a_small_window_are_called_noise() -> None:
    ref = reference_for(traffic(np.random.default_rng(0), 20_000), TAXI)
    result = compare(ref, window_of(ref, traffic(np.random.default_rng(8), 50)))

    why, _ = feature_rows(render_report(result, ref, title="t"))["amount"]["Why"]

    amount = result.features[0]
    assert not amount.drifted and amount.psi is not None
    assert why == (
        f"Distance {amount.linf:.3f} (before the noise margin) > 0.1 and PSI {amount.psi:.3f} "
        "> 0.1, but within the sampling noise of 50 values (robust method)."
    )


def test_with_a_budget_each_feature_shows_its_chance_and_level_and_what_chance_explains() -> None:
    # Given the plain threshold (Simple) under a check level of 2%, and a 50-row window
    ref = reference_for(traffic(np.random.default_rng(0), 20_000), TAXI)
    ref = dataclasses.replace(
        ref,
        settings=dataclasses.replace(
            ref.settings, method="simple", check_level=0.02, alarm_share=0.2
        ),
    )
    result = compare(ref, window_of(ref, traffic(np.random.default_rng(8), 50)))
    alarm = AlarmRule(share=0.2, datapoints=2, periods=3, false_alarms=1.0)

    # When its report is read
    page = render_report(result, ref, title="t", context=ReportContext(alarm=alarm))
    rows = feature_rows(page)

    # Then every feature's verdict shows its test's p-value beside its level (one column of
    # three is enough to pass 20%: 2% / 3 each), and a distance past the threshold that chance
    # explains is no drift, said so in green
    amount = result.features[0]
    assert amount.by_chance and amount.chance is not None
    assert rows["amount"]["Verdict"] == (f"ok p = {amount.chance:.2g} / 0.0067", "")
    assert f"<span class='kind chance held'>p = {amount.chance:.2g} / 0.0067</span>" in page
    assert rows["amount"]["Why"][0] == (
        f"Distance {amount.distance:.3f} > 0.1 and PSI {amount.psi:.3f} > 0.1, but chance "
        f"explains it: p = {amount.chance:.2g} > 0.0067, this feature's level under the "
        "false-alarm budget (50 values)."
    )
    assert "Drift in" not in visible_text(page) and result.drifted_features == ()
    # and the alarm panel states the budget and what it leaves a check and a feature
    assert (
        "Its false-alarm budget: on traffic that did not change, chance alone fires it at most 1 "
        "time in 90 days. So at most 2% of checks may pass 20% by chance, and each feature's "
        "test is made at level 0.0067." in visible_text(page)
    )


def test_the_header_says_whose_baseline_and_where_the_check_stands_against_the_alarm(
    page: str,
) -> None:
    text = visible_text(page)

    assert "Baseline of taxi-fare v3" in text
    assert "Baseline: s3://bucket/baselines/v3/statistics.json" in text
    assert (
        "The drift alarm fires when more than 20% of the features drift in 2 of the last 3 checks."
        in text
    )
    assert "This check: 67% drifted, above 20%." in text
    # this check and the one before it are above; the one before that had no data
    assert (
        "With the checks before it: 2 of the last 3 above 20%, 1 without data (the alarm "
        "ignores those): this meets the alarm's condition." in text
    )


def test_each_feature_shows_its_distance_over_the_previous_checks(
    checked: tuple[DriftResult, Reference], page: str
) -> None:
    count = checked[0].features[1]

    sparkline = re.search(
        r"<title>distance, oldest first: ([^<]*)</title>", spark_of(page, "count")
    )

    assert sparkline is not None
    assert sparkline[1] == f"0.020, –, 0.120, {count.distance:.3f}"


def test_history_that_could_not_be_read_is_said_so(checked: tuple[DriftResult, Reference]) -> None:
    result, ref = checked
    unread = ReportContext(alarm=CONTEXT.alarm, history=None)

    text = visible_text(render_report(result, ref, title="t", context=unread))

    assert "The earlier checks' metrics could not be read." in text
    assert "unavailable" in text and "With the checks before it" not in text


def test_drifted_features_are_plotted_with_labelled_axes_steps_for_whole_numbers_and_moments(
    checked: tuple[DriftResult, Reference], page: str
) -> None:
    result, ref = checked
    amount, count = (figure_of(page, name) for name in ("amount", "count"))

    # Step CDFs for whole numbers (vertical runs: repeated x), lines for fractions
    assert "cumulative distribution (step CDF, whole numbers)" in count
    assert all(map(has_steps, cdf_lines(count)))
    assert not any(map(has_steps, cdf_lines(amount)))
    # Labelled axes on the CDF, the histogram overlay and the history
    for label in ("count (value)", "share of values ≤ x", "share of values", "distance",
                  "check window (UTC)", "aria-label='histogram'"):  # fmt: skip
        assert label in count
    # Mean and standard deviation side by side, exactly as the window's statistics say
    baseline, partial = ref.features[1], result.window.partials[1]
    assert isinstance(baseline, NumericReference) and isinstance(partial, NumericPartial)
    assert baseline.mean is not None
    mean, std = moments(partial, baseline)
    side = visible_text(count)
    assert f"Mean {baseline.mean:.4g} {mean:.4g}" in side
    assert f"Std dev {baseline.spread:.4g} {std:.4g}" in side


# -- reading the page back ---------------------------------------------------------------------


class _Rows(HTMLParser):
    """The features table's rows as {feature: {column: (text, class)}}."""

    def __init__(self) -> None:
        super().__init__()
        self.head: list[str] = []
        self.rows: list[list[tuple[str, str]]] = []
        self._in_table = self._in_head = False
        self._cell: list[str] | None = None
        self._class = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "table" and found.get("id") == "features":
            self._in_table = True
        elif self._in_table and tag == "thead":
            self._in_head = True
        elif self._in_table and tag == "tr" and not self._in_head:
            self.rows.append([])
        elif self._in_table and tag in ("td", "th"):
            self._cell, self._class = [], found.get("class") or ""
        elif tag == "title" and self._cell is not None:
            self._cell.append("\0")  # an SVG's title is not visible text

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in_table = False
        elif tag == "thead":
            self._in_head = False
        elif tag in ("td", "th") and self._cell is not None:
            text = " ".join("".join(self._cell).split("\0")[0].split())
            if self._in_head:
                self.head.append(text)
            else:
                self.rows[-1].append((text, self._class if self._class == "decided" else ""))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def feature_rows(page: str) -> dict[str, dict[str, tuple[str, str]]]:
    parser = _Rows()
    parser.feed(page)
    table = {}
    for row in parser.rows:
        cells = dict(zip(parser.head, row, strict=True))
        table[cells["Feature"][0].split()[0]] = cells
    return table


def visible_text(page: str) -> str:
    without_svg_titles = re.sub(r"<(title|style)>.*?</\1>", "", page, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", without_svg_titles).split()).replace("&#x27;", "'")


def spark_of(page: str, feature: str) -> str:
    row = re.search(rf"<tr[^>]*><td>{feature} .*?</tr>", page)
    assert row is not None
    return row[0]


def figure_of(page: str, feature: str) -> str:
    found = re.search(rf"<figure id='feature-{feature}'>.*?</figure>", page, flags=re.S)
    assert found is not None
    return found[0]


def cdf_lines(figure: str) -> list[list[float]]:
    cdf = figure.split("aria-label='cumulative distribution", 1)[1].split("</svg>", 1)[0]
    return [
        [float(p.split(",")[0]) for p in points.split()]
        for points in re.findall(r"<polyline[^>]*points='([^']*)'", cdf)
    ]


def has_steps(xs: list[float]) -> bool:
    """Whether a polyline goes straight up somewhere (two points at one x)."""
    return any(a == b for a, b in itertools.pairwise(xs))
