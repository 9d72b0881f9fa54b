"""Parked task tokens in DynamoDB, and Step Functions' callback API."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from modelfresh.retrain.callbacks import Callback

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_stepfunctions import SFNClient

# What Step Functions says when a token was used before or its task is over.
_SPENT_TOKEN_ERRORS = {"InvalidToken", "TaskTimedOut", "TaskDoesNotExist"}


class DynamoCallbackStore:
    """callbacks.CallbackStore on a table keyed by `pipeline_execution_arn`, with TTL."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._db = client
        self._table = table

    def put(self, callback: Callback, expires_at: int) -> None:
        self._db.put_item(
            TableName=self._table,
            Item={
                "pipeline_execution_arn": {"S": callback.pipeline_execution_arn},
                "task_token": {"S": callback.task_token},
                "model": {"S": callback.model},
                "run": {"S": callback.run},
                "state": {"S": "waiting"},
                "expires_at": {"N": str(expires_at)},
            },
        )

    def get(self, pipeline_execution_arn: str) -> Callback | None:
        item = self._db.get_item(
            TableName=self._table,
            Key={"pipeline_execution_arn": {"S": pipeline_execution_arn}},
            ConsistentRead=True,
        ).get("Item")
        return _callback(item) if item else None

    def mark_resumed(self, pipeline_execution_arn: str) -> None:
        # The token is dropped with the state change: a used token is worthless, but a secret
        # that is not stored cannot leak.
        self._db.update_item(
            TableName=self._table,
            Key={"pipeline_execution_arn": {"S": pipeline_execution_arn}},
            UpdateExpression="SET #state = :resumed REMOVE task_token",
            ConditionExpression="attribute_exists(pipeline_execution_arn)",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={":resumed": {"S": "resumed"}},
        )

    def waiting(self) -> list[Callback]:
        paginator = self._db.get_paginator("scan")
        pages = paginator.paginate(
            TableName=self._table,
            FilterExpression="#state = :waiting",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={":waiting": {"S": "waiting"}},
            ConsistentRead=True,
        )
        return [_callback(item) for page in pages for item in page.get("Items", [])]


def _callback(item: Mapping[str, Any]) -> Callback:
    return Callback(
        pipeline_execution_arn=item["pipeline_execution_arn"]["S"],
        task_token=item.get("task_token", {}).get("S", ""),
        model=item["model"]["S"],
        run=item["run"]["S"],
        waiting=item["state"]["S"] == "waiting",
    )


class StepFunctionsTaskTokens:
    """callbacks.TaskTokens: SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat."""

    def __init__(self, client: SFNClient) -> None:
        self._sfn = client

    def succeed(self, token: str, output: Mapping[str, Any]) -> bool:
        return self._send(
            lambda: self._sfn.send_task_success(taskToken=token, output=json.dumps(output))
        )

    def fail(self, token: str, error: str, cause: str) -> bool:
        return self._send(
            lambda: self._sfn.send_task_failure(taskToken=token, error=error, cause=cause)
        )

    def heartbeat(self, token: str) -> bool:
        return self._send(lambda: self._sfn.send_task_heartbeat(taskToken=token))

    @staticmethod
    def _send(call: Any) -> bool:
        try:
            call()
        except ClientError as error:
            if error.response["Error"]["Code"] in _SPENT_TOKEN_ERRORS:
                return False
            raise
        return True
