"""A person reads a drift report in a real browser: three hourly drift checks run on the local
cloud (quiet traffic, then two drifted hours), and headless Chromium opens the last check's
report.html as S3 holds it. What a reader sees is saved as build/screenshots/drift-report.png.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from playwright.sync_api import Browser

from localcloud import LocalCloud
from tests.integration.test_drift_check import DriftApp, output_of

SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
HOURS = [datetime(2026, 11, 20, h, tzinfo=UTC) for h in (2, 3, 4)]  # far from the real clock
DECIDED_RED = "rgb(180, 35, 24)"  # the table's colour for the measure that decided


def test_a_reader_sees_which_measure_decided_the_alarm_the_baseline_and_the_history(
    cloud: LocalCloud, browser: Browser
) -> None:
    # Given three hourly checks of taxi-fare: quiet traffic, then two drifted hours
    app = DriftApp(cloud)
    for hour, drift in zip(HOURS, (0.0, 1.0, 1.0), strict=True):
        app.serve_traffic(hour, drift, requests=25, rows=20)  # 500 rows in few invocations
        checked = app.check(hour)
        assert checked["status"] == "SUCCEEDED", checked
    report_uri = output_of(checked)["result"]["report"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    saved = SCREENSHOTS / "drift-report.html"
    saved.write_text(app.read(report_uri))

    # When a person opens the last check's report in Chromium, at a laptop's width
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(saved.as_uri())
    page.screenshot(path=SCREENSHOTS / "drift-report.png", full_page=True)

    # Then the window's title is for a person, and the page asked the network for nothing
    assert page.title() == "taxi-fare drift check, 20 Nov 2026 04:00–05:00 UTC"
    assert requests == [saved.as_uri()]
    # ... it names the baseline's model version and where this check stands against the alarm
    version = app.sagemaker.describe_model_package(ModelPackageName=app.champion)[
        "ModelPackageVersion"
    ]
    assert (
        page.locator(".facts div", has_text="Baseline of")
        .inner_text()
        .endswith(f"taxi-fare v{version}")
    )
    alarm = page.locator("#alarm").inner_text()
    assert "more than 20% of the features drift in 2 of the last 3 checks" in alarm
    assert "2 of the last 3 above 20%: this meets the alarm's condition" in alarm
    # ... a feature found by PSI says so, its PSI in bold red beside its threshold, its small
    # distance not: the measure that decided, never mislabelled as the distance
    row = page.locator("#features tbody tr", has_text="dropoff_latitude")
    verdict, test = row.locator("td").nth(1).inner_text().splitlines()
    assert verdict == "drift by PSI"
    # ... and, under the false-alarm budget (the default), its test beside its level: not chance
    p_value, level = test.split(" / ")
    assert p_value.startswith("p ") and float(p_value.split()[-1]) < float(level) == 0.0034
    psi = row.locator("td.decided")
    assert psi.inner_text().endswith("/ 0.1") and float(psi.inner_text().split()[0]) > 0.1
    assert psi.evaluate("cell => getComputedStyle(cell).color") == DECIDED_RED
    assert float(row.locator("td").nth(2).inner_text().split()[0]) < 0.1
    # ... every feature's distance over the checks: the two before this one, then this one
    spark = row.locator("svg.spark title").text_content() or ""
    assert spark.startswith("distance, oldest first: ") and spark.count("–") == 12 - 2
    # ... whole numbers drawn as steps, every plot with both axes labelled and in view
    figure = page.locator("figure", has_text="passenger_count")
    steps = "svg[aria-label='cumulative distribution (step CDF, whole numbers)']"
    assert figure.locator(steps).count() == 1
    for label in figure.locator("svg text.axis").all():
        box = label.bounding_box()
        assert box is not None and box["width"] > 0
    # ... at a laptop's width, with nothing cut off or scrolled out of sight
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    assert page.locator(".scroll").evaluate("table => table.scrollWidth <= table.clientWidth")
    # ... and the numbers a person reads are rounded (the JSON files keep them whole)
    assert re.search(r"\d\.\d{7}", page.locator("body").inner_text()) is None
