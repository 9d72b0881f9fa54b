"""After `sam delete`: what the controller created at run time, found, listed, and removed
once the deployer says yes.

    python -m ops.destroy --config-env prod

`make destroy ENV=<name>` runs `sam delete --config-env <name>` first (it asks too): the
stack's functions would otherwise make again what this removes (the hourly drift check puts
its alarm back). Found by the names the controller gives, for each model of the environment's
models file (ops/samconfig.py):
- alarms: the drift check's `<DriftAlarmNamePrefix><model>`, the three rollback alarms;
- auto scaling: the prod variant's target-tracking policy and scalable target;
- hosting: the staging and prod endpoints, the endpoint configs and models deploys made;
- outputs in the artifacts bucket: drift checks, drift datasets, the pipeline's outputs and
  step code, traffic captured at the default location;
- function log groups outside the stack: the stack declares and deletes its functions' groups,
  but one deployed before it did left Lambda's own (made on first use, never expiring).
Kept, and said so: the model registry (package groups and versions), the buckets, the data in
them that the team wrote (training data, ground truth), and what the stack retains on purpose
(the audit table, the dead-letter queue).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from modelfresh.aws.hosting import scaling_policy_name
from modelfresh.core.config import load_config
from modelfresh.core.errors import ConfigError
from modelfresh.core.schema import ControllerConfig, ModelConfig
from modelfresh.drift.plan import ATTRIBUTION_ALARM_SUFFIX
from modelfresh.promote.steps import rollback_alarm_names
from modelfresh.quality.plan import quality_alarm_name

from ops import samconfig
from ops.deploy import ClientFactory, DeployError, connect
from ops.samconfig import UnknownEnvironment
from pipelines import bundle

# The names modelfresh.promote.steps.plan_deploy gives a deploy's model and endpoint configs:
# tests/integration/test_destroying.py makes them through the real loop.
DEPLOYED_MODEL = r"{model}-v\d+-[0-9a-f]{{6}}"
DEPLOYED_CONFIG = r"{model}-v\d+-(stg|prd)-[0-9a-f]{{6}}"
# The SageMaker model a batch model's runs score with, one per package version.
BATCH_MODEL = r"{model}-v\d+-batch-[0-9a-f]{{6}}"
# Prefixes of the artifacts bucket the controller's runs write under (modelfresh.core.settings,
# pipelines.bundle); ground truth, which the team writes, is not among them.
RUN_OUTPUTS = (
    "modelfresh/drift-checks/",
    "drift-datasets/",
    f"{bundle.OUTPUT_PREFIX}/",
    f"{bundle.CODE_PREFIX}/",
    "modelfresh/data-capture/",
    "modelfresh/quality-checks/",
    "modelfresh/batch/",  # batch runs' manifests, promotions' samples (not the predictions)
)
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
# template.yaml's DriftAlarmNamePrefix default, for environments that do not set it.
DEFAULT_DRIFT_ALARM_PREFIX = "modelfresh-drift-"


@dataclass(frozen=True)
class Leftover:
    """One thing to remove: what it is, and how."""

    what: str
    remove: Callable[[], Any]


def find(
    client: ClientFactory,
    config: ControllerConfig,
    *,
    stack_name: str,
    artifacts_bucket: str,
    drift_alarm_prefix: str,
) -> list[Leftover]:
    """Everything the controller made at run time that still exists, in removal order."""
    found: list[Leftover] = []
    for model in config.models.values():
        if model.kind == "realtime":  # a batch model has no endpoints, nor their scaling
            found += _scaling(client("application-autoscaling"), model)
            found += _hosting(client("sagemaker"), model)
        else:
            found += _batch_models(client("sagemaker"), model)
        found += _alarms(client("cloudwatch"), model, drift_alarm_prefix)
    found += _outputs(client("s3"), artifacts_bucket)
    found += _log_groups(client("logs"), stack_name)
    return found


def _scaling(scaling: Any, model: ModelConfig) -> Iterator[Leftover]:
    resource = f"endpoint/{model.live.prod}/variant/{model.deploy.variant}"
    policy = scaling_policy_name(model.name)
    policies = scaling.describe_scaling_policies(
        ServiceNamespace="sagemaker", ResourceId=resource, ScalableDimension=DIMENSION
    )["ScalingPolicies"]
    if any(p["PolicyName"] == policy for p in policies):
        yield Leftover(
            f"scaling policy {policy}",
            lambda: scaling.delete_scaling_policy(
                PolicyName=policy,
                ServiceNamespace="sagemaker",
                ResourceId=resource,
                ScalableDimension=DIMENSION,
            ),
        )
    targets = scaling.describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[resource]
    )
    if targets["ScalableTargets"]:
        yield Leftover(
            f"scalable target {resource}",
            lambda: scaling.deregister_scalable_target(
                ServiceNamespace="sagemaker", ResourceId=resource, ScalableDimension=DIMENSION
            ),
        )


def _hosting(sagemaker: Any, model: ModelConfig) -> Iterator[Leftover]:
    for endpoint in (model.live.staging, model.live.prod):
        try:
            sagemaker.describe_endpoint(EndpointName=endpoint)
        except ClientError:
            continue
        yield Leftover(
            f"endpoint {endpoint}",
            partial(sagemaker.delete_endpoint, EndpointName=endpoint),
        )
    configs = re.compile(DEPLOYED_CONFIG.format(model=re.escape(model.name)))
    for page in sagemaker.get_paginator("list_endpoint_configs").paginate(NameContains=model.name):
        for name in [c["EndpointConfigName"] for c in page["EndpointConfigs"]]:
            if configs.fullmatch(name):
                yield Leftover(
                    f"endpoint config {name}",
                    partial(sagemaker.delete_endpoint_config, EndpointConfigName=name),
                )
    models = re.compile(DEPLOYED_MODEL.format(model=re.escape(model.name)))
    for page in sagemaker.get_paginator("list_models").paginate(NameContains=model.name):
        for name in [m["ModelName"] for m in page["Models"]]:
            if models.fullmatch(name):
                yield Leftover(f"model {name}", partial(sagemaker.delete_model, ModelName=name))


def _batch_models(sagemaker: Any, model: ModelConfig) -> Iterator[Leftover]:
    """The SageMaker models a batch model's runs made (its predictions are the team's)."""
    made = re.compile(BATCH_MODEL.format(model=re.escape(model.name)))
    for page in sagemaker.get_paginator("list_models").paginate(NameContains=model.name):
        for name in [m["ModelName"] for m in page["Models"]]:
            if made.fullmatch(name):
                yield Leftover(f"model {name}", partial(sagemaker.delete_model, ModelName=name))


def _alarms(cloudwatch: Any, model: ModelConfig, drift_alarm_prefix: str) -> Iterator[Leftover]:
    names = list(rollback_alarm_names(model.name).values()) if model.kind == "realtime" else []
    check = model.drift_check
    if check is not None:  # the drift check's own alarms; others are the team's
        names.insert(0, f"{drift_alarm_prefix}{model.name}")
        if check.attribution_alarm:
            names.append(f"{drift_alarm_prefix}{model.name}{ATTRIBUTION_ALARM_SUFFIX}")
    if model.quality is not None:
        names.append(quality_alarm_name(model.name, drift_alarm_prefix))
    existing = cloudwatch.describe_alarms(AlarmNames=names, AlarmTypes=["MetricAlarm"])
    present = {a["AlarmName"] for a in existing["MetricAlarms"]}
    for name in (n for n in names if n in present):
        yield Leftover(f"alarm {name}", partial(cloudwatch.delete_alarms, AlarmNames=[name]))


def _outputs(s3: Any, bucket: str) -> Iterator[Leftover]:
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as error:
        # The stack's default bucket is made by `make deploy`: never deployed, nothing in it.
        if str(error.response.get("Error", {}).get("Code")) in {"404", "NoSuchBucket", "NotFound"}:
            return
        raise
    for prefix in RUN_OUTPUTS:
        keys = [
            item["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", [])
        ]
        if keys:
            yield Leftover(
                f"{len(keys)} object(s) under s3://{bucket}/{prefix}",
                partial(_delete_objects, s3, bucket, keys),
            )


def _delete_objects(s3: Any, bucket: str, keys: list[str]) -> None:
    for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1,000 keys
        batch = [{"Key": key} for key in keys[start : start + 1000]]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})


def _log_groups(logs: Any, stack_name: str) -> Iterator[Leftover]:
    prefix = f"/aws/lambda/{stack_name}-"
    for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=prefix):
        for name in [g["logGroupName"] for g in page["logGroups"]]:
            yield Leftover(f"log group {name}", partial(logs.delete_log_group, logGroupName=name))


def stack_exists(cloudformation: Any, stack_name: str) -> bool:
    """Whether the stack is still there (a deleted one is listed as DELETE_COMPLETE by id)."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if "does not exist" in str(error):
            return False
        raise
    return any(s["StackStatus"] != "DELETE_COMPLETE" for s in stacks)


def destroy(
    client: ClientFactory,
    config: ControllerConfig,
    *,
    stack_name: str,
    artifacts_bucket: str,
    drift_alarm_prefix: str,
    ask: Callable[[str], str],
    say: Callable[[str], None],
) -> int:
    """Lists what is left, asks, removes it; returns how many things were removed.
    Raises: DeployError (the stack still exists)."""
    if stack_exists(client("cloudformation"), stack_name):
        raise DeployError(
            f"stack {stack_name} still exists, and its functions would make again what this "
            "removes: delete it first (make destroy runs sam delete)"
        )
    leftovers = find(
        client,
        config,
        stack_name=stack_name,
        artifacts_bucket=artifacts_bucket,
        drift_alarm_prefix=drift_alarm_prefix,
    )
    if not leftovers:
        say(f"nothing that {stack_name}'s runs made is left")
    else:
        say(f"{stack_name}'s runs left these behind:")
        for leftover in leftovers:
            say(f"  {leftover.what}")
        if _confirmed(ask, f"Remove these {len(leftovers)}? (the endpoints stop serving) [y/N] "):
            for leftover in leftovers:
                leftover.remove()
            say(f"removed {len(leftovers)}")
        else:
            say("removed nothing")
            leftovers = []
    groups = ", ".join(sorted({m.package_group for m in config.models.values()}))
    say(
        f"kept: the model registry (package groups {groups}), the buckets and the data the team "
        f"put in them, and what {stack_name} retains on purpose (its audit table and "
        "dead-letter queue): see README, Cleanup"
    )
    return len(leftovers)


def _confirmed(ask: Callable[[str], str], question: str) -> bool:
    try:
        return ask(question).strip().lower() in {"y", "yes"}
    except EOFError:  # no terminal to answer from: no
        return False


def main(
    argv: Sequence[str] | None = None,
    config_path: Path | None = None,
    ask: Callable[[str], str] = input,
) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.destroy", description=__doc__)
    parser.add_argument("--config-env", default="default", help="the samconfig.toml environment")
    args = parser.parse_args(argv)
    try:
        environment = samconfig.environment(args.config_env)
        config = load_config(config_path or environment.models_file)
        target = connect(environment)
        destroy(
            target.client,
            config,
            stack_name=environment.stack_name,
            artifacts_bucket=target.buckets[0].name,
            drift_alarm_prefix=environment.parameters.get(
                "DriftAlarmNamePrefix", DEFAULT_DRIFT_ALARM_PREFIX
            ),
            ask=ask,
            say=print,
        )
    except (DeployError, UnknownEnvironment) as error:
        print(f"destroy: {error}", file=sys.stderr)
        return 1
    except ConfigError as error:
        print(f"destroy: {error}\n(run `make check-config`)", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as error:
        print(f"destroy: AWS refused a call: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
