"""Outcomes to SNS (people and systems) and to the DynamoDB audit table (the record)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from modelfresh.outcomes import Outcome

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sns import SNSClient


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
            Message=json.dumps(
                {"default": json.dumps(outcome.to_dict()), "email": outcome.as_text()}
            ),
            MessageAttributes={
                "model": {"DataType": "String", "StringValue": outcome.model},
                "outcome": {"DataType": "String", "StringValue": outcome.kind},
            },
        )


class DynamoAuditLog:
    """One item per outcome, keyed by model and `<time>#<run>#<kind>`: a repeat overwrites
    the same item, and a model's history reads back in time order."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._db = client
        self._table = table

    def write(self, outcome: Outcome) -> None:
        self._db.put_item(
            TableName=self._table,
            Item={
                "model": {"S": outcome.model},
                "entry": {"S": f"{outcome.at}#{outcome.run}#{outcome.kind}"},
                "kind": {"S": outcome.kind},
                "run": {"S": outcome.run},
                "at": {"S": outcome.at},
                "summary": {"S": outcome.summary},
                "detail": {"S": json.dumps(outcome.detail, sort_keys=True, default=str)},
            },
        )
