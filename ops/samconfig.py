"""samconfig.toml's environments, read the way `sam deploy --config-env <name>` reads them, and
the models file each one serves.

    python -m ops.samconfig models-file ENV   # the environment's models file (make build uses it)

The models file of an environment is `config/models.<env>.toml` when there is one, else
`config/models.toml`; this module alone decides it, for `make build` (which hands it to the
layer's build), `make check-config`, `make deploy` / `make destroy` and the local cloud. A
convention rather than a key in samconfig.toml: sam reads that file too, and nothing here should
depend on sam ignoring a key it does not know.
"""

from __future__ import annotations

import shlex
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMCONFIG = ROOT / "samconfig.toml"
# The models files live here, beside samconfig.toml (layers/shared/config links to it, so the
# layer's build sees them all and its cache notices any change).
CONFIG_DIR = "config"
SHARED_MODELS = "models.toml"

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
    models_file: Path = ROOT / CONFIG_DIR / SHARED_MODELS  # the models this stack acts on

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


def models_file(name: str, path: Path = SAMCONFIG) -> Path:
    """The models file of an environment: config/models.<name>.toml beside samconfig.toml when
    it exists, else config/models.toml (which may not exist: reading it says so)."""
    folder = path.parent / CONFIG_DIR
    own = folder / f"models.{name}.toml"
    return own if own.is_file() else folder / SHARED_MODELS


def stray_models_files(path: Path = SAMCONFIG) -> list[Path]:
    """config/models.<name>.toml files whose <name> is no environment of samconfig.toml: a typo
    there would leave that environment on config/models.toml without a word."""
    names = set(environments(path))
    folder = path.parent / CONFIG_DIR
    return [
        found
        for found in sorted(folder.glob("models.*.toml"))
        if found.name.removeprefix("models.").removesuffix(".toml") not in names
    ]


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
        models_file=models_file(name, path),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """`models-file ENV`: print the environment's models file, relative to samconfig.toml's
    folder (sam build's layer sees that folder's config/ at the same relative path)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] != "models-file":
        print("usage: python -m ops.samconfig models-file ENV", file=sys.stderr)
        return 2
    try:
        chosen = environment(args[1]).models_file
    except UnknownEnvironment as error:
        print(f"samconfig: {error}", file=sys.stderr)
        return 1
    print(chosen.relative_to(SAMCONFIG.parent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
