"""SageMaker (pipelines, model registry) and the S3 objects its pipelines write."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from modelfresh.core.errors import CandidateNotFound, EvaluationReportInvalid
from modelfresh.core.records import Package

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient

# An evaluation report is a few kilobytes; anything this big is not one.
REPORT_LIMIT_BYTES = 1_000_000


class SageMakerPipelines:
    """Pipeline execution statuses and the model packages their executions registered."""

    def __init__(self, client: SageMakerClient) -> None:
        self._sm = client

    def status(self, pipeline_execution_arn: str) -> tuple[str, str]:
        found = self._sm.describe_pipeline_execution(PipelineExecutionArn=pipeline_execution_arn)
        return found["PipelineExecutionStatus"], found.get("FailureReason", "")

    def candidate_of(self, pipeline_execution_arn: str) -> str:
        """The package from the execution's RegisterModel step (the API's own link between a
        pipeline execution and what it registered). Raises: CandidateNotFound."""
        registered = []
        paginator = self._sm.get_paginator("list_pipeline_execution_steps")
        for page in paginator.paginate(PipelineExecutionArn=pipeline_execution_arn):
            for step in page.get("PipelineExecutionSteps", []):
                arn = step.get("Metadata", {}).get("RegisterModel", {}).get("Arn")
                if arn and step.get("StepStatus") == "Succeeded":
                    registered.append(arn)
        if len(registered) != 1:
            raise CandidateNotFound(
                f"pipeline execution {pipeline_execution_arn} registered {len(registered)} "
                "model packages; the gate needs exactly one"
            )
        return registered[0]

    def package(self, package_arn: str) -> tuple[str, str | None]:
        found = self._sm.describe_model_package(ModelPackageName=package_arn)
        statistics = found.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {})
        return found.get("ModelPackageGroupName", ""), statistics.get("S3Uri")

    def executing(self, pipeline: str, display_name: str, since: datetime) -> list[str]:
        """The pipeline's executions started since `since` under this display name (a run's
        name) that are still Executing: newest first, paginated."""
        found = []
        pages = self._sm.get_paginator("list_pipeline_executions").paginate(
            PipelineName=pipeline,
            CreatedAfter=since,
            SortBy="CreationTime",
            SortOrder="Descending",
        )
        for page in pages:
            for summary in page.get("PipelineExecutionSummaries", []):
                if (
                    summary.get("PipelineExecutionDisplayName") == display_name
                    and summary.get("PipelineExecutionStatus") == "Executing"
                ):
                    found.append(summary["PipelineExecutionArn"])
        return found

    def stop(self, pipeline_execution_arn: str) -> None:
        """Stop a pipeline execution (a repeat is the same request: its token is derived)."""
        self._sm.stop_pipeline_execution(
            PipelineExecutionArn=pipeline_execution_arn,
            ClientRequestToken=hashlib.sha256(
                f"stop:{pipeline_execution_arn}".encode()
            ).hexdigest(),
        )


class ModelRegistry:
    """Model packages as the promotion reads them."""

    def __init__(self, client: SageMakerClient) -> None:
        self._sm = client

    def describe(self, package_arn: str) -> Package:
        """A package's status, version, evaluation report, trigger metadata, baselines and
        model data."""
        found = self._sm.describe_model_package(ModelPackageName=package_arn)
        statistics = found.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {})
        baselines = found.get("DriftCheckBaselines", {}).get("ModelDataQuality", {})
        containers = found.get("InferenceSpecification", {}).get("Containers", [])
        return Package(
            arn=found["ModelPackageArn"],
            group=found.get("ModelPackageGroupName", ""),
            version=int(found.get("ModelPackageVersion", 0)),
            status=found.get("ModelApprovalStatus", ""),
            report_uri=statistics.get("S3Uri"),
            metadata=found.get("CustomerMetadataProperties", {}),
            approval_description=found.get("ApprovalDescription", ""),
            baseline_statistics=baselines.get("Statistics", {}).get("S3Uri"),
            baseline_constraints=baselines.get("Constraints", {}).get("S3Uri"),
            model_data_url=containers[0].get("ModelDataUrl") if containers else None,
        )

    def newest_approved(self, group: str) -> str | None:
        """The ARN of the group's most recently created Approved package: ListModelPackages
        sorts ascending unless told otherwise, which would pick the oldest."""
        found = self._sm.list_model_packages(
            ModelPackageGroupName=group,
            ModelApprovalStatus="Approved",
            SortBy="CreationTime",
            SortOrder="Descending",
            MaxResults=1,
        ).get("ModelPackageSummaryList", [])
        return found[0]["ModelPackageArn"] if found else None

    def set_status(self, package_arn: str, status: str, description: str) -> None:
        """Set a package's approval status, saying why (ApprovalDescription: 1,024 chars)."""
        self._sm.update_model_package(
            ModelPackageArn=package_arn,
            ModelApprovalStatus=status,  # type: ignore[arg-type]
            ApprovalDescription=description[:1024],
        )


class S3Reports:
    """Small JSON documents (evaluation reports) from S3."""

    def __init__(self, client: S3Client) -> None:
        self._s3 = client

    def read_json(self, uri: str) -> Mapping[str, Any]:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        if not uri.startswith("s3://") or not bucket or not key:
            raise EvaluationReportInvalid(f"not an s3:// object URI: {uri!r}")
        try:
            body = self._s3.get_object(
                Bucket=bucket, Key=key, Range=f"bytes=0-{REPORT_LIMIT_BYTES}"
            )
            raw = body["Body"].read()
        except ClientError as error:
            code = error.response["Error"]["Code"]
            raise EvaluationReportInvalid(f"cannot read {uri}: {code}") from None
        if len(raw) > REPORT_LIMIT_BYTES:
            raise EvaluationReportInvalid(f"{uri} is larger than {REPORT_LIMIT_BYTES} bytes")
        try:
            report = json.loads(raw)
        except ValueError:
            raise EvaluationReportInvalid(f"{uri} is not JSON") from None
        if not isinstance(report, dict):
            raise EvaluationReportInvalid(f"{uri} is not a JSON object")
        return report
