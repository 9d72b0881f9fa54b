"""The quality check's CloudWatch side: its metrics (ModelFresh/Quality) and the model's
quality alarm. Its files and finding go through aws/drift.py's DriftObjects and DriftState.

No numpy here: the planning Lambda uses this without the drift layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from modelfresh.aws.drift import ensure_alarm, put_metrics
from modelfresh.quality.plan import (
    ESTIMATED_ROWS_METRIC,
    QUALITY_NAMESPACE,
    ROWS_METRIC,
    UNLABELLED_METRIC,
)

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_cloudwatch.type_defs import PutMetricAlarmInputTypeDef


class QualityMetrics:
    """The quality check's CloudWatch metrics and the model's quality alarm."""

    def __init__(self, client: CloudWatchClient) -> None:
        self._cw = client

    def publish(
        self, model: str, at: str, metrics: Mapping[str, float], rows: int, unlabelled: int
    ) -> int:
        """One datapoint per metric (named as Model Monitor names it) and the two counts,
        stamped `at`; returns how many were sent."""
        values = [
            (ROWS_METRIC, float(rows), "Count"),
            (UNLABELLED_METRIC, float(unlabelled), "Count"),
            *((name, value, "None") for name, value in metrics.items()),
        ]
        return put_metrics(self._cw, QUALITY_NAMESPACE, model, at, values)

    def publish_estimates(
        self, model: str, at: str, metrics: Mapping[str, float], rows: int
    ) -> int:
        """The latest window's estimated metrics (estimated_<metric>) and the predictions
        they were estimated from (estimated_rows), stamped `at`."""
        values = [
            (ESTIMATED_ROWS_METRIC, float(rows), "Count"),
            *((name, value, "None") for name, value in metrics.items()),
        ]
        return put_metrics(self._cw, QUALITY_NAMESPACE, model, at, values)

    def ensure_alarm(self, wanted: PutMetricAlarmInputTypeDef) -> bool:
        return ensure_alarm(self._cw, wanted)
