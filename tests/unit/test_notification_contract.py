"""README's "Notifications: the contract" is what the code sends: every kind, attribute and field
of the outcome messages, from the Lambdas (modelfresh.core.outcomes) and from the state machines."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, get_args

from modelfresh.aws.notifications import SnsNotifier
from modelfresh.core.outcomes import Outcome, OutcomeKind

ROOT = Path(__file__).resolve().parent.parent.parent
README = (ROOT / "README.md").read_text()
MACHINES = sorted((ROOT / "statemachines").glob("*.asl.json"))


def contract() -> str:
    start = README.index("## Notifications: the contract")
    return README[start : README.index("\n## ", start + 1)]


def first_column(header: str) -> list[str]:
    """The code-quoted first cells of the contract's table whose header starts with `header`."""
    lines = contract().splitlines()
    top = next(i for i, line in enumerate(lines) if line.startswith(f"| {header} |"))
    rows = []
    for line in lines[top + 2 :]:
        if not line.startswith("|"):
            break
        (cell,) = re.findall(r"^\| `([^`]+)` \|", line)
        rows.append(cell)
    return rows


def publishing_states() -> list[dict[str, Any]]:
    """The Parameters of every state machine Task that publishes to the notifications topic."""

    def walk(states: dict[str, Any]) -> list[dict[str, Any]]:
        found = []
        for state in states.values():
            parameters = state.get("Parameters", {})
            if parameters.get("TopicArn") == "${NotificationsTopicArn}":
                found.append(parameters)
            for branch in [*state.get("Branches", []), state.get("ItemProcessor", {})]:
                found += walk(branch.get("States", {}))
        return found

    return [p for m in MACHINES for p in walk(json.loads(m.read_text())["States"])]


class Recording:
    """An SNS client that keeps what it was asked to publish."""

    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    def publish(self, **request: Any) -> dict[str, str]:
        self.published.append(request)
        return {"MessageId": "1"}


def sent(outcome: Outcome) -> dict[str, Any]:
    client = Recording()
    SnsNotifier(client, "arn:aws:sns:us-east-1:123456789012:notifications").publish(  # type: ignore[arg-type]
        outcome
    )
    (request,) = client.published
    return request


def outcome(kind: OutcomeKind = "failed", **detail: Any) -> Outcome:
    return Outcome("taxi-fare", kind, "taxi-fare-drift-1", "2026-11-20T10:00:00.000Z", "s", detail)


def test_the_documented_kinds_are_every_kind_the_code_sends() -> None:
    # The Lambdas' kinds and the state machines' own (the checks' failures, a batch run's or
    # a batch promotion's that failed before it planned)
    machines = {
        p["MessageAttributes"]["outcome"]["StringValue"]
        for p in publishing_states()
        if "StringValue" in p["MessageAttributes"]["outcome"]
    }
    assert machines == {
        "drift-check-failed",
        "quality-check-failed",
        "batch-failed",
        "promotion-failed",
    }
    documented = first_column("Kind")
    assert len(documented) == len(set(documented))
    assert set(documented) == set(get_args(OutcomeKind)) | machines


def test_the_documented_attributes_are_what_every_publisher_sets() -> None:
    documented = first_column("Attribute")
    assert list(sent(outcome())["MessageAttributes"]) == documented
    for parameters in publishing_states():
        assert list(parameters["MessageAttributes"]) == documented
        assert all(a["DataType"] == "String" for a in parameters["MessageAttributes"].values())


def test_the_documented_fields_are_what_the_default_part_carries() -> None:
    documented = first_column("Field")
    # An outcome as sent, and one that had to be cut to SNS's limit (then `truncated` lists it)
    whole = json.loads(json.loads(sent(outcome())["Message"])["default"])
    cut = json.loads(json.loads(sent(outcome(log="x" * 300_000))["Message"])["default"])
    assert list(whole) == [f for f in documented if f != "truncated"]
    assert list(cut) == documented
    assert whole["kind"] == sent(outcome())["MessageAttributes"]["outcome"]["StringValue"]
    # ... and the state machines' notifications have the same fields, in the same order
    for parameters in publishing_states():
        message = parameters["Message.$"]
        assert message == "States.JsonToString($.notice.message)"
    drift_check = json.loads((ROOT / "statemachines" / "drift_check.asl.json").read_text())
    described = drift_check["States"]["Describe the failure"]["Parameters"]["outcome"]
    assert [key.removesuffix(".$") for key in described] == list(whole)
    worded = drift_check["States"]["Word the notification"]["Parameters"]
    assert worded["default.$"] == "States.JsonToString($.notice.outcome)"
