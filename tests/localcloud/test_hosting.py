"""SageMaker hosting on the local cloud (localcloud.hosting, localcloud.models): an endpoint
answers with the model artifact it was deployed with, as SageMaker's built-in XGBoost
container answers, errors included; an artifact that cannot serve fails the deployment as
SageMaker fails it."""

from __future__ import annotations

import functools
import io
import tarfile
import threading
import uuid
from typing import Any

import numpy as np
import pytest
import xgboost as xgb
from botocore.exceptions import ClientError
from modelfresh.core.config import load_config
from modelfresh.core.schema import ModelConfig

from demo import taxi
from localcloud import LocalCloud
from localcloud.model_servers import DOWNLOAD_FAILED, PING_FAILED, artifacts
from localcloud.models import CANDIDATE, CHAMPION, MODEL_FILE, TaxiModel, archive, artifact, train
from tests.conftest import FIXTURES

PROD = "taxi-fare-prod"
TRIPS = taxi.trips(6, seed=7)
BODY = "\n".join(taxi.csv_rows(TRIPS))
ROLE = "arn:aws:iam::123456789012:role/serving"


@pytest.fixture
def taxi_fare() -> ModelConfig:
    return load_config(FIXTURES / "models.toml").model("taxi-fare")


@pytest.fixture
def prod(cloud: LocalCloud, taxi_fare: ModelConfig) -> str:
    """taxi-fare's champion in production: the seeded staging and prod endpoints."""
    cloud.seed_model(taxi_fare)
    cloud.seed_production(taxi_fare, cloud.register_package("taxi-fare", "Approved"))
    return PROD


@functools.cache
def booster(model: TaxiModel) -> xgb.Booster:
    return train(model)


def predictions(model: TaxiModel, rows: np.ndarray) -> list[float]:
    """What xgboost itself predicts for these rows with this model."""
    return [float(p) for p in booster(model).predict(xgb.DMatrix(rows))]


def invoke(
    cloud: LocalCloud, endpoint: str, body: str = BODY, content_type: str = "text/csv"
) -> str:
    answer = cloud.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=endpoint, ContentType=content_type, Body=body.encode()
    )
    return str(answer["Body"].read().decode())


def answered(text: str) -> list[float]:
    return [float(line) for line in text.splitlines()]


def deploy(
    cloud: LocalCloud,
    name: str,
    *,
    package: str | None = None,
    model_data_url: str | None = None,
    update: bool = False,
) -> dict[str, Any]:
    """A model, an endpoint config and an endpoint (or an update of it) serving a package or
    an artifact; returns DescribeEndpoint's answer right after."""
    sagemaker = cloud.client("sagemaker")
    suffix = uuid.uuid4().hex[:8]
    container = {"ModelPackageName": package} if package else {"Image": "xgboost"}
    if model_data_url:
        container["ModelDataUrl"] = model_data_url
    sagemaker.create_model(
        ModelName=f"m-{suffix}", PrimaryContainer=container, ExecutionRoleArn=ROLE
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=f"c-{suffix}",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": f"m-{suffix}",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    )
    if update:
        sagemaker.update_endpoint(EndpointName=name, EndpointConfigName=f"c-{suffix}")
    else:
        sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=f"c-{suffix}")
    return sagemaker.describe_endpoint(EndpointName=name)  # type: ignore[no-any-return]


def endpoint_log(cloud: LocalCloud, endpoint: str) -> list[str]:
    """What the endpoint's container logged (SageMaker's log group for it)."""
    events = cloud.client("logs").filter_log_events(
        logGroupName=f"/aws/sagemaker/Endpoints/{endpoint}"
    )["events"]
    return [e["message"] for e in events]


def put(cloud: LocalCloud, body: bytes) -> str:
    """An object in the artifacts bucket at a key no other test uses; its URI."""
    key = f"artifacts/{uuid.uuid4()}/model.tar.gz"
    cloud.client("s3").put_object(Bucket=cloud.artifacts_bucket, Key=key, Body=body)
    return f"s3://{cloud.artifacts_bucket}/{key}"


# -- real predictions --------------------------------------------------------------------------


def test_an_endpoint_answers_each_row_with_its_models_own_prediction(
    cloud: LocalCloud, prod: str
) -> None:
    answer = invoke(cloud, prod)

    # One prediction per row, each on its own line (the container's CSV encoder)
    assert answer.endswith("\n")
    assert len(answer.splitlines()) == len(TRIPS)
    assert answered(answer) == predictions(CHAMPION, TRIPS)


def test_endpoints_of_packages_trained_differently_answer_differently(
    cloud: LocalCloud, prod: str
) -> None:
    candidate = cloud.register_package("taxi-fare", model=CANDIDATE)

    assert deploy(cloud, "candidate", package=candidate)["EndpointStatus"] == "InService"

    assert answered(invoke(cloud, "candidate")) == predictions(CANDIDATE, TRIPS)
    assert answered(invoke(cloud, "candidate")) != answered(invoke(cloud, prod))


def test_a_blue_green_update_changes_the_answers_once_the_new_fleet_takes_over(
    cloud: LocalCloud, prod: str
) -> None:
    sagemaker = cloud.client("sagemaker")
    candidate = cloud.register_package("taxi-fare", model=CANDIDATE)
    sagemaker.create_model(
        ModelName="candidate",
        PrimaryContainer={"ModelPackageName": candidate},
        ExecutionRoleArn=ROLE,
    )
    variant = {"VariantName": "AllTraffic", "ModelName": "candidate", "InstanceType": "ml.m5.large"}
    sagemaker.create_endpoint_config(
        EndpointConfigName="candidate-prod",
        ProductionVariants=[variant | {"InitialInstanceCount": 2}],
    )

    sagemaker.update_endpoint(
        EndpointName=prod,
        EndpointConfigName="candidate-prod",
        DeploymentConfig={
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {
                    "Type": "CANARY",
                    "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
                    "WaitIntervalInSeconds": 300,
                }
            }
        },
    )

    # While it is Updating, the old fleet answers
    assert sagemaker.describe_endpoint(EndpointName=prod)["EndpointStatus"] == "Updating"
    assert answered(invoke(cloud, prod)) == predictions(CHAMPION, TRIPS)
    # Once it is InService on the new config, the new model answers
    cloud.wait_until(
        lambda: sagemaker.describe_endpoint(EndpointName=prod)["EndpointStatus"] == "InService"
    )
    assert sagemaker.describe_endpoint(EndpointName=prod)["EndpointConfigName"] == "candidate-prod"
    assert answered(invoke(cloud, prod)) == predictions(CANDIDATE, TRIPS)


# -- what the XGBoost container refuses ----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "status", "says"),
    [
        ("1,2.4,8,1,11,40.75,-73.98,eight,-73.97", "text/csv", 415,
         "Loading csv data failed with Exception, please ensure data is in csv format:"),
        ("1,2.4,8,1,11,40.75,-73.98,40.76,-73.97\n1,2.4,8", "text/csv", 415,
         "The requested array has an inhomogeneous shape"),
        ("1,2.4,8,1,11,40.75,-73.98,40.76,-73.97,0", "text/csv", 400,
         "Unable to evaluate payload provided: "),
        ('{"instances": [[1, 2.4]]}', "application/json", 415,
         "Content-type application/json is not served by the local cloud"),
    ],
    ids=["a-cell-that-is-not-a-number", "rows-of-unequal-length", "a-feature-too-many", "json"],
)  # fmt: skip
def test_a_request_the_container_cannot_score_is_a_model_error_with_its_reason(
    cloud: LocalCloud, prod: str, body: str, content_type: str, status: int, says: str
) -> None:
    with pytest.raises(ClientError) as raised:
        invoke(cloud, prod, body, content_type)

    error: dict[str, Any] = dict(raised.value.response)
    assert error["Error"]["Code"] == "ModelError"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert says in error["OriginalMessage"]
    assert error["Error"]["Message"].startswith(
        f'Received client error ({status}) from primary with message "{error["OriginalMessage"]}". '
    )
    assert (
        f"#logEventViewer:group=/aws/sagemaker/Endpoints/{prod} in account"
        in (error["Error"]["Message"])
    )
    assert error["OriginalStatusCode"] == status
    assert error["OriginalMessage"] in endpoint_log(cloud, prod)


def test_too_many_features_is_refused_in_xgboosts_words(cloud: LocalCloud, prod: str) -> None:
    with pytest.raises(ClientError) as raised:
        invoke(cloud, prod, "1,2.4,8,1,11,40.75,-73.98,40.76,-73.97,0")

    assert str(dict(raised.value.response)["OriginalMessage"]).endswith(
        "(9 vs. 10) : Number of columns does not match number of features in booster."
    )


def test_rows_short_of_features_are_scored_with_the_rest_missing_as_the_container_does(
    cloud: LocalCloud, prod: str
) -> None:
    # The container checks no feature count for a model saved with save_model: xgboost
    # scores the absent trailing features as missing. The smoke test cannot catch this.
    short = TRIPS[:, :8]

    answer = invoke(cloud, prod, "\n".join(taxi.csv_rows(short)))

    missing_last = np.column_stack([short, np.full(len(short), np.nan)])
    assert answered(answer) == predictions(CHAMPION, missing_last)


def test_an_empty_request_gets_an_empty_answer(cloud: LocalCloud, prod: str) -> None:
    assert invoke(cloud, prod, "") == ""  # the container answers 204 No Content


def test_capture_is_not_written_for_a_request_the_container_refused(
    cloud: LocalCloud, prod: str
) -> None:
    with pytest.raises(ClientError):
        invoke(cloud, prod, "not,numbers")
    invoke(cloud, prod)

    assert cloud.flush_capture() == 1
    bucket, _, prefix = cloud.capture_uri.removeprefix("s3://").partition("/")
    [item] = cloud.client("s3").list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/{prod}/")[
        "Contents"
    ]
    lines = cloud.client("s3").get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    assert len(lines.decode().splitlines()) == 1


# -- artifacts that cannot serve ----------------------------------------------------------------


def test_an_endpoint_whose_artifact_is_missing_fails_to_deploy_and_answers_nothing(
    cloud: LocalCloud, prod: str
) -> None:
    missing = f"s3://{cloud.artifacts_bucket}/nowhere/model.tar.gz"
    package = cloud.register_package("taxi-fare", model_data_url=missing)

    described = deploy(cloud, "lost", package=package)

    assert described["EndpointStatus"] == "Failed"
    assert described["FailureReason"] == DOWNLOAD_FAILED.format(uri=missing)
    assert described["FailureReason"].startswith(
        f'Failed to download model data for container "container_1" from URL: "{missing}".'
    )
    with pytest.raises(ClientError) as raised:
        invoke(cloud, "lost")
    assert raised.value.response["Error"]["Code"] == "ValidationError"
    assert raised.value.response["Error"]["Message"] == (
        f"Endpoint lost of account {cloud.account} not found."
    )
    assert endpoint_log(cloud, "lost") == [f"no object at {missing} in account {cloud.account}"]


@pytest.mark.parametrize(
    ("artifact_body", "logged"),
    [
        (b"a model, honestly", "the artifact is not a gzipped tar archive"),
        (archive({MODEL_FILE: b"{not a booster"}), "Model /opt/ml/model/xgboost-model cannot be loaded"),
        (archive({}), "the archive holds no model file at its top level"),
        (archive({"model/xgboost-model": artifact(CHAMPION)}), "the archive holds no model file"),
    ],
    ids=["not-an-archive", "not-a-model", "empty-archive", "model-not-at-the-top-level"],
)  # fmt: skip
def test_an_artifact_that_holds_no_loadable_model_fails_the_ping_health_check(
    cloud: LocalCloud, prod: str, artifact_body: bytes, logged: str
) -> None:
    package = cloud.register_package("taxi-fare", model_data_url=put(cloud, artifact_body))

    described = deploy(cloud, "broken", package=package)

    assert described["EndpointStatus"] == "Failed"
    assert described["FailureReason"] == PING_FAILED.format(variant="AllTraffic")
    [line] = endpoint_log(cloud, "broken")
    assert line.startswith(f"Unable to load model: {logged}")


def test_a_model_without_model_data_fails_the_ping_health_check(
    cloud: LocalCloud, prod: str
) -> None:
    described = deploy(cloud, "empty", model_data_url=None)

    assert described["EndpointStatus"] == "Failed"
    assert described["FailureReason"] == PING_FAILED.format(variant="AllTraffic")
    assert endpoint_log(cloud, "empty") == [
        f"Unable to load model: model {described['EndpointConfigName'].replace('c-', 'm-')} "
        "has no ModelDataUrl"
    ]


def test_a_model_created_with_its_own_model_data_url_is_served(
    cloud: LocalCloud, prod: str
) -> None:
    uri = put(cloud, artifact(CANDIDATE))

    assert deploy(cloud, "direct", model_data_url=uri)["EndpointStatus"] == "InService"
    assert answered(invoke(cloud, "direct")) == predictions(CANDIDATE, TRIPS)


def test_an_update_to_a_model_that_cannot_load_keeps_the_old_model_serving(
    cloud: LocalCloud, prod: str
) -> None:
    missing = f"s3://{cloud.artifacts_bucket}/nowhere/model.tar.gz"
    package = cloud.register_package("taxi-fare", model_data_url=missing)

    described = deploy(cloud, prod, package=package, update=True)

    # SageMaker: "the status is InService but update operation fails" - FailureReason says why
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == "taxi-fare-champion-prod"
    assert described["FailureReason"] == DOWNLOAD_FAILED.format(uri=missing)
    assert answered(invoke(cloud, prod)) == predictions(CHAMPION, TRIPS)


def test_a_running_endpoint_keeps_its_model_when_the_artifact_goes(
    cloud: LocalCloud, prod: str
) -> None:
    # SageMaker copied the model onto the instances when it deployed them
    bucket, _, key = cloud.upload_model(CHAMPION).removeprefix("s3://").partition("/")
    cloud.client("s3").delete_object(Bucket=bucket, Key=key)

    assert answered(invoke(cloud, prod)) == predictions(CHAMPION, TRIPS)


# -- loading ------------------------------------------------------------------------------------


def test_an_artifact_is_loaded_once_for_every_endpoint_that_serves_it(
    cloud: LocalCloud, prod: str
) -> None:
    uri = put(cloud, artifact(CANDIDATE))
    first, second = (cloud.register_package("taxi-fare", model_data_url=uri) for _ in range(2))
    loads = artifacts.loads

    deploy(cloud, "one", package=first)
    deploy(cloud, "two", package=second)
    assert artifacts.loads == loads + 1

    # New content at the same URI (a new ETag) is loaded anew when next deployed
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    cloud.client("s3").put_object(Bucket=bucket, Key=key, Body=artifact(CHAMPION))
    deploy(cloud, "three", package=second)
    assert artifacts.loads == loads + 2
    assert answered(invoke(cloud, "three")) == predictions(CHAMPION, TRIPS)
    assert answered(invoke(cloud, "two")) == predictions(CANDIDATE, TRIPS)


def test_concurrent_deployments_load_an_artifact_once_and_concurrent_requests_all_answer(
    cloud: LocalCloud, prod: str
) -> None:
    uri = put(cloud, artifact(CANDIDATE))
    loads = artifacts.loads
    start = threading.Barrier(8)
    servers: list[Any] = []
    answers: list[str] = []

    def deploy_and_ask() -> None:
        start.wait()
        servers.append(artifacts.server(cloud.account, uri, "AllTraffic"))
        answers.append(invoke(cloud, prod))

    threads = [threading.Thread(target=deploy_and_ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert artifacts.loads == loads + 1
    assert len({id(server) for server in servers}) == 1
    assert [answered(a) for a in answers] == [predictions(CHAMPION, TRIPS)] * 8


# -- the artifacts themselves --------------------------------------------------------------------


def test_a_model_artifact_is_a_model_tar_gz_holding_xgboost_model_as_save_model_writes_it(
    tmp_path: Any,
) -> None:
    with tarfile.open(fileobj=io.BytesIO(artifact(CANDIDATE)), mode="r:gz") as tar:
        assert tar.getnames() == [MODEL_FILE]
        tar.extractall(tmp_path, filter="data")
    saved = tmp_path / "saved-model"
    with pytest.warns(UserWarning, match="Saving model in the UBJSON format as default"):
        booster(CANDIDATE).save_model(str(saved))

    assert (tmp_path / MODEL_FILE).read_bytes() == saved.read_bytes()
    with pytest.warns(UserWarning, match="Using UBJSON"):  # as the container reads it
        loaded = xgb.Booster(model_file=str(tmp_path / MODEL_FILE))
    assert loaded.predict(xgb.DMatrix(TRIPS)).tolist() == predictions(CANDIDATE, TRIPS)


def test_training_is_deterministic_so_an_artifact_is_the_same_bytes_every_time() -> None:
    again = archive({MODEL_FILE: bytes(train(CHAMPION).save_raw("ubj"))})

    assert again == artifact(CHAMPION)
    assert artifact(CHAMPION) != artifact(CANDIDATE)
