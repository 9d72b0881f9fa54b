"""Outcomes to SNS (people and systems) and to the DynamoDB audit table (the record).

Each message is cut to its service's limit in one place here (`sns_message`, `audit_item`),
whatever the outcome carries: the biggest fields first, and the message says what was cut.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from modelfresh.core.limits import AUDIT_ITEM_BUDGET, SNS_BUDGET, Cut, fit
from modelfresh.core.outcomes import Outcome

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef
    from mypy_boto3_sns import SNSClient

# What identifies an outcome: never cut while anything else can be.
OUTCOME_KEEP = ("model", "kind", "run", "at")
CUT_NOTE = "Parts of this message were cut to fit SNS's 256 KB limit:"

# (document, what was cut) -> the `default` and `email` parts of an SNS message
type MessageParts = Callable[[Any, list[str]], tuple[str, str]]


def sns_message(document: Any, parts: MessageParts, keep: tuple[str, ...] = ()) -> str:
    """The Message of a MessageStructure="json" Publish: the `default` (for systems) and
    `email` (for people) parts that `parts` builds from `document`, cut to fit SNS."""

    def message(doc: Any, notes: list[str]) -> str:
        default, email = parts(doc, notes)
        return json.dumps({"default": default, "email": email})

    fitted = fit(
        document,
        SNS_BUDGET,
        lambda doc, cuts: len(message(doc, [str(c) for c in cuts]).encode()),
        keep,
    )
    return message(fitted.document, fitted.notes)


def cut_note(notes: list[str]) -> str:
    """The lines an email ends with when parts of it were cut."""
    return "\n\n" + "\n".join([CUT_NOTE, *(f"  {note}" for note in notes)]) if notes else ""


def outcome_message(outcome: Outcome) -> str:
    """An outcome as SNS publishes it: JSON for machines, readable text for email."""

    def parts(doc: Any, notes: list[str]) -> tuple[str, str]:
        default = doc | ({"truncated": notes} if notes else {})
        return json.dumps(default), Outcome.from_dict(doc).as_text() + cut_note(notes)

    return sns_message(outcome.to_dict(), parts, OUTCOME_KEEP)


class SnsNotifier:
    """Publishes an outcome: readable text for email, JSON for machine subscribers.

    Message attributes `model` and `outcome` let subscribers filter with a subscription
    filter policy (e.g. only "failed", or only one model).
    """

    def __init__(self, client: SNSClient, topic_arn: str) -> None:
        self._sns = client
        self._topic_arn = topic_arn

    def publish(self, outcome: Outcome) -> None:
        self._sns.publish(
            TopicArn=self._topic_arn,
            Subject=outcome.subject,
            MessageStructure="json",
            Message=outcome_message(outcome),
            MessageAttributes={
                "model": {"DataType": "String", "StringValue": outcome.model},
                "outcome": {"DataType": "String", "StringValue": outcome.kind},
            },
        )


def audit_item(outcome: Outcome) -> dict[str, AttributeValueTypeDef]:
    """The audit item of an outcome, within DynamoDB's item limit: its summary and detail are
    cut if they must be (the keys never are), and `truncated` lists what was cut."""

    def item(doc: Any, cuts: tuple[Cut, ...]) -> dict[str, AttributeValueTypeDef]:
        built: dict[str, AttributeValueTypeDef] = {
            "model": {"S": outcome.model},
            "entry": {"S": f"{outcome.at}#{outcome.run}#{outcome.kind}"},
            "kind": {"S": outcome.kind},
            "run": {"S": outcome.run},
            "at": {"S": outcome.at},
            "summary": {"S": str(doc.get("summary", ""))},
            "detail": {"S": json.dumps(doc.get("detail", {}), sort_keys=True, default=str)},
        }
        if cuts:
            built["truncated"] = {"S": json.dumps([str(cut) for cut in cuts])}
        return built

    def size(doc: Any, cuts: tuple[Cut, ...]) -> int:
        return sum(len(k) + len(str(v.get("S", "")).encode()) for k, v in item(doc, cuts).items())

    fitted = fit(
        {"summary": outcome.summary, "detail": dict(outcome.detail)}, AUDIT_ITEM_BUDGET, size
    )
    return item(fitted.document, fitted.cuts)


class DynamoAuditLog:
    """One item per outcome, keyed by model and `<time>#<run>#<kind>`: a repeat overwrites
    the same item, and a model's history reads back in time order."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._db = client
        self._table = table

    def write(self, outcome: Outcome) -> None:
        self._db.put_item(TableName=self._table, Item=audit_item(outcome))
