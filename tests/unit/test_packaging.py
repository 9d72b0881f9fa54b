"""What ships must agree with itself: template, functions, layer, samconfig and model config."""

from __future__ import annotations

import tomllib
from dataclasses import fields, replace
from pathlib import Path

import pytest
from cfnlint.api import lint_all
from modelfresh.core.config import load_config
from modelfresh.core.errors import DataOutOfReach
from modelfresh.core.settings import Settings

from checks import config as check_config
from localcloud.stack import load_template, read_samconfig_parameters
from ops import samconfig

ROOT = Path(__file__).resolve().parent.parent.parent
TEMPLATE = load_template(ROOT / "template.yaml")
RESOURCES = TEMPLATE["Resources"]
FUNCTIONS = {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::Function"}
ASYNC_EVENTS = {"EventBridgeRule", "Schedule"}


def test_cfn_lint_finds_no_error_or_warning() -> None:
    matches = lint_all((ROOT / "template.yaml").read_text())
    # Informational rules stay visible but do not fail: I4010 asks for an optional
    # architecture Context metadata block this project does not use.
    assert [str(m) for m in matches if m.rule.id[0] != "I" or m.rule.id == "I3011"] == []


def test_each_function_folder_is_one_function_in_the_template() -> None:
    folders = {p.parent.name for p in (ROOT / "functions").glob("*/app.py")}
    code_uris = [v["Properties"]["CodeUri"] for v in FUNCTIONS.values()]
    assert sorted(code_uris) == sorted(f"functions/{name}/" for name in folders)
    for logical_id, function in FUNCTIONS.items():
        folder = function["Properties"]["CodeUri"].split("/")[1]
        assert logical_id == "".join(part.title() for part in folder.split("_")) + "Function"


def test_functions_run_python_312_with_tracing_and_the_shared_layer() -> None:
    globals_ = TEMPLATE["Globals"]["Function"]
    assert globals_["Runtime"] == "python3.12"
    assert globals_["Tracing"] == "Active"
    assert globals_["Layers"] == [{"Ref": "SharedLayer"}]
    for function in FUNCTIONS.values():
        assert "Runtime" not in function["Properties"]
        assert {"Ref": "SharedLayer"} not in function["Properties"].get("Layers", [])


def test_only_the_drift_statistics_functions_take_the_numpy_layer() -> None:
    layered = {
        logical_id: function["Properties"]["Layers"]
        for logical_id, function in FUNCTIONS.items()
        if "Layers" in function["Properties"]
    }
    # SAM appends a function's Layers to the Globals' (SharedLayer).
    drift = [{"Ref": "DriftLayer"}]
    assert layered == {
        "SummariseCaptureFunction": drift,
        "ConcludeDriftCheckFunction": drift,
        "MeasureQualityFunction": drift,
    }
    # ...and no other code reaches the engine: only modelfresh.drift.check and
    # modelfresh.quality.measure import it, and only those functions import those modules.
    shared = ROOT / "layers" / "shared" / "modelfresh"
    engines = (shared / "drift" / "check.py", shared / "quality" / "measure.py")
    for folder in (ROOT / "functions").iterdir():
        if folder.name not in ("summarise_capture", "conclude_drift_check", "measure_quality"):
            source = (folder / "app.py").read_text()
            assert "driftcheck" not in source and "drift.check" not in source, folder.name
            assert "quality.measure" not in source, folder.name
    for module in (ROOT / "layers" / "shared" / "modelfresh").rglob("*.py"):
        if module not in engines:
            source = module.read_text()
            assert "import driftcheck" not in source and "from driftcheck" not in source, module
            assert "drift.check import" not in source, module
            assert "quality.measure import" not in source, module


def test_functions_share_one_environment_but_for_the_approval_link() -> None:
    # The local cloud runs every function in one process: per-function variables must not
    # collide. Only the approval email needs the API's URL (a cycle for the API's own
    # function if it were global).
    own = {
        logical_id: set(function["Properties"].get("Environment", {}).get("Variables", {}))
        for logical_id, function in FUNCTIONS.items()
    }
    assert {k: v for k, v in own.items() if v} == {
        "RequestApprovalFunction": {"APPROVAL_BASE_URL"},
    }


def test_the_environment_carries_exactly_the_settings() -> None:
    variables = set(TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]) | {
        "APPROVAL_BASE_URL",
    }
    settings = {f.name.upper() for f in fields(Settings)}
    assert variables - {v for v in variables if v.startswith("POWERTOOLS_")} == settings


def test_asynchronous_triggers_retry_and_dead_letter() -> None:
    for logical_id, function in FUNCTIONS.items():
        events = function["Properties"].get("Events", {})
        if not any(e["Type"] in ASYNC_EVENTS for e in events.values()):
            continue
        invoke = function["Properties"]["EventInvokeConfig"]
        assert invoke["MaximumRetryAttempts"] == 2, logical_id
        assert invoke["DestinationConfig"]["OnFailure"]["Type"] == "SQS", logical_id
        for name, event in events.items():
            assert "RetryPolicy" in event["Properties"], (logical_id, name)
            assert "DeadLetterConfig" in event["Properties"], (logical_id, name)


def test_the_dead_letter_queue_has_an_alarm_on_its_depth() -> None:
    alarm = RESOURCES["DeadLetterQueueAlarm"]["Properties"]
    assert alarm["Namespace"] == "AWS/SQS"
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]}}
    ]


def test_layer_requirements_match_the_lockfile() -> None:
    lock = {
        p["name"]: p["version"] for p in tomllib.loads((ROOT / "uv.lock").read_text())["package"]
    }
    for layer, needed in (("shared", "aws-lambda-powertools"), ("drift", "numpy")):
        lines = (ROOT / "layers" / layer / "requirements.txt").read_text().splitlines()
        pins = dict(line.split("==") for line in lines if line and not line.startswith("#"))
        assert pins == {name: lock[name] for name in pins}, layer
        assert needed in pins, layer


def test_the_layer_sees_every_models_file_and_ships_the_one_its_build_is_given() -> None:
    # sam build copies the layer's folder (following links) and keys its cache on that copy's
    # content: config/ linked in makes every models file reach the build and count for the cache.
    linked = ROOT / "layers" / "shared" / "config"
    assert linked.is_symlink()
    assert linked.resolve() == (ROOT / "config").resolve()
    makefile = (ROOT / "layers" / "shared" / "Makefile").read_text()
    assert "MODELS_FILE := $(or $(MODELFRESH_MODELS_FILE),config/models.toml)" in makefile
    assert 'cp "$(MODELS_FILE)" "$(ARTIFACTS_DIR)/modelfresh/models.toml"' in makefile
    # make build hands it the environment's file, with a build cache per environment
    build = (ROOT / "Makefile").read_text().split("\nbuild:", 1)[1].split("\n\n", 1)[0]
    assert "python -m ops.samconfig models-file $(ENV)" in build
    assert 'MODELFRESH_MODELS_FILE="$$models" $(SAM) build --config-env $(ENV)' in build
    assert "--cache-dir .aws-sam/cache-$(ENV)" in build


def test_every_samconfig_environment_routes_every_mapped_alarm() -> None:
    environments = tomllib.loads((ROOT / "samconfig.toml").read_text())
    environments.pop("version")
    assert environments  # default and prod
    for environment in environments:
        config = load_config(samconfig.environment(environment).models_file)
        mapped = {alarm for model in config.models.values() for alarm in model.drift_alarms}
        for section in ("global", "build", "validate", "deploy"):
            assert section in environments[environment], (environment, section)
        routed = set(
            read_samconfig_parameters(ROOT / "samconfig.toml", environment)
            .get("ExplicitDriftAlarmNames", "")
            .split(",")
        )
        assert mapped <= routed, environment


def test_make_check_config_reads_the_template_as_cfn_lint_does() -> None:
    # (checks/config.py has its own small loader: importing cfn-lint takes seconds.) Its
    # test_the_shipped_configuration_is_served_in_every_environment covers the shipped config.
    assert check_config.load_template(ROOT / "template.yaml") == TEMPLATE


def test_every_models_data_is_within_the_deployments_reach() -> None:
    # The stack's roles read the artifacts bucket and TrainingDataBucket only (and endpoints
    # capture into the artifacts bucket): each environment's models must fit its stack.
    environments = tomllib.loads((ROOT / "samconfig.toml").read_text())
    environments.pop("version")
    for name in environments:
        environment = samconfig.environment(name, ROOT / "samconfig.toml")
        data = environment.data_bucket("<account>", "<region>")
        artifacts = environment.artifacts_bucket("<account>", "<region>")
        for model in load_config(environment.models_file).models.values():
            assert model.data_out_of_reach(artifacts, data) == [], name


def test_the_default_buckets_are_named_as_the_deploy_step_names_them() -> None:
    # S3 names are global: an empty bucket parameter means a name made unique by the account
    # and region, the same in the stack and in `make deploy`, which creates it when missing.
    for parameter, default in (
        ("ArtifactsBucket", samconfig.DEFAULT_ARTIFACTS_BUCKET),
        ("TrainingDataBucket", samconfig.DEFAULT_DATA_BUCKET),
    ):
        assert TEMPLATE["Parameters"][parameter]["Default"] == ""
        derived = {
            "Fn::Sub": default.format(
                stack="${AWS::StackName}", region="${AWS::Region}", account="${AWS::AccountId}"
            )
        }
        condition = (
            "UseDefaultArtifactsBucket"
            if parameter == "ArtifactsBucket"
            else ("UseDefaultDataBucket")
        )
        assert TEMPLATE["Conditions"][condition] == {"Fn::Equals": [{"Ref": parameter}, ""]}
        variable = "ARTIFACTS_BUCKET" if parameter == "ArtifactsBucket" else "DATA_BUCKET"
        assert TEMPLATE["Globals"]["Function"]["Environment"]["Variables"][variable] == {
            "Fn::If": [condition, derived, {"Ref": parameter}]
        }


def test_the_functions_that_list_or_read_models_data_may_use_the_data_bucket() -> None:
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    data_bucket = variables["DATA_BUCKET"]  # the parameter, or its derived default
    objects = {"Fn::Sub": ["arn:${AWS::Partition}:s3:::${Bucket}/*", {"Bucket": data_bucket}]}
    readers = ("PlanDriftCheckFunction", "SummariseCaptureFunction", "ConcludeDriftCheckFunction")
    for logical_id in (*readers, "PlanBatchRunFunction"):
        policies = FUNCTIONS[logical_id]["Properties"]["Policies"]
        reads = [
            s["Resource"]
            for p in policies
            for s in p.get("Statement", [])
            if s["Action"] == "s3:GetObject"
        ]
        assert objects in reads, logical_id
    (statement,) = [
        p for p in FUNCTIONS["PlanRetrainFunction"]["Properties"]["Policies"] if "Statement" in p
    ]
    (listing,) = [s for s in statement["Statement"] if s["Action"] == "s3:ListBucket"]
    bucket_arn = {"Fn::Sub": ["arn:${AWS::Partition}:s3:::${Bucket}", {"Bucket": data_bucket}]}
    assert bucket_arn in listing["Resource"]
    (reading,) = [
        s
        for s in RESOURCES["RetrainPipelinePolicy"]["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "ReadTheTrainingData"
    ]
    objects = {"Fn::Sub": ["arn:${AWS::Partition}:s3:::${Bucket}/*", {"Bucket": data_bucket}]}
    assert reading["Resource"] == [bucket_arn, objects]


def test_a_model_whose_data_is_out_of_reach_is_refused_before_a_run_starts() -> None:
    settings = Settings.from_env(
        {f.name.upper(): "1" if f.type == "int" else "x" for f in fields(Settings)}
        | {"ARTIFACTS_BUCKET": "artifacts", "DATA_BUCKET": "modelfresh-data"}
    )
    model = load_config(ROOT / "config" / "models.toml").model("taxi-fare")
    settings.require_reachable(model)  # the shipped config: fine

    elsewhere = replace(model, training=replace(model.training, data_uri="s3://lake/taxi/"))
    with pytest.raises(DataOutOfReach, match=r"training.data_uri is in bucket 'lake'.*"
                       r"TrainingDataBucket"):  # fmt: skip
        settings.require_reachable(elsewhere)


def test_every_function_that_starts_retrains_times_out_within_the_sweep_grace() -> None:
    # A lease younger than the grace may belong to a starter still alive: the coordinator
    # leaves its run to it, which is only safe if no starter can outlive the grace.
    from modelfresh.retrain.runs import SWEEP_GRACE_SECONDS

    starters = [
        folder.name
        for folder in (ROOT / "functions").iterdir()
        if "container.coordinator" in (folder / "app.py").read_text()  # used or handed on
    ]
    assert sorted(starters) == ["finish_run", "on_drift_alarm", "on_schedule", "sweep_leases"]
    default = TEMPLATE["Globals"]["Function"]["Timeout"]
    for name in starters:
        logical_id = "".join(part.title() for part in name.split("_")) + "Function"
        timeout = FUNCTIONS[logical_id]["Properties"].get("Timeout", default)
        assert timeout < SWEEP_GRACE_SECONDS, logical_id
