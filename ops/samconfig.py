"""samconfig.toml's environments, read the way `sam deploy --config-env <name>` reads them."""

from __future__ import annotations

import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMCONFIG = ROOT / "samconfig.toml"

# The stack's defaults when a bucket parameter is empty (template.yaml's UseDefault*Bucket):
# S3 bucket names are global, so each is made unique by the account and region. The artifacts
# bucket is the stack's own (not SageMaker's account-wide sagemaker-<region>-<account>): its
# roles may then write there without writing where every other SageMaker user does.
DEFAULT_ARTIFACTS_BUCKET = "{stack}-artifacts-{region}-{account}"
DEFAULT_DATA_BUCKET = "modelfresh-data-{region}-{account}"


class UnknownEnvironment(Exception):
    """samconfig.toml has no such environment, or it lacks what a deploy needs."""


@dataclass(frozen=True)
class Environment:
    """One samconfig.toml environment: what `sam deploy --config-env <name>` deploys where."""

    name: str
    stack_name: str
    region: str | None
    parameters: dict[str, str]  # parameter_overrides

    def artifacts_bucket(self, account: str, region: str) -> str:
        """The stack's artifacts bucket: the ArtifactsBucket parameter or the stack's own."""
        return self.parameters.get("ArtifactsBucket") or DEFAULT_ARTIFACTS_BUCKET.format(
            stack=self.stack_name, region=region, account=account
        )

    def data_bucket(self, account: str, region: str) -> str:
        """The stack's data bucket: the TrainingDataBucket parameter or the derived default."""
        return self.parameters.get("TrainingDataBucket") or DEFAULT_DATA_BUCKET.format(
            region=region, account=account
        )


def environments(path: Path = SAMCONFIG) -> list[str]:
    """The environments samconfig.toml declares, in file order."""
    return [name for name in tomllib.loads(path.read_text()) if name != "version"]


def environment(name: str, path: Path = SAMCONFIG) -> Environment:
    """One environment. Raises: UnknownEnvironment (a one-line reason)."""
    document = tomllib.loads(path.read_text())
    if name == "version" or name not in document:
        known = ", ".join(environments(path)) or "none"
        raise UnknownEnvironment(
            f"samconfig.toml has no environment {name!r} (it has: {known}); "
            f"add a [{name}.*] set of sections or choose another ENV"
        )
    section = document[name]
    deploy = section.get("deploy", {}).get("parameters", {})
    stack_name = section.get("global", {}).get("parameters", {}).get("stack_name")
    stack_name = deploy.get("stack_name", stack_name)
    if not stack_name:
        raise UnknownEnvironment(
            f"samconfig.toml [{name}] names no stack: set stack_name in [{name}.global.parameters]"
        )
    overrides = deploy.get("parameter_overrides", "")
    pairs = shlex.split(overrides) if isinstance(overrides, str) else list(overrides)
    return Environment(
        name=name,
        stack_name=stack_name,
        region=deploy.get("region"),
        parameters=dict(pair.split("=", 1) for pair in pairs),
    )
