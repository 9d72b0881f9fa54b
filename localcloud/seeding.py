"""A model already in production before the controller (`LocalCloud.seed_production`, shared
by tests, demo and bench)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ops import deploy as ops_deploy

if TYPE_CHECKING:
    from modelfresh.core.schema import ModelConfig

    from localcloud import LocalCloud


def seed_production(
    cloud: LocalCloud, model: ModelConfig, package_arn: str, instance_type: str | None
) -> None:
    """Serve `package_arn` as `model`'s champion on its staging and prod endpoints, prod on
    `instance_type` (else the configured one). Raises RuntimeError if an endpoint cannot."""
    # Imported here: importing the app's modules builds its logger, which must wait for
    # the deployed functions' environment (POWERTOOLS_SERVICE_NAME, ...).
    from modelfresh.aws.hosting import scaling_policy_name  # noqa: PLC0415
    from modelfresh.promote.steps import data_capture_config  # noqa: PLC0415

    sagemaker = cloud.client("sagemaker")
    role = cloud.client("iam").create_role(
        RoleName=f"{model.name}-serving", AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    sagemaker.create_model(
        ModelName=f"{model.name}-champion",
        PrimaryContainer={"ModelPackageName": package_arn},
        ExecutionRoleArn=role,
    )
    deploy = model.deploy
    prod_instance_type = instance_type or deploy.instance_type
    for kind, endpoint, serving_type, count in (
        ("staging", model.live.staging, deploy.staging_instance_type, 1),
        ("prod", model.live.prod, prod_instance_type, deploy.instance_count),
    ):
        sagemaker.create_endpoint_config(
            EndpointConfigName=f"{model.name}-champion-{kind}",
            ProductionVariants=[
                {
                    "VariantName": deploy.variant,
                    "ModelName": f"{model.name}-champion",
                    "InstanceType": serving_type,
                    "InitialInstanceCount": count,
                }
            ],
            DataCaptureConfig=data_capture_config(model, cloud.capture_uri),
        )
        sagemaker.create_endpoint(
            EndpointName=endpoint, EndpointConfigName=f"{model.name}-champion-{kind}"
        )
        described = sagemaker.describe_endpoint(EndpointName=endpoint)
        if described["EndpointStatus"] != "InService":
            raise RuntimeError(
                f"{endpoint} cannot serve {package_arn}: {described.get('FailureReason')}"
            )

    # A team's endpoints become the stack's to change when `make deploy` tags them: made
    # before the deploy, the deploy does; made after it, they are tagged as the next would.
    if cloud.stack is not None:
        ops_deploy.adopt_endpoints(sagemaker, model, cloud.stack.name)

    resource = f"endpoint/{model.live.prod}/variant/{deploy.variant}"
    scaling = cloud.client("application-autoscaling")
    scaling.register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=resource,
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        MinCapacity=deploy.autoscaling.min_instances,
        MaxCapacity=deploy.autoscaling.max_instances,
    )
    scaling.put_scaling_policy(
        PolicyName=scaling_policy_name(model.name),
        ServiceNamespace="sagemaker",
        ResourceId=resource,
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": deploy.autoscaling.invocations_per_instance,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
            },
        },
    )
