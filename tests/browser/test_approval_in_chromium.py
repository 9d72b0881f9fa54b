"""A person approves in a real browser: headless Chromium opens the link from the approval
email, reads the page, types a comment, clicks Approve, and the run goes on to production.

Debian's chromium package, driven by Playwright (no browser download). `make test` installs
Chromium and sets MODELFRESH_REQUIRE_BROWSER=1, so there the test cannot skip; elsewhere it
skips when Chromium is absent.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from localcloud import LocalCloud
from tests.conftest import App

# What a headless Chromium needs on a closed network, as root, with no GPU.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        if os.environ.get("MODELFRESH_REQUIRE_BROWSER"):
            pytest.fail("Chromium is not installed (apt-get install chromium)")
        pytest.skip("Chromium is not installed")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


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
