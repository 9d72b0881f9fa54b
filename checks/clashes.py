"""Names two samconfig.toml environments would both act on: refused before a build.

Each environment deploys its own stack, serving the models of its own models file
(ops/samconfig.py chooses it). Two stacks in one account and region must never act on the same
endpoint, alarm, registry or pipeline: dev's drift would retrain prod, dev's rollback alarm would
guard prod's deployment. Which account an environment deploys to is only known at deploy time
(the deployer's credentials), so any two environments in one region are taken to share one; a
bucket is global, so bucket prefixes are compared across regions too.

What each environment acts on, by kind (every name as the controller derives it, imported
from `modelfresh`, never copied):
- its stack, by name;
- each model's staging and prod endpoint (and so the prod variant's auto scaling target);
- each model's package group, and the pipelines its models start or its stack deploys;
- each model's name: it keys the drift metrics (ModelFresh/Drift, dimension model), so two
  stacks serving one name raise each other's drift alarms; and it names the rollback alarms
  and the S3 prefixes the runs write (drift checks, drift datasets) in the artifacts bucket;
- the drift alarms: every alarm whose name starts with DriftAlarmNamePrefix is the stack's
  (its EventBridge rule matches them), so two prefixes must not start one another, and an
  alarm mapped by name (drift_alarms, ExplicitDriftAlarmNames) must be one environment's only.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from itertools import combinations
from typing import Any

from modelfresh.core.schema import ControllerConfig
from modelfresh.core.settings import Settings
from modelfresh.drift.plan import DRIFT_NAMESPACE
from modelfresh.promote.steps import rollback_alarm_names

from checks import config as check

UNKNOWN_REGION = "<region>"
# The parameter values checks.config resolves with the template's defaults.
PREFIX = "DriftAlarmNamePrefix"
EXPLICIT = "ExplicitDriftAlarmNames"


@dataclass(frozen=True)
class Claim:
    """One name a stack acts on. Regional names meet only in one region; buckets anywhere."""

    kind: str
    name: str
    regional: bool = True
    model: str = ""  # derived from this model's name: said once, with the model's own clash


@dataclass(frozen=True)
class Served:
    """An environment with the models it serves (its own models file)."""

    environment: check.Environment
    config: ControllerConfig

    @property
    def region(self) -> str:
        return str(self.environment.parameters.get("AWS::Region", UNKNOWN_REGION))

    @property
    def prefix(self) -> str:
        return str(self.environment.parameters.get(PREFIX, ""))

    @property
    def mapped_alarms(self) -> set[str]:
        """Drift alarms this stack takes by name: its models' drift_alarms and the alarms its
        rule routes (ExplicitDriftAlarmNames)."""
        routed = str(self.environment.parameters.get(EXPLICIT, "")).split(",")
        mapped = {alarm for model in self.config.models.values() for alarm in model.drift_alarms}
        return {alarm.strip() for alarm in routed if alarm.strip()} | mapped


def claims(served: Served, template: Mapping[str, Any]) -> set[Claim]:
    """Every name one environment's stack acts on (drift alarm prefixes aside: see clashes)."""
    env = served.environment
    found = {Claim("stack", env.stack_name)} if env.stack_name else set()
    try:
        found |= {Claim("pipeline", name) for name in check.deployed_pipelines(template, env)}
        artifacts, data = check.readable_buckets(template, env)
    except check.Unresolvable:  # check.stack_problems reports it
        artifacts = data = ""
    settings = _settings(artifacts, data) if artifacts else None
    for model in served.config.models.values():
        if model.endpoints is not None:
            found |= {
                Claim("endpoint", model.endpoints.staging),
                Claim("endpoint", model.endpoints.prod),
            }
        found |= {
            Claim("model package group", model.package_group),
            Claim("pipeline", model.pipeline),
            Claim("model", model.name),
        }
        found |= {
            Claim("rollback alarm", name, model=model.name)
            for name in rollback_alarm_names(model.name).values()
        }
        if settings is not None:
            for uri in (settings.drift_checks_uri, settings.drift_datasets_uri):
                found.add(Claim("bucket prefix", f"{uri}/{model.name}/", False, model.name))
    found |= {Claim("drift alarm", alarm) for alarm in served.mapped_alarms}
    return found


def clashes(served: Sequence[Served], template: Mapping[str, Any]) -> list[str]:
    """One line per name two environments would both act on, naming both, the kind and the
    name; empty when every pair keeps to its own names."""
    claimed = [(one, claims(one, template)) for one in served]
    lines: list[str] = []
    for (a, of_a), (b, of_b) in combinations(claimed, 2):
        one_region = UNKNOWN_REGION in (a.region, b.region) or a.region == b.region
        shared = {claim for claim in of_a & of_b if one_region or not claim.regional}
        models = {claim.name for claim in shared if claim.kind == "model"}
        shown = sorted(
            (claim for claim in shared if claim.model not in models),
            key=lambda claim: (claim.kind, claim.name),
        )
        pair = f"{a.environment.name} and {b.environment.name}"
        lines += [f"{pair} both act on {_describe(claim)}" for claim in shown]
        if one_region:
            lines += list(_drift_alarm_overlaps(a, b, pair))
    return lines


def _drift_alarm_overlaps(a: Served, b: Served, pair: str) -> Iterator[str]:
    """A stack's rule takes every alarm that starts with its prefix."""
    if a.prefix and b.prefix and (a.prefix.startswith(b.prefix) or b.prefix.startswith(a.prefix)):
        yield (
            f"{pair} both act on drift alarms named {min(a.prefix, b.prefix, key=len)!r}...: "
            f"their {PREFIX} values {a.prefix!r} and {b.prefix!r} overlap"
        )
        return
    for mine, theirs in ((a, b), (b, a)):
        for alarm in sorted(mine.mapped_alarms - theirs.mapped_alarms):
            if theirs.prefix and alarm.startswith(theirs.prefix):
                yield (
                    f"{pair} both act on drift alarm {alarm!r}: {mine.environment.name} maps "
                    f"it, and it starts with {theirs.environment.name}'s {PREFIX} "
                    f"{theirs.prefix!r}"
                )


def _describe(claim: Claim) -> str:
    if claim.kind == "model":
        rollback = rollback_alarm_names(claim.name)["5xx"].rsplit("--", 1)[0]
        return (
            f"model {claim.name!r}: its drift metrics ({DRIFT_NAMESPACE}, model={claim.name}), "
            f"rollback alarms ({rollback}--*) and S3 prefixes are named by it; rename it in "
            "one models file"
        )
    return f"{claim.kind} {claim.name!r}"


def _settings(artifacts: str, data: str) -> Settings:
    """The functions' settings for these buckets (the rest does not matter here): the S3
    locations the runs write to come from there."""
    placeholders = {f.name.upper(): "1" for f in fields(Settings)}
    return Settings.from_env(placeholders | {"ARTIFACTS_BUCKET": artifacts, "DATA_BUCKET": data})
