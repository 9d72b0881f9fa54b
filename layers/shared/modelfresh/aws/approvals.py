"""Approval records in DynamoDB, and approval emails through SNS."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from modelfresh.aws.notifications import cut_note, sns_message
from modelfresh.promote.approval_pages import email, subject
from modelfresh.promote.approvals import Approval, Status

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sns import SNSClient

# Decided and expired records are kept this long for the record, then TTL removes them.
KEEP_SECONDS = 90 * 86400


class DynamoApprovalStore:
    """approvals.ApprovalStore on a table keyed by `approval_id`, with TTL."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._db = client
        self._table = table

    def put(self, approval: Approval) -> None:
        self._db.put_item(
            TableName=self._table,
            Item=_item(approval),
            ConditionExpression="attribute_not_exists(approval_id)",
        )

    def get(self, approval_id: str) -> Approval | None:
        if not approval_id or len(approval_id) > 100:
            return None
        item = self._db.get_item(
            TableName=self._table, Key={"approval_id": {"S": approval_id}}, ConsistentRead=True
        ).get("Item")
        return _approval(item) if item else None

    def decide(self, approval: Approval, csrf_token: str, now: int) -> Approval | None:
        try:
            self._db.update_item(
                TableName=self._table,
                Key={"approval_id": {"S": approval.id}},
                # The token stays until the decision has reached the run (see delivered), the
                # audit marker until the decision is audited (see audited).
                UpdateExpression=(
                    "SET #status = :decided, decided_at = :now, decided_by = :by, "
                    "#comment = :comment, decision_id = :decision, audit_due = :due"
                ),
                ConditionExpression=(
                    "#status = :pending AND expires_at > :now AND csrf_token = :csrf"
                ),
                ExpressionAttributeNames={"#status": "status", "#comment": "comment"},
                ExpressionAttributeValues={
                    ":decided": {"S": approval.status.value},
                    ":pending": {"S": Status.PENDING.value},
                    ":now": {"N": str(now)},
                    ":by": {"S": json.dumps(dict(approval.decided_by))},
                    ":comment": {"S": approval.comment},
                    ":decision": {"S": approval.decision_id},
                    ":due": {"BOOL": True},
                    ":csrf": {"S": csrf_token},
                },
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise
        return approval

    def delivered(self, approval_id: str) -> None:
        # A used secret is not kept.
        self._db.update_item(
            TableName=self._table,
            Key={"approval_id": {"S": approval_id}},
            UpdateExpression="REMOVE task_token",
            ConditionExpression="attribute_exists(approval_id)",
        )

    def audited(self, approval_id: str) -> None:
        self._db.update_item(
            TableName=self._table,
            Key={"approval_id": {"S": approval_id}},
            UpdateExpression="REMOVE audit_due",
            ConditionExpression="attribute_exists(approval_id)",
        )

    def expire(self, approval_id: str, expected: Status) -> bool:
        try:
            self._db.update_item(
                TableName=self._table,
                Key={"approval_id": {"S": approval_id}},
                UpdateExpression="SET #status = :expired REMOVE task_token, audit_due",
                ConditionExpression="#status = :expected",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":expired": {"S": Status.EXPIRED.value},
                    ":expected": {"S": expected.value},
                },
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def waiting(self) -> list[Approval]:
        # A handful of records at a time (one per deploy waiting for a person): a scan is fine.
        pages = self._db.get_paginator("scan").paginate(
            TableName=self._table,
            FilterExpression="attribute_exists(task_token) OR attribute_exists(audit_due)",
            ConsistentRead=True,
        )
        return [_approval(item) for page in pages for item in page.get("Items", [])]


def _item(approval: Approval) -> dict[str, Any]:
    return {
        "approval_id": {"S": approval.id},
        "task_token": {"S": approval.task_token},
        "csrf_token": {"S": approval.csrf_token},
        "model": {"S": approval.model},
        "version": {"N": str(approval.version)},
        "package_arn": {"S": approval.package_arn},
        "run": {"S": approval.run},
        "created_at": {"N": str(approval.created_at)},
        "expires_at": {"N": str(approval.expires_at)},
        "details": {"S": json.dumps(dict(approval.details), default=str)},
        "status": {"S": approval.status.value},
        "comment": {"S": approval.comment},
        "ttl": {"N": str(approval.expires_at + KEEP_SECONDS)},
    }


def _approval(item: Mapping[str, Any]) -> Approval:
    def text(key: str) -> str:
        return str(item[key]["S"]) if key in item else ""

    return Approval(
        id=text("approval_id"),
        task_token=text("task_token"),
        csrf_token=text("csrf_token"),
        model=text("model"),
        version=int(item["version"]["N"]),
        package_arn=text("package_arn"),
        run=text("run"),
        created_at=int(item["created_at"]["N"]),
        expires_at=int(item["expires_at"]["N"]),
        details=json.loads(text("details") or "{}"),
        status=Status(text("status")),
        decided_at=int(item["decided_at"]["N"]) if "decided_at" in item else None,
        decided_by=json.loads(text("decided_by") or "{}"),
        comment=text("comment"),
        decision_id=text("decision_id"),
        audit_due=bool(item.get("audit_due", {}).get("BOOL")),
    )


def approval_message(approval: Approval, link: str) -> str:
    """The approval email as SNS publishes it, within SNS's limit: the details are what may be
    big, and are cut first; the link, in the text after them, stays whole."""

    def parts(details: Any, notes: list[str]) -> tuple[str, str]:
        default = {"model": approval.model, "version": approval.version, "link": link}
        text = email(replace(approval, details=details), link) + cut_note(notes)
        return json.dumps(default | ({"truncated": notes} if notes else {})), text

    return sns_message(dict(approval.details), parts)


class SnsApprovalMailer:
    """Sends the approval email to the approvers' topic: the link, never the token."""

    def __init__(self, client: SNSClient, topic_arn: str, base_url: str) -> None:
        self._sns = client
        self._topic_arn = topic_arn
        self._base_url = base_url.rstrip("/")

    def link(self, approval: Approval) -> str:
        """The one link in the email."""
        return f"{self._base_url}/approvals/{approval.id}"

    def send(self, approval: Approval) -> None:
        self._sns.publish(
            TopicArn=self._topic_arn,
            Subject=subject(approval),
            MessageStructure="json",
            Message=approval_message(approval, self.link(approval)),
            MessageAttributes={"model": {"DataType": "String", "StringValue": approval.model}},
        )
