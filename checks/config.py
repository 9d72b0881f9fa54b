"""`make check-config`: each environment's models file, whether its stack can serve it, and
that no two environments' stacks act on the same names.

    python -m checks.config [FILE] [--template template.yaml] [--samconfig samconfig.toml]

Every environment of samconfig.toml serves its own models file (ops/samconfig.py chooses it:
config/models.<env>.toml, else config/models.toml); FILE instead checks that one file as every
environment's (a file being tried out: no comparison between environments then).
First each file's own rules (modelfresh.core.config: the layer build and every Lambda apply them);
then, for every environment serving it, what only the template knows:
- each model's `pipeline` is one the stack deploys (RetrainPipelineName), unless the model
  brings its own (`own_pipeline = true`);
- each model's data is where the stack's roles may read it, and it captures where endpoints may
  write: the buckets the functions know as ARTIFACTS_BUCKET and DATA_BUCKET (the same values
  the functions check a model against before a run), resolved from the template's parameters
  and the environment's overrides. The account is not known here: it stays <account>.
Then what two environments would both act on (checks/clashes.py), and models files that belong
to no environment (config/models.<typo>.toml). Every problem is listed at once, with its path;
the exit status is 1 when there is any.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from modelfresh.core.config import load_config
from modelfresh.core.errors import ConfigError
from modelfresh.core.schema import ControllerConfig

from checks import clashes
from ops import samconfig as samconfig_file

ROOT = Path(__file__).resolve().parent.parent
# What two environments may not share, and why the check compares environments of one region.
ONE_ACCOUNT = "environments in one region may share an account: it is not known before a deploy"
CLASHES = f"samconfig.toml environments ({ONE_ACCOUNT})"
# The functions' variables naming the buckets they and the pipeline may read (Settings).
BUCKET_VARIABLES = ("ARTIFACTS_BUCKET", "DATA_BUCKET")
_SUB = re.compile(r"\$\{([^}]+)\}")


class Unresolvable(Exception):
    """A template value this check cannot work out without AWS."""


@dataclass(frozen=True)
class Environment:
    """One samconfig.toml environment: the stack's parameters as `sam deploy` passes them."""

    name: str
    parameters: Mapping[str, str]  # declared defaults, overridden, and the pseudo parameters
    stack_name: str = ""
    models_file: Path = (
        samconfig_file.ROOT / samconfig_file.CONFIG_DIR / samconfig_file.SHARED_MODELS
    )


def environments(template: Mapping[str, Any], samconfig: Path) -> list[Environment]:
    """Every environment of samconfig.toml, with the template's parameter values in it."""
    defaults = {
        name: str(declared["Default"])
        for name, declared in template.get("Parameters", {}).items()
        if "Default" in declared
    }
    found = []
    for name in samconfig_file.environments(samconfig):
        deploy = samconfig_file.environment(name, samconfig)
        overrides = deploy.parameters
        region = deploy.region or "<region>"
        partition = "aws-cn" if region.startswith("cn-") else "aws"
        if region.startswith("us-gov-"):
            partition = "aws-us-gov"
        pseudo = {
            "AWS::Region": region,
            "AWS::AccountId": "<account>",
            "AWS::Partition": partition,
            "AWS::StackName": deploy.stack_name,
        }
        parameters = {**defaults, **overrides, **pseudo}
        found.append(Environment(name, parameters, deploy.stack_name, deploy.models_file))
    return found


def resolve(value: Any, template: Mapping[str, Any], env: Environment) -> Any:
    """A template value with its intrinsic functions worked out for an environment: Ref of a
    parameter, Fn::Sub, Fn::Join, Fn::If and the condition functions. Raises: Unresolvable."""
    if isinstance(value, list):
        return [resolve(item, template, env) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) != 1:
        return {key: resolve(item, template, env) for key, item in value.items()}
    ((function, argument),) = value.items()
    if function == "Ref":
        if argument not in env.parameters:
            raise Unresolvable(f"Ref {argument} (not a parameter)")
        return env.parameters[argument]
    if function == "Fn::Sub":
        text, names = (argument, {}) if isinstance(argument, str) else argument
        names = {key: resolve(item, template, env) for key, item in names.items()}
        return _SUB.sub(lambda m: _substitute(m.group(1), names, template, env), text)
    if function == "Fn::Join":
        separator, items = argument
        return separator.join(resolve(items, template, env))
    if function == "Fn::If":
        condition, if_true, if_false = argument
        chosen = if_true if _condition(condition, template, env) else if_false
        return resolve(chosen, template, env)
    if function.startswith("Fn::") or function == "Condition":
        raise Unresolvable(function)
    return {function: resolve(argument, template, env)}


def _substitute(
    name: str, names: Mapping[str, Any], template: Mapping[str, Any], env: Environment
) -> str:
    if name.startswith("!"):  # ${!Literal} is written as ${Literal}
        return "${" + name[1:] + "}"
    if name in names:
        return str(names[name])
    return str(resolve({"Ref": name}, template, env))


def _condition(name: str, template: Mapping[str, Any], env: Environment) -> bool:
    conditions = template.get("Conditions", {})
    if name not in conditions:
        raise Unresolvable(f"condition {name}")
    return _truth(conditions[name], template, env)


def _truth(value: Any, template: Mapping[str, Any], env: Environment) -> bool:
    ((function, argument),) = value.items()
    if function == "Fn::Equals":
        left, right = resolve(argument, template, env)
        return bool(str(left) == str(right))
    if function == "Fn::Not":
        return not _truth(argument[0], template, env)
    if function == "Fn::And":
        return all(_truth(item, template, env) for item in argument)
    if function == "Fn::Or":
        return any(_truth(item, template, env) for item in argument)
    if function == "Condition":
        return _condition(argument, template, env)
    raise Unresolvable(function)


def deployed_pipelines(template: Mapping[str, Any], env: Environment) -> set[str]:
    """The names of the SageMaker pipelines the stack deploys in an environment."""
    return {
        str(resolve(resource["Properties"]["PipelineName"], template, env))
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::SageMaker::Pipeline"
    }


def readable_buckets(template: Mapping[str, Any], env: Environment) -> tuple[str, str]:
    """(artifacts bucket, data bucket) as the functions know them in an environment."""
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    artifacts, data = (str(resolve(variables[name], template, env)) for name in BUCKET_VARIABLES)
    return artifacts, data


def stack_problems(
    config: ControllerConfig, template: Mapping[str, Any], envs: Sequence[Environment]
) -> list[str]:
    """What keeps the stack from serving the configured models, each problem once, with the
    samconfig.toml environments it occurs in."""
    where: dict[str, list[str]] = {}
    for env in envs:
        try:
            pipelines = deployed_pipelines(template, env)
            buckets = readable_buckets(template, env)
        except Unresolvable as error:
            where.setdefault(f"template.yaml: cannot tell without AWS: {error}", []).append(
                env.name
            )
            continue
        for model in config.models.values():
            found = []
            if not model.own_pipeline and model.pipeline not in pipelines:
                found.append(_foreign_pipeline(model.name, model.pipeline, pipelines))
            found += [f"models.{problem}" for problem in model.data_out_of_reach(*buckets)]
            for problem in found:
                where.setdefault(problem, []).append(env.name)
    return [f"{problem} (samconfig.toml: {', '.join(names)})" for problem, names in where.items()]


def _foreign_pipeline(model: str, pipeline: str, deployed: set[str]) -> str:
    path = f"models.{model}.pipeline: {pipeline!r} is not a pipeline the stack deploys"
    close = difflib.get_close_matches(pipeline, sorted(deployed), n=1, cutoff=0.8)
    if close:
        return f"{path}: did you mean {close[0]!r}? (or set own_pipeline = true)"
    names = ", ".join(repr(name) for name in sorted(deployed)) or "none"
    return f"{path} ({names}): name it, or set own_pipeline = true if the model brings its own"


def load_template(path: Path) -> dict[str, Any]:
    """template.yaml as data, its short forms (!Ref, !Sub, ...) as their long forms."""
    return yaml.load(path.read_text(), Loader=_TemplateLoader)  # type: ignore[no-any-return]  # noqa: S506


class _TemplateLoader(yaml.CSafeLoader):  # type: ignore[misc]
    """YAML with CloudFormation's tags: `!Sub x` reads as {"Fn::Sub": x}."""


def _intrinsic(loader: yaml.Loader, tag: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {tag if tag in ("Ref", "Condition") else f"Fn::{tag}": value}


_TemplateLoader.add_multi_constructor("!", _intrinsic)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m checks.config", description=__doc__)
    parser.add_argument("file", nargs="?", type=Path, help="check this file as every environment's")
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    parser.add_argument("--samconfig", type=Path, default=ROOT / "samconfig.toml")
    parser.add_argument("--env", help="with FILE: check it as this environment's only")
    args = parser.parse_args(argv)
    try:
        template = load_template(args.template)
        envs = environments(template, args.samconfig)
        if args.file and args.env:
            envs = [env for env in envs if env.name == args.env]
            if not envs:
                samconfig_file.environment(args.env, args.samconfig)  # says which there are
    except (OSError, yaml.YAMLError, tomllib.TOMLDecodeError) as error:
        print(f"cannot read the stack's files: {error}", file=sys.stderr)
        return 1
    except samconfig_file.UnknownEnvironment as error:
        print(error, file=sys.stderr)
        return 1
    served_by: dict[Path, list[Environment]] = {}
    for env in envs:
        served_by.setdefault(args.file or env.models_file, []).append(env)
    failures, passes, served = [], [], []
    for path, members in served_by.items():
        names = ", ".join(env.name for env in members)
        where = f"samconfig.toml's {names}"
        if args.file and not args.env:
            where = "every samconfig.toml environment"
        try:
            config = load_config(path)
            served += [clashes.Served(env, config) for env in members]
            problems = stack_problems(config, template, members)
            if problems:
                raise ConfigError(f"{_shown(path)} against {args.template.name}", problems)
        except ConfigError as error:
            failures.append(str(error))
            continue
        passes.append(
            f"{_shown(path)}: OK, {len(config.models)} model(s): {', '.join(config.models)}; "
            f"the stack serves them in {where}"
        )
    if args.file is None:
        problems = [
            f"{_shown(path)}: no samconfig.toml environment is named "
            f"{path.name.removeprefix('models.').removesuffix('.toml')!r}"
            for path in samconfig_file.stray_models_files(args.samconfig)
        ] + clashes.clashes(served, template)
        if problems:
            failures.append(str(ConfigError(CLASHES, problems)))
        else:
            passes.append(
                f"no two samconfig.toml environments act on the same names ({ONE_ACCOUNT})"
            )
    if failures:
        print("\n".join(failures), file=sys.stderr)
        return 1
    print("\n".join(passes))
    return 0


def _shown(path: Path) -> str:
    """A path as a person reads it: relative to the repository when it is inside."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


if __name__ == "__main__":
    sys.exit(main())
