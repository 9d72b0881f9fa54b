"""The retraining pipeline of pipelines/README.md, in the sagemaker SDK's (3.x) terms.

Imported only by pipelines/definition.py, inside its offline() guard: the SDK creates AWS
clients at import time and needs a region and credentials by then.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import boto3
from modelfresh.core.instances import has_instance_storage
from modelfresh.retrain.steps import PIPELINE_PARAMETERS
from sagemaker.core import image_uris
from sagemaker.core.drift_check_baselines import DriftCheckBaselines
from sagemaker.core.model_metrics import MetricsSource, ModelMetrics
from sagemaker.core.processing import Processor
from sagemaker.core.shapes import (
    ProcessingInput,
    ProcessingOutput,
    ProcessingS3Input,
    ProcessingS3Output,
)
from sagemaker.core.training.configs import Compute, InputData, OutputDataConfig, StoppingCondition
from sagemaker.core.workflow.conditions import ConditionEquals
from sagemaker.core.workflow.execution_variables import ExecutionVariables
from sagemaker.core.workflow.functions import Join, JsonGet
from sagemaker.core.workflow.parameters import ParameterString
from sagemaker.core.workflow.pipeline_context import PipelineSession
from sagemaker.core.workflow.properties import PropertyFile
from sagemaker.mlops.workflow import (
    ConditionStep,
    FailStep,
    ModelStep,
    Pipeline,
    ProcessingStep,
    SageMakerJobExceptionTypeEnum,
    SageMakerJobStepRetryPolicy,
    StepExceptionTypeEnum,
    StepRetryPolicy,
    TrainingStep,
)
from sagemaker.serve.model_builder import ModelBuilder
from sagemaker.train.model_trainer import ModelTrainer

from pipelines import bundle

# The controller's contract (pipelines/README.md), in its order: all strings, all passed on
# every start, so none has a default. One list, the controller's.
PARAMETERS = PIPELINE_PARAMETERS

XGBOOST_VERSION = bundle.IMAGE_TAGS["XGBoostImage"]
PROCESSING_VERSION = bundle.IMAGE_TAGS["ProcessingImage"]
PROCESSING_INSTANCE = "ml.m5.large"
TRAINING_INSTANCE = "ml.m5.xlarge"
PROCESSING_SECONDS = 3600
TRAINING_SECONDS = 2 * 3600
# The built-in algorithm's hyperparameters are strings; `objective` comes from the model.
HYPERPARAMETERS = {
    "num_round": "300",
    "max_depth": "6",
    "eta": "0.1",
    "subsample": "0.8",
    "early_stopping_rounds": "20",
}

# The SDK validates what it is given (ARNs, S3 URIs, image URIs), so the build uses realistic
# stand-ins and swaps them for the placeholders afterwards; both must be unmistakable.
ROLE = "arn:aws:iam::000000000000:role/modelfresh-sentinel-role"
BUCKET = "modelfresh-sentinel-bucket"
KMS_KEY = "arn:aws:kms:sentinel-1:000000000000:key/00000000-0000-0000-0000-000000000000"
IMAGES = {
    placeholder: f"000000000000.dkr.ecr.sentinel-1.amazonaws.com/{bundle.XGBOOST_REPOSITORY}:{tag}"
    for placeholder, tag in bundle.IMAGE_TAGS.items()
}
XGBOOST_IMAGE, PROCESSING_IMAGE = IMAGES["XGBoostImage"], IMAGES["ProcessingImage"]
SENTINELS = {
    ROLE: "${PipelineRoleArn}",
    BUCKET: "${ArtifactsBucket}",
    KMS_KEY: "${" + bundle.KEY_PLACEHOLDER + "}",
    **{image: "${" + placeholder + "}" for placeholder, image in IMAGES.items()},
}

# The SDK's defaults file (TelemetryOptOut): explicit, so that no configuration file on the
# build machine (tags, KMS keys, VPCs) changes the definition, and no telemetry call is made.
SDK_CONFIG = {
    "SchemaVersion": "1.0",
    "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
}
# Transient failures SageMaker itself reports; anything else fails the run for the controller.
JOB_RETRIES = [
    SageMakerJobStepRetryPolicy(
        exception_types=[
            SageMakerJobExceptionTypeEnum.CAPACITY_ERROR,
            SageMakerJobExceptionTypeEnum.INTERNAL_ERROR,
            SageMakerJobExceptionTypeEnum.RESOURCE_LIMIT,
        ],
        interval_seconds=60,
        backoff_rate=2.0,
        max_attempts=3,
    ),
    StepRetryPolicy(
        exception_types=[StepExceptionTypeEnum.SERVICE_FAULT, StepExceptionTypeEnum.THROTTLING],
        interval_seconds=10,
        backoff_rate=2.0,
        max_attempts=5,
    ),
]
SERVICE_RETRIES = JOB_RETRIES[1:]


def output_uri(step: str, output: str) -> Any:
    """Where a step writes: <bucket>/modelfresh/pipelines/<pipeline>/<execution id>/<step>/..."""
    return Join(
        on="/",
        values=[
            f"s3://{BUCKET}/{bundle.OUTPUT_PREFIX}",
            ExecutionVariables.PIPELINE_NAME,
            ExecutionVariables.PIPELINE_EXECUTION_ID,
            step,
            output,
        ],
    )


def s3_input(name: str, source: Any, local_path: str) -> Any:
    return ProcessingInput(
        input_name=name,
        s3_input=ProcessingS3Input(
            s3_uri=source,
            local_path=local_path,
            s3_data_type="S3Prefix",
            s3_input_mode="File",
            s3_data_distribution_type="FullyReplicated",
        ),
    )


def s3_output(step: str, name: str, local_path: str) -> Any:
    return ProcessingOutput(
        output_name=name,
        s3_output=ProcessingS3Output(
            s3_uri=output_uri(step, name), local_path=local_path, s3_upload_mode="EndOfJob"
        ),
    )


def output_of(step: Any, name: str) -> Any:
    """A processing step's output location, as a property (which makes the dependency)."""
    return step.properties.ProcessingOutputConfig.Outputs[name].S3Output.S3Uri


def processing_step(
    session: Any,
    name: str,
    *,
    kms_key: str | None,
    script: str,
    inputs: list[Any],
    outputs: list[tuple[str, str]],
    arguments: list[Any],
    property_files: list[Any] | None = None,
) -> Any:
    """A processing job that runs pipelines/steps/<script>, the code bundle its first input;
    `outputs` are (name, container path) pairs; `kms_key` encrypts its volume and outputs."""
    processor = Processor(
        role=ROLE,
        image_uri=PROCESSING_IMAGE,
        instance_count=1,
        instance_type=PROCESSING_INSTANCE,
        entrypoint=["python3", f"{bundle.CONTAINER_CODE_DIR}/{script}"],
        max_runtime_in_seconds=PROCESSING_SECONDS,
        volume_kms_key=kms_key,
        output_kms_key=kms_key,
        sagemaker_session=session,
    )
    code = s3_input("code", f"s3://{BUCKET}/{bundle.code_prefix()}/", bundle.CONTAINER_CODE_DIR)
    run = processor.run(
        inputs=[code, *inputs],
        outputs=[s3_output(name, output, path) for output, path in outputs],
        arguments=arguments,
    )
    return ProcessingStep(
        name=name, step_args=run, property_files=property_files, retry_policies=JOB_RETRIES
    )


def pipeline(session: Any, kms_key: str | None = None) -> Any:
    """The pipeline of pipelines/README.md (step names, paths and arguments are its contract);
    with `kms_key`, every job's volume and S3 outputs are encrypted with it."""
    p = {name: ParameterString(name=name) for name in PARAMETERS}
    if kms_key is not None:
        local = [i for i in (PROCESSING_INSTANCE, TRAINING_INSTANCE) if has_instance_storage(i)]
        if local:  # SageMaker refuses a volume key there: the instance encrypts its own disks
            raise ValueError(f"{local}: local instance storage takes no volume KMS key")

    preprocess = processing_step(
        session,
        "PreprocessData",
        kms_key=kms_key,
        script="preprocess.py",
        inputs=[s3_input("training", p["TrainingData"], "/opt/ml/processing/input/training")],
        outputs=[
            (split, f"/opt/ml/processing/output/{split}")
            for split in ("train", "validation", "test", "dataset")
        ],
        arguments=["--drift-dataset", p["DriftDataset"], "--run-name", p["RunName"]],
    )

    trainer = ModelTrainer(
        training_image=XGBOOST_IMAGE,
        role=ROLE,
        sagemaker_session=session,
        compute=Compute(
            instance_type=TRAINING_INSTANCE,
            instance_count=1,
            volume_size_in_gb=30,
            volume_kms_key_id=kms_key,
        ),
        stopping_condition=StoppingCondition(max_runtime_in_seconds=TRAINING_SECONDS),
        hyperparameters={"objective": p["Objective"], **HYPERPARAMETERS},
        output_data_config=OutputDataConfig(
            s3_output_path=output_uri("TrainModel", "model"), kms_key_id=kms_key
        ),
        base_job_name="modelfresh-train",  # the SDK wants one; the pipeline names the job
    )
    channels = [
        InputData(channel_name=c, data_source=output_of(preprocess, c), content_type="text/csv")
        for c in ("train", "validation")
    ]
    train = TrainingStep(
        name="TrainModel",
        step_args=trainer.train(input_data_config=channels),
        retry_policies=JOB_RETRIES,
    )
    model_data = train.properties.ModelArtifacts.S3ModelArtifacts

    report = PropertyFile(name="EvaluationReport", output_name="evaluation", path="evaluation.json")
    evaluate = processing_step(
        session,
        "EvaluateModel",
        kms_key=kms_key,
        script="evaluate.py",
        inputs=[
            s3_input("model", model_data, "/opt/ml/processing/model"),
            s3_input("test", output_of(preprocess, "test"), "/opt/ml/processing/test"),
            s3_input(
                "dataset", output_of(preprocess, "dataset"), "/opt/ml/processing/input/dataset"
            ),
        ],
        outputs=[("evaluation", "/opt/ml/processing/evaluation")],
        arguments=[
            *("--problem-type", p["ProblemType"]),
            *("--gate-metric", p["GateMetric"]),
            *("--gate-direction", p["GateDirection"]),
            *("--gate-threshold", p["GateThreshold"]),
            *("--champion-model-data", p["ChampionModelData"]),
            *("--champion-package-arn", p["ChampionModelPackageArn"]),
        ],
        property_files=[report],
    )
    report_uri = Join(on="/", values=[output_of(evaluate, "evaluation"), "evaluation.json"])

    baseline = processing_step(
        session,
        "BaselineData",
        kms_key=kms_key,
        script="baseline.py",
        inputs=[
            s3_input("train", output_of(preprocess, "train"), "/opt/ml/processing/input/train"),
            # The candidate answers the baseline's rows: the prediction's baseline.
            s3_input("model", model_data, "/opt/ml/processing/model"),
        ],
        outputs=[("baseline", "/opt/ml/processing/baseline")],
        arguments=[
            *("--feature-names", p["FeatureNames"]),
            *("--categorical-features", p["CategoricalFeatures"]),
        ],
    )
    baseline_files = {
        kind: MetricsSource(
            content_type="application/json",
            s3_uri=Join(on="/", values=[output_of(baseline, "baseline"), f"{kind}.json"]),
        )
        for kind in ("statistics", "constraints")
    }

    # The controller finds the candidate through this step's metadata (its package ARN) and
    # judges it from ModelMetrics; the drift check of a promoted model reads its baselines.
    registration = ModelBuilder(
        image_uri=XGBOOST_IMAGE,
        s3_model_data_url=model_data,
        role_arn=ROLE,
        sagemaker_session=session,
        dependencies={},  # nothing to package: the built-in algorithm serves the model as is
    ).register(
        model_package_group_name=p["ModelPackageGroup"],
        content_types=["text/csv"],
        response_types=["text/csv"],
        approval_status="PendingManualApproval",
        model_metrics=ModelMetrics(
            model_statistics=MetricsSource(content_type="application/json", s3_uri=report_uri)
        ),
        drift_check_baselines=DriftCheckBaselines(
            model_data_statistics=baseline_files["statistics"],
            model_data_constraints=baseline_files["constraints"],
        ),
        customer_metadata_properties={
            "PipelineExecutionArn": ExecutionVariables.PIPELINE_EXECUTION_ARN,
            "RunName": p["RunName"],
        },
    )
    register = ModelStep(
        name="RegisterModel", step_args=registration, retry_policies=SERVICE_RETRIES
    )

    def gate(field: str) -> Any:
        return JsonGet(step_name=evaluate.name, property_file=report, json_path=f"gate.{field}")

    message = [
        *("The candidate's ", p["GateMetric"], " is ", gate("candidate")),
        *(", which does not meet the gate (", p["GateDirection"], " ", p["GateThreshold"]),
        *("); see ", report_uri),
    ]
    check = ConditionStep(
        name="CheckGate",
        conditions=[ConditionEquals(left=gate("meets_threshold"), right=True)],
        if_steps=[register],
        else_steps=[FailStep(name="GateFailed", error_message=Join(on="", values=message))],
        depends_on=[baseline],  # no candidate is judged, or registered, without its baseline
    )
    return Pipeline(
        name="modelfresh-retrain",  # the deployed name comes from the template
        parameters=list(p.values()),
        steps=[preprocess, train, evaluate, baseline, check],
        sagemaker_session=session,
        pipeline_experiment_config=None,  # no SageMaker Experiments: nothing reads them
    )


def definition(region: str, *, encrypted: bool = False) -> str:
    """The SDK's definition of the pipeline (JSON, with the stand-ins of SENTINELS); encrypted,
    with the stand-in of the stack's KMS key wherever a job takes one."""
    session = PipelineSession(
        boto_session=boto3.Session(region_name=region),
        default_bucket=BUCKET,
        sagemaker_config=SDK_CONFIG,
    )
    return str(pipeline(session, KMS_KEY if encrypted else None).definition())


def registry_accounts() -> dict[str, str]:
    """The account of the XGBoost images' registry in each region the SDK knows, which serves
    both images there (the template builds both URIs from it)."""
    config = Path(image_uris.__file__).parent / "image_uri_config" / "xgboost.json"
    regions = json.loads(config.read_text())["training"]["versions"][XGBOOST_VERSION]["registries"]
    accounts: dict[str, str] = {}
    for region in regions:
        for version in (XGBOOST_VERSION, PROCESSING_VERSION):
            uri = image_uris.retrieve("xgboost", region, version)
            found = re.fullmatch(
                rf"(\d{{12}})\.dkr\.ecr\.{region}\.[a-z0-9.]+/"
                rf"{bundle.XGBOOST_REPOSITORY}:{version}",
                uri,
            )
            if found is None:
                raise RuntimeError(f"unexpected XGBoost image URI in {region}: {uri}")
            if accounts.setdefault(region, found.group(1)) != found.group(1):
                raise RuntimeError(f"{region}: the two XGBoost images come from two registries")
    return accounts
