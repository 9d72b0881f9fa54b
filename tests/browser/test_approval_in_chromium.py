"""A person approves in a real browser: headless Chromium opens the link from the approval
email, reads the page, types a comment, clicks Approve, and the run goes on to production
(Chromium as tests/browser/conftest.py sets it up).
"""

from __future__ import annotations

from playwright.sync_api import Browser

from localcloud import LocalCloud
from tests.conftest import App


def test_an_approver_approves_in_chromium_and_the_model_reaches_prod(
    cloud: LocalCloud, browser: Browser
) -> None:
    # Given a candidate waiting for a person, and the email with its link
    app = App(cloud, champion=True)
    candidate = app.register("taxi-fare")
    app.approve(candidate)
    link = app.approval_link()

    # When the approver opens the link, reads the page and clicks Approve
    page = browser.new_page()
    response = page.goto(link)
    assert response is not None and response.status == 200
    assert page.title() == "modelfresh approval"
    assert page.locator("h1").inner_text() == "Promote taxi-fare v2 to production?"
    assert "passed: 2 request(s)" in page.inner_text("body")
    page.fill("#comment", "Reviewed in the browser")
    page.click("button[value=approve]")
    page.wait_for_selector("text=approved")

    # Then the page confirms, and the run goes on to production
    assert "taxi-fare v2 approved" in page.locator("h1").inner_text()
    assert "Reviewed in the browser" in page.inner_text("body")
    assert app.wait(app.deploys()[0])["status"] == "SUCCEEDED"
    assert app.promoted_package() == candidate
    # ... and opening the link again shows the decision instead of the form
    page.goto(link)
    assert page.locator("h1").inner_text() == "Already decided"
    assert page.locator("form").count() == 0
