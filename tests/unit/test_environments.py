"""Per-environment models: each samconfig.toml environment serves its own models file
(ops/samconfig.py chooses it), and no two environments that may share an account act on the
same names (checks/clashes.py, run by make check-config, make build and make deploy)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from modelfresh.core.config import load_config, parse_config
from modelfresh.core.schema import ControllerConfig

from checks import clashes
from checks.config import environments, load_template
from ops import deploy, samconfig
from tests.conftest import ROOT

TEMPLATE = load_template(ROOT / "template.yaml")
SAMCONFIG = """\
version = 0.1

[dev.deploy.parameters]
stack_name = "modelfresh-dev"
region = "us-east-1"
parameter_overrides = "DriftAlarmNamePrefix=dev-drift-"

[prod.deploy.parameters]
stack_name = "modelfresh-prod"
region = "us-east-1"
parameter_overrides = "DriftAlarmNamePrefix=prod-drift- RetrainPipelineName=prod-retrain"
"""
MODEL: dict[str, Any] = {
    "package_group": "fares",
    "endpoints": {"staging": "fares-staging", "prod": "fares-prod"},
    "gate": {"metric": "rmse", "direction": "minimize", "threshold": 6.0},
    "smoke_test": {"payloads": ["1,2.4"]},
    "training": {"problem_type": "regression"},
}
DEV = {"pipeline": "modelfresh-retrain"}
PROD = {
    "package_group": "prod-fares",
    "pipeline": "prod-retrain",
    "endpoints": {"staging": "prod-fares-staging", "prod": "prod-fares"},
}


def models(name: str, **table: Any) -> ControllerConfig:
    return parse_config({"models": {name: copy.deepcopy(MODEL) | table}})


def clash(
    dev: ControllerConfig, prod: ControllerConfig, tmp: Path, samconfig_text: str = SAMCONFIG
) -> list[str]:
    """What the check says of dev and prod (SAMCONFIG's, or as given) serving these models."""
    path = tmp / "samconfig.toml"
    path.write_text(samconfig_text)
    envs = environments(TEMPLATE, path)
    return clashes.clashes([clashes.Served(envs[0], dev), clashes.Served(envs[1], prod)], TEMPLATE)


# -- which models file -------------------------------------------------------------------------


def test_an_environment_serves_its_own_models_file_when_there_is_one(tmp_path: Path) -> None:
    # Given a samconfig with two environments, and a models file for prod only
    (tmp_path / "samconfig.toml").write_text(SAMCONFIG)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "models.toml").write_text("")
    (tmp_path / "config" / "models.prod.toml").write_text("")

    # Then prod serves its own file, and dev the shared one
    chosen = {
        name: samconfig.environment(name, tmp_path / "samconfig.toml").models_file
        for name in ("dev", "prod")
    }
    assert chosen == {
        "dev": tmp_path / "config" / "models.toml",
        "prod": tmp_path / "config" / "models.prod.toml",
    }


def test_a_models_file_of_no_environment_is_named(tmp_path: Path) -> None:
    # Given a models file whose environment is misspelt (prod would fall back silently)
    (tmp_path / "samconfig.toml").write_text(SAMCONFIG)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "models.prd.toml").write_text("")
    (tmp_path / "config" / "models.prod.toml").write_text("")

    assert samconfig.stray_models_files(tmp_path / "samconfig.toml") == [
        tmp_path / "config" / "models.prd.toml"
    ]


def test_make_build_is_told_the_file_relative_to_the_repository(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # (the layer's copy of its folder holds config/ at the same relative path)
    assert samconfig.main(["models-file", "prod"]) == 0
    assert samconfig.main(["models-file", "default"]) == 0
    assert capsys.readouterr().out == "config/models.prod.toml\nconfig/models.toml\n"
    assert samconfig.main(["models-file", "staging"]) == 1


def test_the_shipped_environments_serve_different_models_without_a_clash() -> None:
    shipped = environments(TEMPLATE, ROOT / "samconfig.toml")
    served = [clashes.Served(env, load_config(env.models_file)) for env in shipped]
    assert [env.models_file.name for env in shipped] == ["models.toml", "models.prod.toml"]
    assert clashes.clashes(served, TEMPLATE) == []
    assert samconfig.stray_models_files() == []


def test_one_models_file_for_both_shipped_environments_would_clash() -> None:
    # Given the shipped samconfig, both environments serving config/models.toml (as before
    # each environment had its own file)
    shipped = environments(TEMPLATE, ROOT / "samconfig.toml")
    one = load_config(ROOT / "config" / "models.toml")

    found = clashes.clashes([clashes.Served(env, one) for env in shipped], TEMPLATE)

    # Then every shared endpoint, group and model is named, with both environments
    assert "default and prod both act on endpoint 'taxi-fare-prod'" in found
    assert "default and prod both act on model package group 'churn'" in found
    assert all(line.startswith("default and prod both act on ") for line in found)


# -- what two environments may not share -------------------------------------------------------


def test_environments_with_their_own_names_do_not_clash(tmp_path: Path) -> None:
    assert clash(models("fares", **DEV), models("prod-fares", **PROD), tmp_path) == []


def test_a_shared_endpoint_is_named_with_both_environments(tmp_path: Path) -> None:
    prod = models("prod-fares", **PROD | {"endpoints": {"staging": "s", "prod": "fares-prod"}})
    assert clash(models("fares", **DEV), prod, tmp_path) == [
        "dev and prod both act on endpoint 'fares-prod'"
    ]


def test_a_shared_package_group_is_named(tmp_path: Path) -> None:
    prod = models("prod-fares", **PROD | {"package_group": "fares"})
    assert clash(models("fares", **DEV), prod, tmp_path) == [
        "dev and prod both act on model package group 'fares'"
    ]


def test_a_shared_pipeline_is_named_whether_deployed_or_brought(tmp_path: Path) -> None:
    # Given prod's model starting dev's pipeline (its own, as far as prod's stack knows)
    prod = models("prod-fares", **PROD | {"pipeline": "modelfresh-retrain", "own_pipeline": True})
    assert clash(models("fares", **DEV), prod, tmp_path) == [
        "dev and prod both act on pipeline 'modelfresh-retrain'"
    ]


def test_both_stacks_deploying_one_pipeline_name_is_named(tmp_path: Path) -> None:
    # Given prod's stack without its own RetrainPipelineName: both deploy the default one
    text = SAMCONFIG.replace(" RetrainPipelineName=prod-retrain", "")
    prod = models("prod-fares", **PROD | {"pipeline": "modelfresh-retrain"})
    assert clash(models("fares", **DEV), prod, tmp_path, text) == [
        "dev and prod both act on pipeline 'modelfresh-retrain'"
    ]


def test_a_shared_model_name_is_one_line_for_its_metrics_alarms_and_prefixes(
    tmp_path: Path,
) -> None:
    # Given both environments serving a model named fares (everything else their own)
    prod = models("fares", **PROD)

    # Then the name is refused once: its drift metrics, rollback alarms and S3 prefixes
    assert clash(models("fares", **DEV), prod, tmp_path) == [
        "dev and prod both act on model 'fares': its drift metrics (ModelFresh/Drift, "
        "model=fares), rollback alarms (modelfresh-rollback-fares--*) and S3 prefixes are "
        "named by it; rename it in one models file"
    ]


def test_a_shared_stack_name_is_named(tmp_path: Path) -> None:
    text = SAMCONFIG.replace('"modelfresh-prod"', '"modelfresh-dev"')
    assert clash(models("fares", **DEV), models("prod-fares", **PROD), tmp_path, text) == [
        "dev and prod both act on stack 'modelfresh-dev'"
    ]


def test_overlapping_drift_alarm_prefixes_are_named(tmp_path: Path) -> None:
    # Given prod's prefix extending dev's: dev's rule would take prod's alarms
    text = SAMCONFIG.replace("=prod-drift-", "=dev-drift-prod-")
    assert clash(models("fares", **DEV), models("prod-fares", **PROD), tmp_path, text) == [
        "dev and prod both act on drift alarms named 'dev-drift-'...: their "
        "DriftAlarmNamePrefix values 'dev-drift-' and 'dev-drift-prod-' overlap"
    ]


def test_an_alarm_mapped_by_name_in_both_is_named(tmp_path: Path) -> None:
    mapped = {"drift_alarms": ["legacy-fares-drift"]}
    dev, prod = models("fares", **DEV | mapped), models("prod-fares", **PROD | mapped)
    assert clash(dev, prod, tmp_path) == [
        "dev and prod both act on drift alarm 'legacy-fares-drift'"
    ]


def test_an_alarm_mapped_in_one_that_the_others_prefix_takes_is_named(tmp_path: Path) -> None:
    # Given dev mapping an alarm whose name starts with prod's prefix
    dev = models("fares", **DEV | {"drift_alarms": ["prod-drift-legacy"]})
    assert clash(dev, models("prod-fares", **PROD), tmp_path) == [
        "dev and prod both act on drift alarm 'prod-drift-legacy': dev maps it, and it starts "
        "with prod's DriftAlarmNamePrefix 'prod-drift-'"
    ]


def test_environments_in_two_regions_share_only_what_is_global(tmp_path: Path) -> None:
    # Given prod in another region, with dev's names, both naming one artifacts bucket
    text = SAMCONFIG.replace(
        'region = "us-east-1"\nparameter_overrides = "DriftAlarmNamePrefix=prod',
        'region = "eu-west-1"\nparameter_overrides = "DriftAlarmNamePrefix=prod',
    )
    text = text.replace('parameter_overrides = "', 'parameter_overrides = "ArtifactsBucket=shared ')
    same = models("fares", **DEV | {"own_pipeline": True})

    # Then endpoints, alarms and the model's metrics are each region's own; the bucket is not
    assert clash(same, same, tmp_path, text) == [
        "dev and prod both act on bucket prefix 's3://shared/drift-datasets/fares/'",
        "dev and prod both act on bucket prefix 's3://shared/modelfresh/drift-checks/fares/'",
    ]


# -- make deploy -------------------------------------------------------------------------------


def test_deploying_a_build_of_another_environments_models_is_refused(tmp_path: Path) -> None:
    # Given a build that holds the default environment's models (sam build by hand)
    built = tmp_path / "models.toml"
    built.write_bytes((ROOT / "config" / "models.toml").read_bytes())
    prod = samconfig.environment("prod")

    # Then deploying it as prod is refused, saying how to build prod's; default's passes
    with pytest.raises(deploy.DeployError) as raised:
        deploy.check_build(prod, built)
    assert str(raised.value) == (
        "the build's models file is not models.prod.toml, which [prod] serves (built for "
        "another environment, or before an edit): run `make build ENV=prod`"
    )
    deploy.check_build(samconfig.environment("default"), built)
    with pytest.raises(deploy.DeployError, match=r"^no build to deploy"):
        deploy.check_build(prod, tmp_path / "missing.toml")


def test_the_shipped_environments_pass_make_deploys_check() -> None:
    assert deploy.clashes() == []
