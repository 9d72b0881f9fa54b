"""Per-model promotion state in the model-state table: who is deploying, who is champion."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from modelfresh.core.errors import DeployInProgress
from modelfresh.core.records import Champion

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class DynamoDeploys:
    """One deploy run per model at a time, and the record of the champion it leaves."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._db = client
        self._table = table

    def claim(self, model: str, run: str, now: int, expires_at: int) -> None:
        """Take the model's deploy slot (again, if this run holds it). Raises: DeployInProgress."""
        try:
            self._db.update_item(
                TableName=self._table,
                Key={"model": {"S": model}},
                UpdateExpression="SET deploy_run = :run, deploy_expires_at = :exp",
                ConditionExpression=(
                    "attribute_not_exists(deploy_run) OR deploy_run = :run "
                    "OR deploy_expires_at < :now"
                ),
                ExpressionAttributeValues={
                    ":run": {"S": run},
                    ":exp": {"N": str(expires_at)},
                    ":now": {"N": str(now)},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            holder = error.response.get("Item", {}).get("deploy_run", {}).get("S", "another run")  # type: ignore[attr-defined]
            raise DeployInProgress(
                f"{model} is being promoted by {holder}; waiting for it to finish"
            ) from None

    def release(self, model: str, run: str) -> None:
        """Free the deploy slot if this run holds it."""
        try:
            self._db.update_item(
                TableName=self._table,
                Key={"model": {"S": model}},
                UpdateExpression="REMOVE deploy_run, deploy_expires_at",
                ConditionExpression="deploy_run = :run",
                ExpressionAttributeValues={":run": {"S": run}},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def slot(self, model: str) -> tuple[str, int] | None:
        """The run holding the model's deploy slot and when its hold expires, if any."""
        item = self._db.get_item(
            TableName=self._table, Key={"model": {"S": model}}, ConsistentRead=True
        ).get("Item", {})
        if "deploy_run" not in item:
            return None
        return item["deploy_run"]["S"], int(item.get("deploy_expires_at", {}).get("N", "0"))

    def champion(self, model: str) -> Champion | None:
        """The package serving in production, as last recorded."""
        item = self._db.get_item(
            TableName=self._table, Key={"model": {"S": model}}, ConsistentRead=True
        ).get("Item", {})
        if "champion_package" not in item:
            return None
        return Champion(
            package_arn=item["champion_package"]["S"],
            version=int(item["champion_version"]["N"]),
            metrics=json.loads(item.get("champion_metrics", {}).get("S", "{}")),
            since=item.get("champion_since", {}).get("S", ""),
        )

    def baseline(self, model: str) -> tuple[str, str] | None:
        """The drift baseline recorded with the champion (statistics, constraints), if both."""
        item = self._db.get_item(
            TableName=self._table, Key={"model": {"S": model}}, ConsistentRead=True
        ).get("Item", {})
        statistics = item.get("baseline_statistics", {}).get("S", "")
        constraints = item.get("baseline_constraints", {}).get("S", "")
        return (statistics, constraints) if statistics and constraints else None

    def crown(
        self,
        model: str,
        champion: Champion,
        baseline: tuple[str | None, str | None],
        run: str,
        at: str,
    ) -> None:
        """Record the new champion, and point the model's drift check at its baseline."""
        statistics, constraints = baseline
        values = {
            ":package": {"S": champion.package_arn},
            ":version": {"N": str(champion.version)},
            ":metrics": {"S": json.dumps(dict(champion.metrics))},
            ":run": {"S": run},
            ":at": {"S": at},
            ":statistics": {"S": statistics or ""},
            ":constraints": {"S": constraints or ""},
        }
        self._db.update_item(
            TableName=self._table,
            Key={"model": {"S": model}},
            UpdateExpression=(
                "SET champion_package = :package, champion_version = :version, "
                "champion_metrics = :metrics, "
                "champion_run = :run, champion_since = :at, "
                "baseline_statistics = :statistics, baseline_constraints = :constraints"
            ),
            ExpressionAttributeValues=values,
        )
