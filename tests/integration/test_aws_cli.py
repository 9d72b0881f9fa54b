"""The AWS CLI commands the demo and the README print work as printed against the local cloud:
the real CLI (v1, from PyPI), in a shell of its own that has only what the printed lines set."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from modelfresh.core.config import load_config

import demo.__main__ as demo
from localcloud import LocalCloud
from tests.conftest import FIXTURES, ROOT

# The venv's bin (where `aws` is) and the system's, nothing else: no credentials, region or
# endpoint from this process's environment reach the shell.
SHELL_PATH = f"{Path(sys.executable).parent}:/usr/bin:/bin"


@pytest.fixture(scope="module")
def served() -> Iterator[LocalCloud]:
    """The local cloud in server mode, as `make demo-wait` leaves it, with the app deployed."""
    with LocalCloud(server_port=demo.free_port()) as cloud:
        cloud.deploy(model_config=FIXTURES / "models.toml")
        yield cloud


def shell(lines: list[str], tmp_path: Path) -> str:
    """Run lines as a person pastes them into a new shell; returns what it printed."""
    done = subprocess.run(
        ["/bin/bash", "-euc", "\n".join(lines)],
        env={"PATH": SHELL_PATH, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def documents(out: str) -> list[Any]:
    """The JSON documents the commands printed, one after the other."""
    decoder, found, at = json.JSONDecoder(), [], 0
    text = out.strip()
    while at < len(text):
        document, at = decoder.raw_decode(text, at)
        found.append(document)
        at = len(text) - len(text[at:].lstrip())
    return found


def test_the_demos_cli_commands_work_as_printed(served: LocalCloud, tmp_path: Path) -> None:
    # Given an execution the demo would point at, and the model's package group
    sfn = served.client("stepfunctions")
    started = sfn.start_execution(
        stateMachineArn=served.stack.outputs["DriftCheckStateMachineArn"] if served.stack else "",
        name="check",
        input=json.dumps({"model": "taxi-fare", "at": datetime.now(UTC).isoformat()}),
    )
    served.wait_for_execution(started["executionArn"])
    served.register_package("taxi-fare")

    # When a person pastes what the demo prints, in another shell
    model = load_config(FIXTURES / "models.toml").model("taxi-fare")
    lines = demo.aws_cli_lines(served, model, started["executionArn"])
    assert lines[0].startswith("export AWS_ACCESS_KEY_ID=testing ")
    history, packages = documents(shell(lines, tmp_path))

    # Then each command answers from the local cloud
    assert history["events"][0]["type"] == "ExecutionStarted"
    assert [p["ModelApprovalStatus"] for p in packages["ModelPackageSummaryList"]] == [
        "PendingManualApproval"
    ]


def test_the_readmes_subscription_commands_work_as_printed(
    served: LocalCloud, tmp_path: Path
) -> None:
    # Given the README's block for subscribing an approver
    readme = (ROOT / "README.md").read_text()
    (block,) = re.findall(r"```bash\n(aws sns subscribe .*?)```", readme, re.DOTALL)
    topic = served.stack.outputs["ApprovalsTopicArn"] if served.stack else ""

    # When it runs with the variables it names (the token: any, the local cloud checks none)
    preamble = [*served.cli_lines(), f"APPROVALS_TOPIC={topic}", "TOKEN=from-the-email"]
    out = shell([*preamble, block], tmp_path)

    # Then the approver is subscribed
    subscribed, _confirmed = documents(out)
    assert subscribed["SubscriptionArn"].startswith(topic)
    subscriptions = served.client("sns").list_subscriptions_by_topic(TopicArn=topic)
    assert "approver@example.com" in [s["Endpoint"] for s in subscriptions["Subscriptions"]]
