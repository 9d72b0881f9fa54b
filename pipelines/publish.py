"""Upload the retraining pipeline's step code to the artifacts bucket, before `sam deploy`.

    python -m pipelines.publish --config-env default

`make deploy` runs this first: the deployed definition names its code by content digest
(pipelines/bundle.py), so the code must be in the bucket before a pipeline can run it. The
bucket is the stack's: samconfig.toml's ArtifactsBucket for that environment, or SageMaker's
default bucket (sagemaker-<region>-<account>) when it is empty, as template.yaml decides. It
must exist already (the stack does not create it). Uploading again is harmless.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

import boto3
from botocore.exceptions import ClientError

from pipelines import bundle

SAMCONFIG = bundle.ROOT / "samconfig.toml"


def samconfig_deploy(path: Path, environment: str) -> tuple[str | None, dict[str, str]]:
    """The region and parameter overrides that `sam deploy --config-env <environment>` uses."""
    section = tomllib.loads(path.read_text()).get(environment, {}).get("deploy", {})
    parameters = section.get("parameters", {})
    overrides = parameters.get("parameter_overrides", "")
    pairs = shlex.split(overrides) if isinstance(overrides, str) else list(overrides)
    return parameters.get("region"), dict(pair.split("=", 1) for pair in pairs)


def stale_definition() -> bool:
    """Whether pipelines/definition.json names other code than pipelines/steps holds now."""
    return f"s3://${{ArtifactsBucket}}/{bundle.code_prefix()}/" not in bundle.definition_text()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.publish", description=__doc__)
    parser.add_argument("--config-env", default="default", help="the samconfig.toml environment")
    args = parser.parse_args(argv)

    if stale_definition():
        print("pipelines/definition.json is stale: run `make pipeline`", file=sys.stderr)
        return 1
    region, overrides = samconfig_deploy(SAMCONFIG, args.config_env)
    session = boto3.Session(region_name=region)
    if session.region_name is None:
        print(f"no region: set it in samconfig.toml [{args.config_env}]", file=sys.stderr)
        return 1
    bucket = overrides.get("ArtifactsBucket") or (
        f"sagemaker-{session.region_name}-{session.client('sts').get_caller_identity()['Account']}"
    )
    s3 = session.client("s3")
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as error:
        print(f"cannot use bucket {bucket}: {error}", file=sys.stderr)
        return 1
    print(f"uploaded the pipeline's code to {bundle.upload(s3, bucket)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
