"""The retraining pipeline's definition (pipelines/definition.json) against its contract
(pipelines/README.md), and the template that deploys it. No sagemaker SDK needed: these read
the generated file; `make check-pipeline` checks it is what the SDK builds now."""

from __future__ import annotations

import ast
import json
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from modelfresh.core.config import load_config
from modelfresh.retrain.steps import PIPELINE_PARAMETERS

from localcloud.stack import load_template, read_samconfig_parameters
from ops import deploy, samconfig
from pipelines import bundle, template

ROOT = Path(__file__).resolve().parent.parent.parent
TEXT = bundle.definition_text()
DEFINITION = bundle.load(TEXT)
TEMPLATE_TEXT = (ROOT / "template.yaml").read_text()
TEMPLATE = load_template(ROOT / "template.yaml")
RESOURCE = TEMPLATE["Resources"]["RetrainPipeline"]

# pipelines/README.md, "Parameters (the controller's contract, in this order)", written out.
CONTRACT = [
    "TriggerKind", "TriggerId", "DriftWindowStart", "DriftWindowEnd", "RunName", "TrainingData",
    "DriftDataset", "ProblemType", "Objective", "FeatureNames", "CategoricalFeatures",
    "GateMetric", "GateDirection", "GateThreshold", "ModelPackageGroup",
    "ChampionModelPackageArn", "ChampionModelData",
]  # fmt: skip
CODE = f"s3://${{ArtifactsBucket}}/{bundle.code_prefix()}/"


def steps() -> dict[str, dict[str, Any]]:
    """Every step by name, the condition's branches included."""
    found: dict[str, dict[str, Any]] = {}
    pending = list(DEFINITION["Steps"])
    while pending:
        step = pending.pop(0)
        found[step["Name"]] = step
        pending += step["Arguments"].get("IfSteps", []) + step["Arguments"].get("ElseSteps", [])
    return found


STEPS = steps()


def get(name: str) -> dict[str, str]:
    return {"Get": f"Parameters.{name}"}


def output(step: str, name: str) -> dict[str, str]:
    return {"Get": f"Steps.{step}.ProcessingOutputConfig.Outputs['{name}'].S3Output.S3Uri"}


def join(*values: Any, on: str = "/") -> dict[str, Any]:
    return {"Std:Join": {"On": on, "Values": list(values)}}


def references(value: Any) -> set[str]:
    """The steps a value reads from (Get and PropertyFile expressions)."""
    return {
        match.group(1)
        for match in re.finditer(r'"Get": "Steps\.(\w+)\.', json.dumps(value, sort_keys=True))
    }


def inputs(step: str) -> dict[str, tuple[Any, str]]:
    return {
        i["InputName"]: (i["S3Input"]["S3Uri"], i["S3Input"]["LocalPath"])
        for i in STEPS[step]["Arguments"]["ProcessingInputs"]
    }


def outputs(step: str) -> dict[str, str]:
    config = STEPS[step]["Arguments"]["ProcessingOutputConfig"]["Outputs"]
    return {o["OutputName"]: o["S3Output"]["LocalPath"] for o in config}


def flags(step: str) -> dict[str, Any]:
    arguments = STEPS[step]["Arguments"]["AppSpecification"]["ContainerArguments"]
    return dict(zip(arguments[::2], arguments[1::2], strict=True))


# -- parameters --------------------------------------------------------------------------------


def test_the_parameters_are_the_contracts_strings_in_its_order_without_defaults() -> None:
    assert DEFINITION["Version"] == "2020-12-01"
    assert [p["Name"] for p in DEFINITION["Parameters"]] == CONTRACT
    # All passed on every start, so none has a default to fall back on silently.
    assert all(p == {"Name": p["Name"], "Type": "String"} for p in DEFINITION["Parameters"])


def test_the_parameters_are_exactly_the_ones_the_controller_passes() -> None:
    assert [p["Name"] for p in DEFINITION["Parameters"]] == list(PIPELINE_PARAMETERS)


# -- the step graph ----------------------------------------------------------------------------


def test_the_steps_and_their_dependencies_are_the_contracts() -> None:
    # PreprocessData -> TrainModel -> EvaluateModel -> CheckGate -> RegisterModel | GateFailed,
    # and PreprocessData, TrainModel -> BaselineData -> CheckGate.
    assert [s["Name"] for s in DEFINITION["Steps"]] == [
        "PreprocessData", "TrainModel", "EvaluateModel", "BaselineData", "CheckGate",
    ]  # fmt: skip
    assert {name: step["Type"] for name, step in STEPS.items()} == {
        "PreprocessData": "Processing",
        "TrainModel": "Training",
        "EvaluateModel": "Processing",
        "BaselineData": "Processing",
        "CheckGate": "Condition",
        "RegisterModel": "RegisterModel",
        "GateFailed": "Fail",
    }
    needs = {
        name: references(step["Arguments"]) | set(step.get("DependsOn", []))
        for name, step in STEPS.items()
        if name != "CheckGate"
    }
    needs["CheckGate"] = references(STEPS["CheckGate"]["Arguments"]["Conditions"]) | set(
        STEPS["CheckGate"]["DependsOn"]
    )
    assert needs == {
        "PreprocessData": set(),
        "TrainModel": {"PreprocessData"},
        "EvaluateModel": {"PreprocessData", "TrainModel"},
        "BaselineData": {"PreprocessData", "TrainModel"},  # the candidate answers its rows
        "CheckGate": {"EvaluateModel", "BaselineData"},
        "RegisterModel": {"TrainModel", "EvaluateModel", "BaselineData"},
        "GateFailed": {"EvaluateModel"},
    }
    gate = STEPS["CheckGate"]["Arguments"]
    assert [s["Name"] for s in gate["IfSteps"]] == ["RegisterModel"]
    assert [s["Name"] for s in gate["ElseSteps"]] == ["GateFailed"]


def test_each_processing_step_runs_its_script_from_the_code_bundle() -> None:
    for name, script in (
        ("PreprocessData", "preprocess.py"),
        ("EvaluateModel", "evaluate.py"),
        ("BaselineData", "baseline.py"),
    ):
        app = STEPS[name]["Arguments"]["AppSpecification"]
        assert app["ContainerEntrypoint"] == ["python3", f"/opt/ml/processing/input/code/{script}"]
        assert app["ImageUri"] == "${ProcessingImage}"
        # The bundle named by its content: the definition runs the code it was built with.
        assert inputs(name)["code"] == (CODE, "/opt/ml/processing/input/code")
        assert STEPS[name]["Arguments"]["RoleArn"] == "${PipelineRoleArn}"


def test_preprocessing_reads_the_training_data_and_writes_the_splits_and_dataset_summary() -> None:
    assert inputs("PreprocessData")["training"] == (
        get("TrainingData"),
        "/opt/ml/processing/input/training",
    )
    assert flags("PreprocessData") == {
        "--drift-dataset": get("DriftDataset"),
        "--run-name": get("RunName"),
    }
    assert outputs("PreprocessData") == {
        split: f"/opt/ml/processing/output/{split}"
        for split in ("train", "validation", "test", "dataset")
    }


def test_training_is_the_builtin_xgboost_with_the_models_objective_on_the_splits() -> None:
    arguments = STEPS["TrainModel"]["Arguments"]
    assert arguments["AlgorithmSpecification"]["TrainingImage"] == "${XGBoostImage}"
    assert arguments["HyperParameters"]["objective"] == get("Objective")
    # The built-in algorithm takes strings only.
    assert all(
        isinstance(v, str) for k, v in arguments["HyperParameters"].items() if k != "objective"
    )
    channels = {
        c["ChannelName"]: (c["ContentType"], c["DataSource"]["S3DataSource"]["S3Uri"])
        for c in arguments["InputDataConfig"]
    }
    assert channels == {
        split: ("text/csv", output("PreprocessData", split)) for split in ("train", "validation")
    }


def test_evaluation_gets_the_model_the_holdout_and_the_dataset_summary_and_the_gate() -> None:
    assert inputs("EvaluateModel") == {
        "code": (CODE, "/opt/ml/processing/input/code"),
        "model": (
            {"Get": "Steps.TrainModel.ModelArtifacts.S3ModelArtifacts"},
            "/opt/ml/processing/model",
        ),
        "test": (output("PreprocessData", "test"), "/opt/ml/processing/test"),
        "dataset": (output("PreprocessData", "dataset"), "/opt/ml/processing/input/dataset"),
    }
    assert flags("EvaluateModel") == {
        "--problem-type": get("ProblemType"),
        "--gate-metric": get("GateMetric"),
        "--gate-direction": get("GateDirection"),
        "--gate-threshold": get("GateThreshold"),
        "--champion-model-data": get("ChampionModelData"),
        "--champion-package-arn": get("ChampionModelPackageArn"),
    }
    assert outputs("EvaluateModel") == {"evaluation": "/opt/ml/processing/evaluation"}
    assert STEPS["EvaluateModel"]["PropertyFiles"] == [
        {
            "PropertyFileName": "EvaluationReport",
            "OutputName": "evaluation",
            "FilePath": "evaluation.json",
        }
    ]


def test_the_baseline_is_computed_from_the_training_split_with_the_features() -> None:
    assert inputs("BaselineData")["train"] == (
        output("PreprocessData", "train"),
        "/opt/ml/processing/input/train",
    )
    # ...and the candidate, whose answers to the same rows are the prediction's baseline
    assert inputs("BaselineData")["model"] == (
        {"Get": "Steps.TrainModel.ModelArtifacts.S3ModelArtifacts"},
        "/opt/ml/processing/model",
    )
    assert flags("BaselineData") == {
        "--feature-names": get("FeatureNames"),
        "--categorical-features": get("CategoricalFeatures"),
    }
    assert outputs("BaselineData") == {"baseline": "/opt/ml/processing/baseline"}


# -- the gate and the registration -------------------------------------------------------------


def test_the_gate_reads_meets_threshold_from_the_evaluation_report() -> None:
    report = {"Get": "Steps.EvaluateModel.PropertyFiles.EvaluationReport"}
    assert STEPS["CheckGate"]["Arguments"]["Conditions"] == [
        {
            "Type": "Equals",
            "LeftValue": {"Std:JsonGet": {"PropertyFile": report, "Path": "gate.meets_threshold"}},
            "RightValue": True,
        }
    ]
    # A failed gate fails the execution with a reason that names the metric and its value.
    message = STEPS["GateFailed"]["Arguments"]["ErrorMessage"]["Std:Join"]["Values"]
    assert get("GateMetric") in message
    assert {"Std:JsonGet": {"PropertyFile": report, "Path": "gate.candidate"}} in message


def test_the_candidate_is_registered_with_its_report_baselines_and_run() -> None:
    arguments = STEPS["RegisterModel"]["Arguments"]
    report = join(output("EvaluateModel", "evaluation"), "evaluation.json")
    baseline = output("BaselineData", "baseline")
    assert arguments["ModelPackageGroupName"] == get("ModelPackageGroup")
    assert arguments["ModelApprovalStatus"] == "PendingManualApproval"
    # What modelfresh.aws.sagemaker reads: ModelQuality Statistics is the evaluation report...
    assert arguments["ModelMetrics"]["ModelQuality"] == {
        "Statistics": {"ContentType": "application/json", "S3Uri": report}
    }
    # ...and the drift check of a promoted model reads its baseline files.
    assert arguments["DriftCheckBaselines"] == {
        "ModelDataQuality": {
            kind.title(): {
                "ContentType": "application/json",
                "S3Uri": join(baseline, f"{kind}.json"),
            }
            for kind in ("statistics", "constraints")
        }
    }
    assert arguments["CustomerMetadataProperties"] == {
        "PipelineExecutionArn": {"Get": "Execution.PipelineExecutionArn"},
        "RunName": get("RunName"),
    }
    spec = arguments["InferenceSpecification"]
    assert spec["SupportedContentTypes"] == spec["SupportedResponseMIMETypes"] == ["text/csv"]
    [container] = spec["Containers"]
    assert container["Image"] == "${XGBoostImage}"
    assert container["ModelDataUrl"] == {"Get": "Steps.TrainModel.ModelArtifacts.S3ModelArtifacts"}


def test_everything_the_steps_write_lands_under_the_outputs_prefix_the_role_may_write() -> None:
    written = [
        o["S3Output"]["S3Uri"]
        for step in STEPS.values()
        for o in step["Arguments"].get("ProcessingOutputConfig", {}).get("Outputs", [])
    ] + [STEPS["TrainModel"]["Arguments"]["OutputDataConfig"]["S3OutputPath"]]
    prefix = f"s3://${{ArtifactsBucket}}/{bundle.OUTPUT_PREFIX}"
    for uri in written:
        # <prefix>/<pipeline>/<execution id>/<step>/<output>: runs never overwrite each other.
        assert uri["Std:Join"]["Values"][:3] == [
            prefix,
            {"Get": "Execution.PipelineName"},
            {"Get": "Execution.PipelineExecutionId"},
        ]
    policy = json.dumps(TEMPLATE["Resources"]["RetrainPipelinePolicy"])
    assert f"/{bundle.OUTPUT_PREFIX}/*" in policy


# -- deployment-specific values ----------------------------------------------------------------


def test_the_file_holds_placeholders_and_nothing_specific_to_an_account_or_region() -> None:
    assert bundle.placeholders(TEXT) == set(bundle.PLACEHOLDERS)
    assert "$" not in re.sub(r"\$\{\w+\}", "", TEXT)  # Fn::Sub would read any other "$"
    assert not re.search(r"\d{12}", TEXT)  # no account
    assert not re.search(r"\b[a-z]{2}(-[a-z]+)+-\d\b", TEXT)  # no region
    assert "sentinel" not in TEXT
    assert "taxi-fare" not in TEXT  # one pipeline for every model: names come from parameters
    written = json.dumps(DEFINITION, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert written == TEXT  # sorted keys, one layout: a rebuild diffs only where it changed


def bodies() -> dict[bool, tuple[str, dict[str, Any]]]:
    """The template's two Fn::Sub bodies and their variables, by whether they are encrypted."""
    condition, encrypted, plain = RESOURCE["Properties"]["PipelineDefinition"][
        "PipelineDefinitionBody"
    ]["Fn::If"]
    assert condition == "Encrypt"
    return {True: tuple(encrypted["Fn::Sub"]), False: tuple(plain["Fn::Sub"])}


@pytest.mark.parametrize("encrypted", [False, True])
def test_the_template_deploys_the_file_and_fills_every_placeholder(encrypted: bool) -> None:
    properties = RESOURCE["Properties"]
    body, variables = bodies()[encrypted]
    assert body == bundle.definition_text(encrypted=encrypted)
    assert set(variables) == bundle.placeholders_of(encrypted=encrypted)
    assert variables["PipelineRoleArn"] == {"Fn::GetAtt": ["RetrainPipelineRole", "Arn"]}
    assert properties["RoleArn"] == {"Fn::GetAtt": ["RetrainPipelineRole", "Arn"]}
    for placeholder, tag in bundle.IMAGE_TAGS.items():
        uri, account = variables[placeholder]["Fn::Sub"]
        assert uri == "${Account}.dkr.ecr.${AWS::Region}.${AWS::URLSuffix}/sagemaker-xgboost:" + tag
        assert account == {
            "Account": {"Fn::FindInMap": ["XGBoostRegistry", {"Ref": "AWS::Region"}, "Account"]}
        }
    # Filled in, nothing is left for SageMaker to stumble on.
    filled = bundle.substitute(body, {name: f"value-of-{name}" for name in variables})
    assert "${" not in filled
    json.loads(filled)


def test_the_encrypted_definition_is_the_plain_one_with_the_key_on_every_job() -> None:
    encrypted = bundle.load(bundle.definition_text(encrypted=True))
    key = "${" + bundle.KEY_PLACEHOLDER + "}"

    def strip(node: Any, path: str, found: list[str]) -> Any:
        """The node without its key fields; their paths (under `path`) go to `found`."""
        if isinstance(node, dict):
            kept = {}
            for name, value in node.items():
                if name in bundle.KEY_FIELDS and value == key:
                    found.append(f"{path}{name}")
                else:
                    kept[name] = strip(value, f"{path}{name}.", found)
            return kept
        if isinstance(node, list):
            return [strip(v, path, found) for v in node]
        return node

    keyed: dict[str, list[str]] = {}
    plain_steps = [
        strip(step, "", keyed.setdefault(step["Name"], [])) for step in encrypted["Steps"]
    ]

    # The key, and nothing else, tells the two apart...
    assert {**encrypted, "Steps": plain_steps} == DEFINITION
    # ... and every job encrypts its volume and its outputs with it.
    processing = ["Arguments.ProcessingOutputConfig.KmsKeyId",
                  "Arguments.ProcessingResources.ClusterConfig.VolumeKmsKeyId"]  # fmt: skip
    training = ["Arguments.OutputDataConfig.KmsKeyId", "Arguments.ResourceConfig.VolumeKmsKeyId"]
    kinds = {"Processing": processing, "Training": training}
    assert {name: sorted(paths) for name, paths in keyed.items()} == {
        name: sorted(kinds.get(step["Type"], [])) for name, step in steps().items() if name in keyed
    }
    assert sorted(keyed["TrainModel"]) == sorted(training)
    # Without the key, no job names one (SageMaker documents no meaning for an empty key).
    assert not [field for field in bundle.KEY_FIELDS if f'"{field}"' in TEXT]


def test_every_region_has_the_xgboost_registry() -> None:
    registries = TEMPLATE["Mappings"]["XGBoostRegistry"]
    assert registries["us-east-1"] == {"Account": "683313688378"}
    assert len(registries) > 30
    assert all(re.fullmatch(r"\d{12}", r["Account"]) for r in registries.values())


def test_the_template_pipeline_is_the_one_the_models_name() -> None:
    name = RESOURCE["Properties"]["PipelineName"]
    assert name == {"Ref": "RetrainPipelineName"}
    default = TEMPLATE["Parameters"]["RetrainPipelineName"]["Default"]
    environments = [
        e for e in tomllib.loads((ROOT / "samconfig.toml").read_text()) if e != "version"
    ]
    for environment in environments:
        overrides = read_samconfig_parameters(ROOT / "samconfig.toml", environment)
        deployed = overrides.get("RetrainPipelineName", default)
        models = load_config(samconfig.environment(environment).models_file).models.values()
        assert {model.pipeline for model in models} == {deployed}, environment


def test_rendering_the_template_again_changes_nothing() -> None:
    registries = {r: v["Account"] for r, v in TEMPLATE["Mappings"]["XGBoostRegistry"].items()}
    definitions = {e: bundle.definition_text(encrypted=e) for e in (False, True)}
    assert template.render(TEMPLATE_TEXT, definitions, registries) == TEMPLATE_TEXT


def test_rendering_replaces_the_bodies_and_the_mapping_only() -> None:
    before = (
        'Mappings:\n  XGBoostRegistry:\n    old-1: {Account: "1"}\n\nResources:\n  P:\n'
        "    Properties:\n      PipelineDefinitionBody: !If\n        - Encrypt\n"
        "        - !Sub  # pipelines/definition.encrypted.json\n          - |\n            {}\n"
        "          - A: b\n"
        "        - !Sub  # pipelines/definition.json\n          - |\n            {}\n"
        "          - A: c\n      Other: 1\n"
    )
    after = template.render(
        before,
        {False: '{\n  "a": 1\n}\n', True: '{\n  "k": 2\n}\n'},
        {"eu-west-1": "2", "af-south-1": "3"},
    )
    assert after == (
        'Mappings:\n  XGBoostRegistry:\n    af-south-1: {Account: "3"}\n'
        '    eu-west-1: {Account: "2"}\n\nResources:\n  P:\n'
        "    Properties:\n      PipelineDefinitionBody: !If\n        - Encrypt\n"
        "        - !Sub  # pipelines/definition.encrypted.json\n          - |\n"
        '            {\n              "k": 2\n            }\n          - A: b\n'
        "        - !Sub  # pipelines/definition.json\n          - |\n"
        '            {\n              "a": 1\n            }\n          - A: c\n      Other: 1\n'
    )
    with pytest.raises(template.TemplateLayoutError):
        template.render("Resources: {}\n", {False: "{}\n"}, {})


# -- the code bundle ---------------------------------------------------------------------------


def test_the_bundle_ships_driftcheck_beside_the_scripts() -> None:
    shipped = bundle.files()
    engine = {p.relative_to(bundle.DRIFTCHECK).as_posix() for p in bundle.DRIFTCHECK.rglob("*.py")}
    assert {n.removeprefix("driftcheck/") for n in shipped if n.startswith("driftcheck/")} == engine
    assert not [n for n in shipped if "__pycache__" in n or n.endswith(".pyc")]


def test_the_bundle_ships_the_metric_catalogue_and_no_other_shared_module() -> None:
    # Given the bundle and the catalogue the configuration check uses
    shipped = bundle.files()
    catalogue = bundle.ROOT / "layers" / "shared" / "modelfresh" / "quality_metrics.py"

    # Then the steps get the same bytes, and the catalogue needs nothing a container lacks
    assert [n for n in shipped if n.startswith("modelfresh/")] == ["modelfresh/quality_metrics.py"]
    assert shipped["modelfresh/quality_metrics.py"] == catalogue.read_bytes()
    imported = set()
    for node in ast.walk(ast.parse(catalogue.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(str(node.module).split(".")[0])
    assert imported <= sys.stdlib_module_names


def test_the_bundle_ships_every_script_the_definition_runs() -> None:
    shipped = bundle.files()
    for step in STEPS.values():
        entrypoint = step["Arguments"].get("AppSpecification", {}).get("ContainerEntrypoint")
        if entrypoint:
            assert entrypoint[1].removeprefix("/opt/ml/processing/input/code/") in shipped


def test_the_digest_depends_on_names_and_contents_only() -> None:
    files = {"a.py": b"1", "driftcheck/b.py": b"2"}
    assert bundle.digest(files) == bundle.digest(dict(reversed(files.items())))
    assert bundle.digest(files) != bundle.digest({**files, "a.py": b"3"})
    assert bundle.digest(files) != bundle.digest({"c.py": b"1", "driftcheck/b.py": b"2"})
    assert re.fullmatch(r"[0-9a-f]{16}", bundle.digest(files))


def test_upload_puts_every_file_under_the_digest_prefix() -> None:
    class Bucket:
        def __init__(self) -> None:
            self.objects: dict[tuple[str, str], bytes] = {}

        def put_object(self, *, Bucket: str, Key: str, Body: bytes) -> None:
            self.objects[Bucket, Key] = Body

    files = {"a.py": b"1", "driftcheck/b.py": b"2"}
    s3 = Bucket()

    uri = bundle.upload(s3, "artifacts", files)

    prefix = f"modelfresh/pipeline-code/{bundle.digest(files)}"
    assert uri == f"s3://artifacts/{prefix}/"
    assert s3.objects == {("artifacts", f"{prefix}/{name}"): body for name, body in files.items()}


def test_substitution_refuses_a_missing_or_an_unknown_value() -> None:
    assert bundle.substitute("${A}-${B}", {"A": "1", "B": "2"}) == "1-2"
    with pytest.raises(ValueError, match="missing \\['B'\\]"):
        bundle.substitute("${A}-${B}", {"A": "1"})
    with pytest.raises(ValueError, match="unused \\['C'\\]"):
        bundle.substitute("${A}", {"A": "1", "C": "3"})


def test_deploy_reads_the_region_and_bucket_sam_deploy_uses() -> None:
    prod = samconfig.environment("prod", ROOT / "samconfig.toml")
    assert prod.region == "us-east-1"
    assert prod.parameters["EnableCloudTrail"] == "false"
    # No ArtifactsBucket: the stack's own bucket, as the template derives it
    assert prod.artifacts_bucket("123456789012", "us-east-1") == (
        "modelfresh-prod-artifacts-us-east-1-123456789012"
    )
    assert not deploy.stale_definition()
