"""SageMaker's model containers on the local cloud: what answers an endpoint's requests.

The built-in XGBoost container serving a model artifact (`XGBoostServer`), the artifact loaded
from the local S3 once per URI and ETag (`artifacts`), deployments that fail as SageMaker's do
(`DeployFailure`, with its FailureReason), a model that ships attributions with its answers
(`ExplainingServer`), and stand-ins tests put in a model's place (`slow`, `failing`).
localcloud/hosting.py runs the endpoints that use them.
"""

from __future__ import annotations

import io
import json
import tarfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import xgboost as xgb
from moto.s3.exceptions import MissingBucket
from moto.s3.models import s3_backends

ModelServer = Callable[[bytes, str], bytes]

# SageMaker's FailureReason for a deployment whose model cannot be downloaded, and for one whose
# container does not answer its ping (the XGBoost container loads the model to answer it).
DOWNLOAD_FAILED = (
    'Failed to download model data for container "container_1" from URL: "{uri}". Please '
    "ensure that there is an object located at the URL and that the role passed to "
    "CreateModel has permissions to download the object."
)
PING_FAILED = (
    "The primary container for production variant {variant} did not pass the ping health "
    "check. Please check CloudWatch logs for this endpoint."
)
CACHED_ARTIFACTS = 32


class ContainerError(Exception):
    """A model container answering /invocations with an error: its HTTP status and body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class DeployFailure(Exception):
    """Why an endpoint cannot serve its model: SageMaker's FailureReason, and the detail the
    container logs."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class XGBoostServer:
    """SageMaker's built-in XGBoost container (algorithm mode) serving one model, as its
    source has it (aws/sagemaker-xgboost-container, algorithm_mode/serve.py, serve_utils.py,
    encoder.py): a text/csv body is read into floats, an empty cell as missing, and answered
    with one prediction per row, each on its own line (its CSV encoder, np.savetxt). A body
    that is not numbers in equal rows is refused with 415, and one xgboost cannot score
    (more features than the model has) with 400. Like the container, nothing else checks the
    number of features: rows with fewer are scored, the absent ones treated as missing."""

    booster: xgb.Booster

    def __call__(self, body: bytes, content_type: str) -> bytes:
        if not body:
            return b""  # the container answers 204 No Content
        features = self.features(body, content_type)
        try:
            predictions = self.booster.predict(xgb.DMatrix(features), validate_features=False)
        except xgb.core.XGBoostError as error:
            # xgboost's first line says what; the rest is its C++ stack trace.
            first = str(error).splitlines()[0]
            raise ContainerError(400, f"Unable to evaluate payload provided: {first}") from None
        return "".join(f"{p}\n" for p in predictions.tolist()).encode()

    @staticmethod
    def features(body: bytes, content_type: str) -> np.ndarray:
        """The request's rows as the container reads them (an empty cell is missing).
        Raises: ContainerError (415) for another content type or cells that are not numbers."""
        media = content_type.split(";", 1)[0].strip().lower()
        if media != "text/csv":
            # The container also reads libsvm and recordio-protobuf; nothing here sends them.
            raise ContainerError(
                415, f"Content-type {content_type} is not served by the local cloud: use text/csv"
            )
        try:
            lines = body.strip().decode().split("\n")
            cells = [["nan" if cell == "" else cell for cell in line.split(",")] for line in lines]
            return np.array(cells).astype(float)
        except (ValueError, UnicodeDecodeError) as error:
            raise ContainerError(
                415,
                "Loading csv data failed with Exception, please ensure data is in csv format:"
                f"\n {type(error)}\n {error}",
            ) from None

    def contributions(self, body: bytes, content_type: str) -> list[list[float]]:
        """Each row's TreeSHAP contributions, one per feature (xgboost's pred_contribs
        without its bias column), for a body __call__ has answered."""
        matrix = xgb.DMatrix(self.features(body, content_type))
        found = self.booster.predict(matrix, pred_contribs=True, validate_features=False)
        return [row[:-1] for row in found.tolist()]


@dataclass(frozen=True)
class ExplainingServer:
    """A model that ships attributions: its answers in SageMaker Clarify's online
    explainability shape (application/json), as an endpoint with a ClarifyExplainerConfig
    answers (or a container of the team's that answers the same way):

        {"version": "1.0",
         "predictions": {"content_type": "text/csv", "data": "<the model's CSV answer>"},
         "explanations": {"kernel_shap": [
             [{"feature_header": "<name>", "attributions": [{"attribution": [0.12]}]}, ...],
             ...]}}

    one list per request record, one entry per feature. Clarify estimates SHAP values with
    kernel SHAP against its ShapBaseline; here they are xgboost's exact TreeSHAP values, which
    the pipeline's baseline also uses. `features` names them (feature_header); without
    names the entries are in column order, as Clarify lists them without FeatureHeaders."""

    model: XGBoostServer
    features: tuple[str, ...] = ()
    answer_type = "application/json"

    def __call__(self, body: bytes, content_type: str) -> bytes:
        predictions = self.model(body, content_type)
        if not predictions:
            return predictions
        records = [
            [self._entry(i, value) for i, value in enumerate(row)]
            for row in self.model.contributions(body, content_type)
        ]
        answer = {
            "version": "1.0",
            "predictions": {"content_type": "text/csv", "data": predictions.decode()},
            "explanations": {"kernel_shap": records},
        }
        return json.dumps(answer).encode()

    def _entry(self, index: int, value: float) -> dict[str, object]:
        entry: dict[str, object] = {"attributions": [{"attribution": [value]}]}
        if index < len(self.features):
            entry["feature_header"] = self.features[index]
        return entry


def load_model(archive: bytes) -> xgb.Booster:
    """The model in a model.tar.gz, as the container loads it from /opt/ml/model: the first
    top-level file that is not a dotfile (`xgboost-model` when there is one), read with
    Booster.load_model. (The container tries pickle first; nothing here pickles a model, and
    unpickling what an artifact holds would run it.) Raises ValueError saying why not."""
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            files = {
                m.name.removeprefix("./"): m
                for m in tar.getmembers()
                if m.isfile() and "/" not in m.name.removeprefix("./")
            }
            names = sorted(n for n in files if not n.startswith("."))
            if not names:
                raise ValueError("the archive holds no model file at its top level")
            name = "xgboost-model" if "xgboost-model" in names else names[0]
            member = tar.extractfile(files[name])
            raw = member.read() if member is not None else b""
    except (tarfile.TarError, OSError, EOFError) as error:
        raise ValueError(f"the artifact is not a gzipped tar archive ({error})") from None
    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(raw))
    except xgb.core.XGBoostError as error:
        raise ValueError(
            f"Model /opt/ml/model/{name} cannot be loaded: {str(error).splitlines()[0]}"
        ) from None
    booster.set_param("nthread", "1")  # as the container does: one thread per worker
    return booster


class Artifacts:
    """Model artifacts loaded from the local S3, once per URI and ETag (the ETag changes with
    the object's content): every endpoint deployed from the same artifact shares its model.
    Safe for concurrent deployments. xgboost's predict is itself thread-safe for tree models."""

    def __init__(self, size: int = CACHED_ARTIFACTS) -> None:
        self._size = size
        self._loaded: OrderedDict[tuple[str, str], XGBoostServer] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0

    def server(self, account: str, uri: str, variant: str) -> XGBoostServer:
        """The model at `uri`, ready to serve. Raises DeployFailure as SageMaker fails."""
        found = None
        if uri.startswith("s3://"):
            bucket, _, key = uri.removeprefix("s3://").partition("/")
            try:
                found = s3_backends[account]["global"].get_object(bucket, key)
            except MissingBucket:
                found = None
        if found is None:
            raise DeployFailure(
                DOWNLOAD_FAILED.format(uri=uri), f"no object at {uri} in account {account}"
            )
        with self._lock:
            cached = self._loaded.get((uri, found.etag))
            if cached is None:
                try:
                    cached = XGBoostServer(load_model(found.value))
                except ValueError as error:
                    raise DeployFailure(
                        PING_FAILED.format(variant=variant), f"Unable to load model: {error}"
                    ) from None
                self.loads += 1
                self._loaded[(uri, found.etag)] = cached
                while len(self._loaded) > self._size:
                    self._loaded.popitem(last=False)
            self._loaded.move_to_end((uri, found.etag))
            return cached


# One per process: a test's artifacts are the next test's too (same bytes, same ETag).
artifacts = Artifacts()


def slow(server: ModelServer, seconds: float) -> ModelServer:
    """A server that takes this long to answer."""

    def answer(body: bytes, content_type: str) -> bytes:
        time.sleep(seconds)
        return server(body, content_type)

    return answer


def failing(message: str = "the model could not score the request") -> ModelServer:
    """A server whose container fails every request (with a 500, as a crashing handler does)."""

    def answer(body: bytes, content_type: str) -> bytes:
        raise ContainerError(500, message)

    return answer
