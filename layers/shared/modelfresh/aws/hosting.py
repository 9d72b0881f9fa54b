"""SageMaker hosting: invoking endpoints, reading them, and what guards prod (rollback alarms,
auto scaling)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from botocore.exceptions import BotoCoreError, ClientError

from modelfresh.core.records import Endpoint
from modelfresh.core.schema import ModelConfig
from modelfresh.promote.smoke import EndpointError
from modelfresh.promote.steps import rollback_alarm_names

if TYPE_CHECKING:
    from mypy_boto3_application_autoscaling import ApplicationAutoScalingClient
    from mypy_boto3_application_autoscaling.literals import ScalableDimensionType
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_cloudwatch.type_defs import DimensionTypeDef, PutMetricAlarmInputTypeDef
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_sagemaker_runtime import SageMakerRuntimeClient

SCALABLE_DIMENSION: Final[ScalableDimensionType] = "sagemaker:variant:DesiredInstanceCount"


class RuntimeInvoker:
    """smoke.Invoker on sagemaker-runtime InvokeEndpoint."""

    def __init__(self, client: SageMakerRuntimeClient) -> None:
        self._runtime = client

    def invoke(self, endpoint: str, body: bytes, content_type: str) -> bytes:
        try:
            answer = self._runtime.invoke_endpoint(
                EndpointName=endpoint, Body=body, ContentType=content_type
            )
        except (ClientError, BotoCoreError) as error:
            code = (
                error.response["Error"]["Code"]
                if isinstance(error, ClientError)
                else type(error).__name__
            )
            raise EndpointError(f"{code}: {error}") from None
        return answer["Body"].read()


class SageMakerEndpoints:
    """Reads endpoints as they stand."""

    def __init__(self, client: SageMakerClient) -> None:
        self._sm = client

    def describe(self, name: str, variant: str) -> Endpoint:
        """The endpoint, its current config and the variant's instance type (if it exists)."""
        try:
            found = self._sm.describe_endpoint(EndpointName=name)
        except ClientError as error:
            if "Could not find endpoint" in error.response["Error"].get("Message", ""):
                return Endpoint(name=name, exists=False)
            raise
        config, status = found["EndpointConfigName"], found["EndpointStatus"]
        variants = self._sm.describe_endpoint_config(EndpointConfigName=config)[
            "ProductionVariants"
        ]
        mine = next((v for v in variants if v["VariantName"] == variant), None)
        if mine is None:
            return Endpoint(name=name, exists=True, config=config, status=status)
        container = self._sm.describe_model(ModelName=mine["ModelName"]).get("PrimaryContainer", {})
        return Endpoint(
            name=name,
            exists=True,
            config=config,
            instance_type=mine.get("InstanceType"),
            package_arn=container.get("ModelPackageName"),
            status=status,
        )

    def failure_reason(self, name: str) -> str:
        """Why the endpoint's last update failed or rolled back ("" if it says nothing)."""
        return str(self._sm.describe_endpoint(EndpointName=name).get("FailureReason", ""))


class Guardrails:
    """The rollback alarms and the auto scaling of a model's prod variant."""

    def __init__(
        self, cloudwatch: CloudWatchClient, autoscaling: ApplicationAutoScalingClient
    ) -> None:
        self._cw = cloudwatch
        self._scaling = autoscaling

    def ensure_rollback_alarms(self, model: ModelConfig) -> list[str]:
        """Create or update the three alarms that roll a prod deployment back."""
        deploy = model.deploy
        names = rollback_alarm_names(model.name)
        dimensions: list[DimensionTypeDef] = [
            {"Name": "EndpointName", "Value": model.live.prod},
            {"Name": "VariantName", "Value": deploy.variant},
        ]
        alarm = deploy.model_alarm
        alarms: list[PutMetricAlarmInputTypeDef] = [
            {
                "AlarmName": names["5xx"],
                "AlarmDescription": f"{model.name}: server errors while a new version serves",
                "Namespace": "AWS/SageMaker",
                "MetricName": "Invocation5XXErrors",
                "Dimensions": dimensions,
                "Statistic": "Sum",
                "EvaluationPeriods": 1,
                "Threshold": deploy.max_5xx_per_minute,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            },
            {
                "AlarmName": names["latency"],
                "AlarmDescription": f"{model.name}: latency above {deploy.max_latency_ms:g} ms",
                "Namespace": "AWS/SageMaker",
                "MetricName": "ModelLatency",
                "Dimensions": dimensions,
                "Statistic": "Average",
                "EvaluationPeriods": 2,
                "DatapointsToAlarm": 2,
                "Threshold": deploy.max_latency_ms * 1000,  # ModelLatency is in microseconds
                "ComparisonOperator": "GreaterThanThreshold",
            },
            {
                "AlarmName": names["model"],
                "AlarmDescription": f"{model.name}: {alarm.namespace}/{alarm.metric}",
                "Namespace": alarm.namespace,
                "MetricName": alarm.metric,
                "Dimensions": dimensions if alarm.per_endpoint else [],
                "Statistic": alarm.statistic,
                "EvaluationPeriods": 1,
                "Threshold": alarm.threshold,
                "ComparisonOperator": alarm.comparison,
            },
        ]
        for settings in alarms:
            settings["Period"] = 60
            settings["TreatMissingData"] = "notBreaching"
            # Actions stay off: SageMaker reads the alarm state itself during a deployment.
            settings["ActionsEnabled"] = False
            self._cw.put_metric_alarm(**settings)
        return list(names.values())

    def leave_auto_scaling(self, model: ModelConfig) -> None:
        """Deregister the prod variant (SageMaker requires it before an instance type change)."""
        try:
            self._scaling.deregister_scalable_target(
                ServiceNamespace="sagemaker",
                ResourceId=_resource(model),
                ScalableDimension=SCALABLE_DIMENSION,
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ObjectNotFoundException":
                raise

    def ensure_auto_scaling(self, model: ModelConfig) -> None:
        """Register the prod variant and its target-tracking policy, as configured."""
        scaling = model.deploy.autoscaling
        self._scaling.register_scalable_target(
            ServiceNamespace="sagemaker",
            ResourceId=_resource(model),
            ScalableDimension=SCALABLE_DIMENSION,
            MinCapacity=scaling.min_instances,
            MaxCapacity=scaling.max_instances,
        )
        self._scaling.put_scaling_policy(
            PolicyName=scaling_policy_name(model.name),
            ServiceNamespace="sagemaker",
            ResourceId=_resource(model),
            ScalableDimension=SCALABLE_DIMENSION,
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": scaling.invocations_per_instance,
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
                },
                "ScaleInCooldown": 300,
                "ScaleOutCooldown": 60,
            },
        )


def scaling_policy_name(model: str) -> str:
    """The target-tracking policy the controller keeps on a model's prod variant."""
    return f"modelfresh-{model}-invocations"


def _resource(model: ModelConfig) -> str:
    return f"endpoint/{model.live.prod}/variant/{model.deploy.variant}"
