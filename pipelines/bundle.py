"""What the pipeline definition refers to outside itself: the code bundle its processing steps
run, and the placeholders the deployment fills in.

Standard library only: `make deploy`, the local cloud and the tests use this module without
the sagemaker SDK (which only pipelines/definition.py needs).

The code bundle is pipelines/steps/ with the driftcheck package beside the scripts, so that
`import driftcheck` works in the container (a script's own folder is first on sys.path), and
the metric catalogue as `modelfresh/quality_metrics.py` (the only module of the shared package
the steps use: standard library only), so that the evaluation step judges a gate by the same
catalogue as the configuration check. It is
stored under a prefix named by its content digest: a definition always runs the code it was
built with, and changing a script changes the definition (`make pipeline`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parent.parent
DEFINITION = ROOT / "pipelines" / "definition.json"
# The same pipeline with every job's volume and S3 outputs encrypted with the stack's KMS key:
# the template deploys it when KmsKeyArn is set (SageMaker's meaning of an empty key is not
# documented, so the fields are left out rather than left empty).
ENCRYPTED_DEFINITION = ROOT / "pipelines" / "definition.encrypted.json"
STEPS = ROOT / "pipelines" / "steps"
DRIFTCHECK = ROOT / "layers" / "drift" / "driftcheck"
# Single modules of the shared package the steps import, by their path inside the bundle.
SHARED = {"modelfresh/quality_metrics.py": ROOT / "layers/shared/modelfresh/quality_metrics.py"}

# Where the bundle lives in the artifacts bucket, and where processing jobs find it.
CODE_PREFIX = "modelfresh/pipeline-code"
CONTAINER_CODE_DIR = "/opt/ml/processing/input/code"
# Where the pipeline's steps write, under the artifacts bucket (then <pipeline>/<execution id>/).
OUTPUT_PREFIX = "modelfresh/pipelines"

# The images the definition runs, by placeholder: SageMaker's built-in XGBoost algorithm trains
# and serves the model; the newer XGBoost framework image runs the processing steps (our
# scripts and driftcheck need Python 3.10+, which 1.7-1 lacks). template.yaml builds both URIs
# from one registry account per region.
XGBOOST_REPOSITORY = "sagemaker-xgboost"
IMAGE_TAGS = {"XGBoostImage": "1.7-1", "ProcessingImage": "3.0-5"}

# The definition's only deployment-specific values. template.yaml's Fn::Sub fills them in; the
# local cloud does the same through moto's CloudFormation.
PLACEHOLDERS = ("ArtifactsBucket", "PipelineRoleArn", "ProcessingImage", "XGBoostImage")
# The encrypted definition's one more: the key (the stack's KmsKeyArn output).
KEY_PLACEHOLDER = "KmsKeyArn"
# Where a job of the encrypted definition names the key: its storage volume and its outputs.
KEY_FIELDS = ("VolumeKmsKeyId", "KmsKeyId")
_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_SKIPPED = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}


class BucketWriter(Protocol):
    """The one S3 call the upload needs (a boto3 S3 client has it)."""

    def put_object(self, *, Bucket: str, Key: str, Body: bytes) -> Any: ...


def files() -> dict[str, bytes]:
    """The bundle: each file's path inside it -> its content, in path order."""
    found: dict[str, bytes] = {}
    for source, inside in ((STEPS, ""), (DRIFTCHECK, "driftcheck/")):
        if not source.is_dir():
            continue  # the step scripts arrive on their own branch; the digest says what ships
        for path in sorted(source.rglob("*")):
            relative = path.relative_to(source)
            if path.is_file() and not (_SKIPPED & set(relative.parts)) and path.suffix != ".pyc":
                found[inside + relative.as_posix()] = path.read_bytes()
    found.update((inside, path.read_bytes()) for inside, path in SHARED.items())
    return dict(sorted(found.items()))


def digest(bundle: Mapping[str, bytes]) -> str:
    """A short content digest of a bundle: names and bytes only (no times, no permissions)."""
    sha = hashlib.sha256()
    for name, body in sorted(bundle.items()):
        for part in (name.encode(), body):
            sha.update(len(part).to_bytes(8, "big"))
            sha.update(part)
    return sha.hexdigest()[:16]


def code_prefix(bundle: Mapping[str, bytes] | None = None) -> str:
    """The bundle's key prefix in the artifacts bucket (no trailing slash)."""
    return f"{CODE_PREFIX}/{digest(files() if bundle is None else bundle)}"


def upload(s3: BucketWriter, bucket: str, bundle: Mapping[str, bytes] | None = None) -> str:
    """Put the bundle in the bucket; returns its s3:// prefix (as the definition names it)."""
    bundle = files() if bundle is None else bundle
    prefix = code_prefix(bundle)
    for name, body in bundle.items():
        s3.put_object(Bucket=bucket, Key=f"{prefix}/{name}", Body=body)
    return f"s3://{bucket}/{prefix}/"


def definition_text(*, encrypted: bool = False) -> str:
    """pipelines/definition.json (or definition.encrypted.json) as written, placeholders and
    all."""
    return (ENCRYPTED_DEFINITION if encrypted else DEFINITION).read_text()


def placeholders_of(*, encrypted: bool) -> set[str]:
    """The placeholders a definition holds: the key's too when it is the encrypted one."""
    return {*PLACEHOLDERS, *([KEY_PLACEHOLDER] if encrypted else [])}


def placeholders(text: str) -> set[str]:
    """The ${...} names in a text."""
    return set(_PLACEHOLDER.findall(text))


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Fill the placeholders, as the template's Fn::Sub does. Raises ValueError when a
    placeholder has no value or a value has no placeholder (either is a deployment bug)."""
    used = placeholders(text)
    if used != set(values):
        raise ValueError(
            f"placeholders {sorted(used)} but values for {sorted(values)}: "
            f"missing {sorted(used - set(values))}, unused {sorted(set(values) - used)}"
        )
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], text)


def load(text: str | None = None) -> dict[str, Any]:
    """The definition as data (from the file unless a text is given)."""
    return json.loads(definition_text() if text is None else text)  # type: ignore[no-any-return]
