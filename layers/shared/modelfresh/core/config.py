"""The model configuration: one declarative TOML file for every model the controller serves.

TOML because Python reads it with the standard library (no parser in the Lambdas) and people
can comment it. The file is validated as a whole and every problem is reported at once, with
its path, so a broken file fails `make build` and the tests rather than a Lambda at 3 a.m.

Check a file with `make check-config` (CONFIG=FILE; config/models.toml by default), which also
checks it against the stack that serves it (checks/config.py reads template.yaml and
samconfig.toml; the Lambdas never do). The file alone: `python -m modelfresh.core.config FILE ...`
with layers/shared on PYTHONPATH, as the layer's build runs it.
"""

from __future__ import annotations

import difflib
import math
import sys
import tomllib
import types
from collections.abc import Mapping, Set
from dataclasses import MISSING, fields, is_dataclass
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from modelfresh.core.errors import ConfigError
from modelfresh.core.schema import (
    DEFAULTABLE,
    PARAMETER_LIMIT,
    ControllerConfig,
    Gate,
    ModelConfig,
)


def load_config(path: str | Path) -> ControllerConfig:
    """Read and validate a model configuration file. Raises: ConfigError (every problem)."""
    source = str(path)
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(source, ["file not found"]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(source, [f"not valid TOML: {exc}"]) from None
    return parse_config(raw, source)


def parse_config(raw: Mapping[str, Any], source: str = "<config>") -> ControllerConfig:
    """Validate an already-parsed configuration. Raises: ConfigError (every problem)."""
    problems: list[str] = []
    _reject_unknown(raw, {"defaults", "models"}, "", problems)
    defaults = raw.get("defaults", {})
    if not isinstance(defaults, dict):
        problems.append(f"defaults: expected a table, got {_kind(defaults)}")
        defaults = {}
    _reject_unknown(defaults, DEFAULTABLE, "defaults", problems)
    defaults = _valid_defaults(defaults, problems)
    models_raw = raw.get("models")
    if not isinstance(models_raw, dict) or not models_raw:
        problems.append("models: declare at least one model as a [models.<name>] table")
        models_raw = {}

    models: dict[str, ModelConfig] = {}
    for name, body in models_raw.items():
        path = f"models.{name}"
        if not isinstance(body, dict):
            problems.append(f"{path}: expected a table, got {_kind(body)}")
            continue
        if "name" in body:
            problems.append(f"{path}.name: a model is named by its table, [models.<name>]")
        shared = {k: v for k, v in defaults.items() if k in DEFAULTABLE}
        merged = {**shared, **body, "name": name}
        model = _build(ModelConfig, merged, path, problems)
        if model is not _INVALID:
            models[name] = model

    problems.extend(_check_across_models(list(models.values())))
    problems.extend(_check_pipeline_parameters(list(models.values())))
    if problems:
        raise ConfigError(source, problems)
    return ControllerConfig(models=models)


def _valid_defaults(defaults: Mapping[str, Any], problems: list[str]) -> dict[str, Any]:
    """The [defaults] entries that are valid; the others are reported at their own path
    (defaults.<key>) and not given to the models, so no model reports them again."""
    hints = get_type_hints(ModelConfig)
    valid = {}
    for key in sorted(DEFAULTABLE & set(defaults)):
        found: list[str] = []
        value = _convert(hints[key], defaults[key], f"defaults.{key}", found)
        if value is not _INVALID:
            found.extend(
                f"defaults.{field}: {message}"
                for field, message in ModelConfig.problems({key: value})
            )
        if found:
            problems.extend(found)
        else:
            valid[key] = value
    return valid


def parse_gate(data: Mapping[str, Any]) -> Gate:
    """A gate from its table form (as the retrain plan carries it). Raises: ConfigError."""
    problems: list[str] = []
    gate = _build(Gate, data, "gate", problems)
    if problems:
        raise ConfigError("gate", problems)
    return gate  # type: ignore[no-any-return]


def _check_across_models(models: list[ModelConfig]) -> list[str]:
    problems = []
    problems.extend(_duplicates(models, lambda m: [m.package_group], "package group"))
    problems.extend(
        _duplicates(
            models,
            lambda m: [m.endpoints.staging, m.endpoints.prod] if m.endpoints else [],
            "endpoint",
        )
    )
    problems.extend(_duplicates(models, lambda m: list(m.drift_alarms), "drift alarm"))
    return problems


def _check_pipeline_parameters(models: list[ModelConfig]) -> list[str]:
    return [
        f"models.{model.name}.{key}: {len(value)} characters as the pipeline parameter {name}; "
        f"SageMaker takes at most {PARAMETER_LIMIT}"
        for model in models
        # The longest bucket name S3 allows: a default data_uri fits whatever the deployment's.
        for name, (key, value) in model.pipeline_settings("b" * 63).items()
        if len(value) > PARAMETER_LIMIT
    ]


def _duplicates(models: list[ModelConfig], values: Any, what: str) -> list[str]:
    owners: dict[str, set[str]] = {}
    problems: list[str] = []
    for model in models:
        mine = list(values(model))
        problems.extend(
            f"models.{model.name}: {what} {value!r} is listed more than once"
            for value in sorted({v for v in mine if mine.count(v) > 1})
        )
        for value in set(mine):
            owners.setdefault(value, set()).add(model.name)
    problems.extend(
        f"{what} {value!r} is claimed by more than one model: {', '.join(sorted(names))}"
        for value, names in owners.items()
        if len(names) > 1
    )
    return problems


_INVALID = object()  # a value that failed conversion; its problem is already recorded


def _build(cls: type[Any], data: Mapping[str, Any], path: str, problems: list[str]) -> Any:
    """Build a frozen dataclass from a TOML table, recording every problem on the way."""
    hints = get_type_hints(cls)
    problems_before = len(problems)
    _reject_unknown(data, {f.name for f in fields(cls)}, path, problems)
    values: dict[str, Any] = {}
    for f in fields(cls):
        where = f"{path}.{f.name}" if path else f.name
        if f.name in data:
            values[f.name] = _convert(hints[f.name], data[f.name], where, problems)
        elif f.default is MISSING:
            problems.append(f"{where}: required")
            values[f.name] = _INVALID
    valid = {k: v for k, v in values.items() if v is not _INVALID}
    failed = set(values) - set(valid)  # their problem is recorded: no rule piles on
    problems.extend(
        f"{path}.{key}: {message}" for key, message in cls.problems(valid) if key not in failed
    )
    if len(valid) < len(values) or len(problems) > problems_before:
        return _INVALID
    return cls(**values)


def _convert(hint: Any, value: Any, where: str, problems: list[str]) -> Any:
    """Convert one TOML value to the annotated type, or record why not and return _INVALID."""
    origin = get_origin(hint)
    expected: str | None = None
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(hint) if a is not type(None)]
        return _convert(options[0], value, where, problems)
    if origin is Literal:
        if value in get_args(hint):
            return value
        expected = f"one of {', '.join(map(repr, get_args(hint)))}"
    elif origin is tuple:
        if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
            return tuple(value)
        expected = "a list of non-empty strings"
    elif is_dataclass(hint):
        if isinstance(value, dict):
            return _build(hint, value, where, problems)  # type: ignore[arg-type]
        expected = "a table"
    elif hint is bool:
        if isinstance(value, bool):
            return value
        expected = "true or false"
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        expected = "a whole number"
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            if math.isfinite(value):
                return float(value)
            expected = "a finite number"
        else:
            expected = "a number"
    elif hint is str:
        if isinstance(value, str) and value:
            return value
        expected = "a non-empty string"
    else:  # pragma: no cover - a field type this loader was not taught
        raise TypeError(f"unsupported configuration type {hint!r}")
    problems.append(f"{where}: expected {expected}, got {_describe(value)}")
    return _INVALID


def _reject_unknown(
    data: Mapping[str, Any], known: Set[str], path: str, problems: list[str]
) -> None:
    for key in data:
        if key in known:
            continue
        hint = difflib.get_close_matches(key, sorted(known), n=1)
        suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
        problems.append(f"{path + '.' if path else ''}{key}: unknown key{suggestion}")


def _kind(value: Any) -> str:
    return {dict: "a table", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def _describe(value: Any) -> str:
    return repr(value) if isinstance(value, str | int | float | bool) else _kind(value)


def main(argv: list[str]) -> int:
    """Validate configuration files named on the command line; exit 1 on any problem."""
    status = 0
    for path in argv or ["config/models.toml"]:
        try:
            config = load_config(path)
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            status = 1
        else:
            print(f"{path}: OK, {len(config.models)} model(s): {', '.join(config.models)}")
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
