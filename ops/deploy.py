"""Around `sam deploy`: check the deployer's setup, then put in place what the stack uses but
does not own.

    python -m ops.deploy --config-env prod --check   # before the build: what is missing, one line
    python -m ops.deploy --config-env prod           # after it: buckets, package groups, step code

`make deploy ENV=<name>` runs both (the check first, so a missing credential or a mistyped
environment fails in a second, not after the build), then `sam deploy --config-env <name>`.
What this puts in place outlives the stack on purpose (`sam delete` leaves it; see README):
- the artifacts and data buckets, when they are the stack's derived defaults and missing (a
  bucket named in samconfig.toml must exist already);
- each configured model's SageMaker model package group, when missing: the registry of its
  versions, which a team may have had before this controller (an existing group is kept as it
  is), and which the environment's models file (ops/samconfig.py: config/models.<env>.toml, else
  config/models.toml) may grow at any time, so a fixed template cannot list them;
- the retraining pipeline's step code, which the deployed definition names by content digest;
- the stack's tag (modelfresh:stack=<stack>) on each configured endpoint a team already has:
  the stack's roles change only endpoints that carry it (the ones it creates are tagged as
  they are made), and an endpoint another stack's tag claims is refused, not shared.
Running it again changes nothing that is already there. Before that, it makes sure the build
about to be deployed (.aws-sam/build) carries this environment's models file: `sam build` by
hand, or `make build` of another ENV, would otherwise ship another environment's models.
The check refuses environments whose stacks would act on the same names (checks/clashes.py).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from modelfresh.core.config import load_config
from modelfresh.core.errors import ConfigError
from modelfresh.core.schema import ControllerConfig, ModelConfig

from checks import clashes as clash_check
from checks import config as check_config
from ops import samconfig
from ops.samconfig import Environment, UnknownEnvironment
from pipelines import bundle

# The model configuration in the build `sam deploy` uploads (the layer's, layers/shared/Makefile).
BUILT_MODELS = samconfig.ROOT / ".aws-sam" / "build" / "SharedLayer" / "modelfresh" / "models.toml"

type ClientFactory = Callable[[str], Any]


class DeployError(Exception):
    """Something the deployer has to fix, said in one line."""


@dataclass(frozen=True)
class Bucket:
    """A bucket the stack uses without creating it."""

    name: str
    parameter: str  # the template parameter that names it
    default: bool  # the parameter is empty: the derived name, created when missing


@dataclass(frozen=True)
class Target:
    """Where a deploy goes: the environment, resolved against the deployer's credentials."""

    environment: Environment
    session: boto3.Session
    account: str
    region: str

    def client(self, service: str) -> Any:
        """A client of the deploy's account and region."""
        return self.session.client(service)  # type: ignore[call-overload]

    @property
    def buckets(self) -> tuple[Bucket, Bucket]:
        """The artifacts bucket and the data bucket, as the stack resolves them."""
        return buckets(self.environment, self.account, self.region)


def buckets(environment: Environment, account: str, region: str) -> tuple[Bucket, Bucket]:
    """The artifacts bucket and the data bucket of an environment, as the stack resolves them."""
    parameters = environment.parameters
    return (
        Bucket(
            environment.artifacts_bucket(account, region),
            "ArtifactsBucket",
            default=not parameters.get("ArtifactsBucket"),
        ),
        Bucket(
            environment.data_bucket(account, region),
            "TrainingDataBucket",
            default=not parameters.get("TrainingDataBucket"),
        ),
    )


def connect(environment: Environment, session: boto3.Session | None = None) -> Target:
    """The account and region a deploy of this environment reaches. Raises: DeployError."""
    session = session or boto3.Session(region_name=environment.region)
    region = session.region_name
    if not region:
        raise DeployError(
            f"no region for environment {environment.name!r}: set region in samconfig.toml "
            f"[{environment.name}.deploy.parameters] (or AWS_DEFAULT_REGION)"
        )
    if session.get_credentials() is None:
        raise DeployError(
            "no AWS credentials: set AWS_PROFILE (after `aws configure` or `aws sso login`) "
            "or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    try:
        account = session.client("sts").get_caller_identity()["Account"]
    except (BotoCoreError, ClientError) as error:
        raise DeployError(f"AWS did not accept the credentials: {error}") from None
    return Target(environment, session, str(account), region)


def ensure_bucket(s3: Any, bucket: Bucket, region: str, environment: str) -> str | None:
    """Creates a missing default bucket; returns what it did, if anything. Raises: DeployError
    for a named bucket that is missing, or any bucket this account may not use."""
    try:
        s3.head_bucket(Bucket=bucket.name)
        return None
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code"))
        if code in {"403", "AccessDenied", "Forbidden"}:
            raise DeployError(
                f"bucket {bucket.name} ({bucket.parameter}) exists but this account may not use "
                f"it: S3 names are global, so name another in samconfig.toml [{environment}]"
            ) from None
        if code not in {"404", "NoSuchBucket", "NotFound"}:
            raise DeployError(f"cannot use bucket {bucket.name}: {error}") from None
    if not bucket.default:
        raise DeployError(
            f"bucket {bucket.name} ({bucket.parameter} in samconfig.toml [{environment}]) does "
            "not exist: create it, or remove the parameter to use the stack's default"
        )
    location = {} if region == "us-east-1" else {"LocationConstraint": region}
    s3.create_bucket(
        Bucket=bucket.name, **({"CreateBucketConfiguration": location} if location else {})
    )
    return f"created bucket {bucket.name} (the stack's default {bucket.parameter})"


def ensure_package_group(sagemaker: Any, model: ModelConfig) -> bool:
    """Creates the model's package group unless it exists (an existing group and its versions
    are left as they are); returns whether it did."""
    try:
        sagemaker.describe_model_package_group(ModelPackageGroupName=model.package_group)
        return False
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ValidationException":
            raise
    sagemaker.create_model_package_group(
        ModelPackageGroupName=model.package_group,
        ModelPackageGroupDescription=f"Versions of {model.name}, kept fresh by modelfresh",
    )
    return True


# The tag that gives a stack's roles an endpoint to change (template.yaml's aws:ResourceTag).
STACK_TAG = "modelfresh:stack"


def adopt_endpoints(sagemaker: Any, model: ModelConfig, stack: str) -> list[str]:
    """Tags the model's existing endpoints for `stack` (one missing is created, tagged, by the
    deploy); returns what it tagged. Raises: DeployError if another stack's tag claims one."""
    done: list[str] = []
    if model.endpoints is None:  # a batch model has none
        return done
    for kind, name in (("staging", model.endpoints.staging), ("prod", model.endpoints.prod)):
        try:
            arn = sagemaker.describe_endpoint(EndpointName=name)["EndpointArn"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ValidationException":
                raise
            continue
        tags = {t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=arn)["Tags"]}
        owner = tags.get(STACK_TAG)
        if owner == stack:
            continue
        if owner is not None:
            raise DeployError(
                f"endpoint {name} ({model.name}'s {kind}) belongs to stack {owner} (its "
                f"{STACK_TAG} tag): two stacks must not change one endpoint; give {model.name} "
                "other endpoints in this environment's models file"
            )
        sagemaker.add_tags(ResourceArn=arn, Tags=[{"Key": STACK_TAG, "Value": stack}])
        done.append(f"tagged endpoint {name} ({model.name}'s {kind}) for stack {stack}")
    return done


def prepare(
    client: ClientFactory,
    config: ControllerConfig,
    buckets: Sequence[Bucket],
    region: str,
    environment: Environment,
) -> list[str]:
    """Everything the stack uses but does not own, put in place; returns what was done, one
    line each. Raises: DeployError, ClientError."""
    s3 = client("s3")
    done = [line for b in buckets if (line := ensure_bucket(s3, b, region, environment.name))]
    sagemaker = client("sagemaker")
    done += [
        f"created model package group {model.package_group} ({model.name})"
        for model in config.models.values()
        if ensure_package_group(sagemaker, model)
    ]
    for model in config.models.values():
        done += adopt_endpoints(sagemaker, model, environment.stack_name)
    done.append(f"uploaded the pipeline's step code to {bundle.upload(s3, buckets[0].name)}")
    return done


def stale_definition() -> bool:
    """Whether pipelines/definition.json names other code than pipelines/steps holds now."""
    return f"s3://${{ArtifactsBucket}}/{bundle.code_prefix()}/" not in bundle.definition_text()


def check_build(environment: Environment, built: Path = BUILT_MODELS) -> None:
    """The build holds the environment's models file. Raises: DeployError."""
    chosen = environment.models_file
    fix = f"run `make build ENV={environment.name}`"
    if not built.is_file():
        raise DeployError(f"no build to deploy ({built} is missing): {fix}")
    if built.read_bytes() != chosen.read_bytes():
        raise DeployError(
            f"the build's models file is not {chosen.name}, which [{environment.name}] serves "
            f"(built for another environment, or before an edit): {fix}"
        )


def clashes(samconfig_path: Path = samconfig.SAMCONFIG) -> list[str]:
    """What `make check-config` says two environments would both act on (none: [])."""
    template = check_config.load_template(samconfig_path.parent / "template.yaml")
    served = [
        clash_check.Served(env, load_config(env.models_file))
        for env in check_config.environments(template, samconfig_path)
    ]
    return clash_check.clashes(served, template)


def main(
    argv: Sequence[str] | None = None,
    config_path: Path | None = None,
    built: Path | None = BUILT_MODELS,
) -> int:
    """`config_path`: models other than the environment's (then no comparison between
    environments); `built`: the build's models file to compare with the environment's, or None."""
    parser = argparse.ArgumentParser(prog="python -m ops.deploy", description=__doc__)
    parser.add_argument("--config-env", default="default", help="the samconfig.toml environment")
    parser.add_argument(
        "--check", action="store_true", help="only check the setup (no change anywhere)"
    )
    args = parser.parse_args(argv)
    try:
        environment = samconfig.environment(args.config_env)
        config = load_config(config_path or environment.models_file)
        if stale_definition():
            raise DeployError("pipelines/definition.json is stale: run `make pipeline`")
        if config_path is None and (found := clashes()):
            raise DeployError(
                f"{len(found)} name(s) another environment acts on too, first: {found[0]} "
                "(run `make check-config`)"
            )
        if not args.check and config_path is None and built is not None:
            check_build(environment, built)
        target = connect(environment)
        if args.check:
            print(f"stack {environment.stack_name} in account {target.account}, {target.region}")
            return 0
        for line in prepare(target.client, config, target.buckets, target.region, environment):
            print(line)
    except (DeployError, UnknownEnvironment) as error:
        print(f"deploy: {error}", file=sys.stderr)
        return 1
    except ConfigError as error:
        print(f"deploy: {error}\n(run `make check-config`)", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as error:
        print(f"deploy: AWS refused a call: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
