"""Pipeline executions that really run, on this machine: the local cloud's SageMaker Pipelines.

moto stores a pipeline's definition and nothing more. Here a pipeline execution runs the
definition that was deployed (pipelines/definition.json, substituted by the template), step by
step, the way SageMaker would:

- a Processing step downloads its ProcessingInputs from the local S3 into a private copy of
  the container's /opt/ml/processing tree, runs the step's code (the script its ContainerEntrypoint
  names, as uploaded to S3 by the deploy) in this process, and uploads its ProcessingOutputs;
- a Training step with the built-in XGBoost image runs pipelines/steps/train.py (the local
  stand-in for the algorithm's container, on the xgboost package) with the step's channels
  and hyperparameters, and uploads model.tar.gz where SageMaker would put it;
- a Condition step evaluates its conditions (Std:JsonGet reads a step's property file) and
  runs its IfSteps or ElseSteps; a Fail step fails the execution with its message;
- a RegisterModel step calls CreateModelPackage with its resolved arguments.

Expressions ({"Get": "Parameters.X"}, {"Get": "Steps.S.ProcessingOutputConfig.Outputs['o']
.S3Output.S3Uri"}, {"Get": "Execution.PipelineExecutionArn"}, {"Std:Join": ...}) are resolved
from the execution's parameters and the results of the steps already run. Scripts run in this
process (one step at a time, under a lock) so that their boto3 calls reach the local cloud in
either of its modes; each sees its container paths under a scratch directory
(`common.CONTAINER_ROOT`).

Kept whole at ~500 lines: one runner, and helpers (paths, S3 channels, scripts) only it uses.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import re
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOCAL_TRAINER = ROOT / "pipelines" / "steps" / "train.py"
PROCESSING_ROOT = "/opt/ml/processing"
CONTAINER_ROOT = "/opt/ml"
# Scripts change interpreter-wide state (sys.path, sys.argv, common.CONTAINER_ROOT): one at a time.
_STEP_LOCK = threading.Lock()
_STEP_PATH = re.compile(r"^Steps\.([^.\[]+)\.(.+)$")
_TOKEN = re.compile(r"([A-Za-z0-9_]+)|\['([^']*)'\]|\[(\d+)\]")


class StepFailed(Exception):
    """A step failed; the execution fails with this reason."""


@dataclass
class StepRecord:
    """One step as ListPipelineExecutionSteps reports it."""

    name: str
    status: str = "Succeeded"
    metadata: dict[str, Any] = field(default_factory=dict)
    failure: str = ""

    def as_api(self) -> dict[str, Any]:
        step: dict[str, Any] = {
            "StepName": self.name,
            "StepStatus": self.status,
            "Metadata": self.metadata,
        }
        if self.failure:
            step["FailureReason"] = self.failure
        return step


@dataclass
class Outcome:
    """How an execution ended: its steps in the order they ran, and its failure if any."""

    steps: list[StepRecord]
    failure: str = ""
    package_arn: str | None = None

    @property
    def status(self) -> str:
        return "Failed" if self.failure else "Succeeded"


class DefinitionRunner:
    """Runs one pipeline execution of a definition (a parsed pipeline definition JSON)."""

    def __init__(
        self,
        definition: Mapping[str, Any],
        parameters: Mapping[str, str],
        *,
        execution_arn: str,
        client: Callable[[str], Any],
    ) -> None:
        self.definition = definition
        self.execution_arn = execution_arn
        self.client = client
        declared = {p["Name"]: p for p in definition.get("Parameters", [])}
        unknown = sorted(set(parameters) - set(declared))
        if unknown:
            # SageMaker refuses StartPipelineExecution with an undeclared parameter.
            raise StepFailed(f"parameters not declared by the pipeline: {', '.join(unknown)}")
        self.parameters = {
            name: parameters.get(name, spec.get("DefaultValue")) for name, spec in declared.items()
        }
        self.results: dict[str, dict[str, Any]] = {}  # step name -> its properties
        self.records: list[StepRecord] = []

    # -- the execution -------------------------------------------------------------------------

    def run(self) -> Outcome:
        try:
            self._run_steps(self.definition.get("Steps", []))
        except StepFailed as failed:
            return Outcome(self.records, failure=str(failed), package_arn=self._package())
        return Outcome(self.records, package_arn=self._package())

    def _package(self) -> str | None:
        for record in self.records:
            arn = record.metadata.get("RegisterModel", {}).get("Arn")
            if arn:
                return str(arn)
        return None

    def _run_steps(self, steps: Sequence[Mapping[str, Any]]) -> None:
        for step in _in_dependency_order(steps):
            record = StepRecord(step["Name"])
            self.records.append(record)
            try:
                self._run_step(step, record)
            except StepFailed as failed:
                record.status, record.failure = "Failed", str(failed)
                raise
            except Exception as error:  # any script error fails its step, as in SageMaker
                record.status = "Failed"
                record.failure = f"{type(error).__name__}: {error}"
                raise StepFailed(f"step {step['Name']} failed: {record.failure}") from error

    def _run_step(self, step: Mapping[str, Any], record: StepRecord) -> None:
        kind = step["Type"]
        arguments = self.resolve(step.get("Arguments", {}))
        if kind == "Processing":
            self.results[step["Name"]] = self._processing(step, arguments)
        elif kind == "Training":
            self.results[step["Name"]] = self._training(step["Name"], arguments)
        elif kind == "Condition":
            outcome = all(self._condition(c) for c in arguments["Conditions"])
            record.metadata = {"Condition": {"Outcome": str(outcome).lower()}}
            branch = step["Arguments"]["IfSteps" if outcome else "ElseSteps"]
            self._run_steps(branch)
        elif kind == "Fail":
            raise StepFailed(str(arguments.get("ErrorMessage", "the pipeline's Fail step ran")))
        elif kind == "RegisterModel":
            created = self.client("sagemaker").create_model_package(**_api_arguments(arguments))
            arn = created["ModelPackageArn"]
            record.metadata = {"RegisterModel": {"Arn": arn}}
            self.results[step["Name"]] = {"ModelPackageArn": arn}
        else:
            raise StepFailed(f"step {step['Name']}: the local cloud cannot run {kind} steps")

    # -- expressions -------------------------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        """A definition value with every expression replaced by what it evaluates to."""
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Get"}:
            return self._get(value["Get"])
        if set(value) == {"Std:Join"}:
            join = value["Std:Join"]
            return str(join["On"]).join(_text(self.resolve(v)) for v in join["Values"])
        if set(value) == {"Std:JsonGet"}:
            return self._json_get(value["Std:JsonGet"])
        return {k: self.resolve(v) for k, v in value.items()}

    def _get(self, path: str) -> Any:
        if path.startswith("Parameters."):
            name = path.removeprefix("Parameters.")
            if name not in self.parameters:
                raise StepFailed(f"the definition reads an undeclared parameter {name}")
            return self.parameters[name]
        if path.startswith("Execution."):
            return self._execution_variable(path.removeprefix("Execution."))
        match = _STEP_PATH.match(path)
        if match is None or match.group(1) not in self.results:
            raise StepFailed(f"cannot resolve {path!r}: no such step has run")
        return _walk(self.results[match.group(1)], match.group(2), path)

    def _execution_variable(self, name: str) -> str:
        pipeline = self.execution_arn.split(":pipeline/")[1].split("/execution/")[0]
        known = {
            "PipelineExecutionArn": self.execution_arn,
            "PipelineExecutionId": self.execution_arn.rsplit("/", 1)[-1],
            "PipelineName": pipeline,
            "PipelineArn": self.execution_arn.split("/execution/")[0],
        }
        if name not in known:
            raise StepFailed(f"the local cloud does not know the execution variable {name}")
        return known[name]

    def _json_get(self, spec: Mapping[str, Any]) -> Any:
        file_ref = spec["PropertyFile"]
        step_name, property_file = _property_file_of(file_ref)
        step = self.results.get(step_name)
        if step is None:
            raise StepFailed(f"property file {property_file} of {step_name}: the step has not run")
        document = step["PropertyFiles"][property_file]
        return _walk(document, str(self.resolve(spec["Path"])), f"{property_file}:{spec['Path']}")

    def _condition(self, condition: Mapping[str, Any]) -> bool:
        kind = condition["Type"]
        if kind == "Not":
            return not self._condition(condition["Expression"])
        if kind == "Or":
            return any(self._condition(c) for c in condition["Conditions"])
        if kind == "In":
            return condition["QueryValue"] in condition["Values"]
        left, right = condition["LeftValue"], condition["RightValue"]
        compare = {
            "Equals": lambda a, b: a == b,
            "GreaterThan": lambda a, b: a > b,
            "GreaterThanOrEqualTo": lambda a, b: a >= b,
            "LessThan": lambda a, b: a < b,
            "LessThanOrEqualTo": lambda a, b: a <= b,
        }.get(kind)
        if compare is None:
            raise StepFailed(f"the local cloud cannot evaluate {kind} conditions")
        return bool(compare(left, right))

    # -- processing and training ---------------------------------------------------------------

    def _processing(self, step: Mapping[str, Any], arguments: Mapping[str, Any]) -> dict[str, Any]:
        s3 = self.client("s3")
        with tempfile.TemporaryDirectory(prefix="local-processing-") as scratch:
            root = Path(scratch)
            for item in arguments.get("ProcessingInputs", []):
                source = item["S3Input"]
                _download(s3, source["S3Uri"], _local(root, source["LocalPath"]))
            outputs = arguments.get("ProcessingOutputConfig", {}).get("Outputs", [])
            for item in outputs:
                _local(root, item["S3Output"]["LocalPath"]).mkdir(parents=True, exist_ok=True)
            app = arguments["AppSpecification"]
            script = _script_of(app.get("ContainerEntrypoint", []), root)
            job = f"pipelines-{self.execution_arn.rsplit('/', 1)[-1]}-{step['Name']}"
            with self._logged("/aws/sagemaker/ProcessingJobs", job) as log:
                _run_script(script, app.get("ContainerArguments", []), root, log)
            for item in outputs:
                target = item["S3Output"]
                _upload(s3, _local(root, target["LocalPath"]), target["S3Uri"])
            files = {}
            for spec in step.get("PropertyFiles", []):
                output = next(o for o in outputs if o["OutputName"] == spec["OutputName"])
                path = _local(root, output["S3Output"]["LocalPath"]) / spec["FilePath"]
                files[spec["PropertyFileName"]] = json.loads(path.read_text())
        return dict(arguments) | {"PropertyFiles": files}

    @contextlib.contextmanager
    def _logged(self, group: str, stream: str) -> Iterator[io.StringIO]:
        """What a job prints goes to CloudWatch Logs, where SageMaker puts a job's output
        (group /aws/sagemaker/<kind>Jobs, a stream per job), even when the job fails."""
        log = io.StringIO()
        try:
            yield log
        finally:
            logs = self.client("logs")
            with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
                logs.create_log_group(logGroupName=group)
            with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
                logs.create_log_stream(logGroupName=group, logStreamName=stream)
            lines = log.getvalue().splitlines() or ["(no output)"]
            stamp = int(time.time() * 1000)
            logs.put_log_events(
                logGroupName=group,
                logStreamName=stream,
                logEvents=[{"timestamp": stamp, "message": line} for line in lines],
            )

    def _training(self, name: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
        image = arguments["AlgorithmSpecification"]["TrainingImage"]
        if "xgboost" not in image:
            raise StepFailed(f"step {name}: the local cloud trains the built-in XGBoost only")
        s3 = self.client("s3")
        job = f"pipelines-{self.execution_arn.rsplit('/', 1)[-1]}-{name}"
        with tempfile.TemporaryDirectory(prefix="local-training-") as scratch:
            root = Path(scratch)
            for channel in arguments.get("InputDataConfig", []):
                source = channel["DataSource"]["S3DataSource"]["S3Uri"]
                _download(s3, source, _local(root, f"/opt/ml/input/data/{channel['ChannelName']}"))
            config = _local(root, "/opt/ml/input/config")
            config.mkdir(parents=True, exist_ok=True)
            hyperparameters = {k: str(v) for k, v in arguments.get("HyperParameters", {}).items()}
            (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
            model_dir = _local(root, "/opt/ml/model")
            model_dir.mkdir(parents=True, exist_ok=True)
            with self._logged("/aws/sagemaker/TrainingJobs", job) as log:
                _run_script(LOCAL_TRAINER, [], root, log)
            archive = io.BytesIO()
            with tarfile.open(fileobj=archive, mode="w:gz") as tar:
                for path in sorted(model_dir.iterdir()):
                    tar.add(path, arcname=path.name)
        output = arguments["OutputDataConfig"]["S3OutputPath"].rstrip("/")
        uri = f"{output}/{job}/output/model.tar.gz"
        bucket, key = _split(uri)
        s3.put_object(Bucket=bucket, Key=key, Body=archive.getvalue())
        return dict(arguments) | {
            "TrainingJobName": job,
            "ModelArtifacts": {"S3ModelArtifacts": uri},
        }


# -- helpers ------------------------------------------------------------------------------------


def _in_dependency_order(steps: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Steps ordered so that each runs after the steps it depends on (DependsOn, or a
    reference to their properties), keeping the definition's order where there is a choice."""
    names = {s["Name"] for s in steps}
    needs = {
        s["Name"]: ({*s.get("DependsOn", [])} | _referenced_steps(s.get("Arguments", {}))) & names
        for s in steps
    }
    ordered: list[Mapping[str, Any]] = []
    done: set[str] = set()
    while len(ordered) < len(steps):
        ready = [s for s in steps if s["Name"] not in done and needs[s["Name"]] <= done]
        if not ready:
            raise StepFailed("the pipeline's steps depend on each other in a cycle")
        ordered.append(ready[0])
        done.add(ready[0]["Name"])
    return ordered


def _referenced_steps(value: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        get = value.get("Get")
        if isinstance(get, str) and (match := _STEP_PATH.match(get)):
            found.add(match.group(1))
        for v in value.values():
            found |= _referenced_steps(v)
    elif isinstance(value, list):
        for v in value:
            found |= _referenced_steps(v)
    return found


def _property_file_of(reference: Any) -> tuple[str, str]:
    """(step, property file) of {"Get": "Steps.S.PropertyFiles.F"}."""
    path = reference["Get"] if isinstance(reference, dict) else str(reference)
    match = re.match(r"^Steps\.([^.]+)\.PropertyFiles\.(.+)$", path)
    if match is None:
        raise StepFailed(f"not a property file reference: {path!r}")
    return match.group(1), match.group(2)


def _walk(document: Any, path: str, whole: str) -> Any:
    """document['a']['b'][0]... for the path a.b[0] (lists of named items, such as
    ProcessingOutputConfig.Outputs['train'], are indexed by their name)."""
    value = document
    for name, key, index in _TOKEN.findall(path):
        try:
            if index:
                value = value[int(index)]
            elif key and isinstance(value, list):
                value = next(v for v in value if key in (v.get("OutputName"), v.get("InputName")))
            else:
                value = value[name or key]
        except (KeyError, IndexError, TypeError, StopIteration):
            raise StepFailed(f"cannot resolve {whole!r}") from None
    return value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _api_arguments(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """A step's Arguments as boto3 takes them (the definition may carry empty optionals)."""
    return {k: v for k, v in arguments.items() if v not in (None, "", [], {})}


def _local(root: Path, container_path: str) -> Path:
    """Where a container path (/opt/ml/...) is in the scratch tree `root`."""
    path = PurePosixPath(container_path)
    if ".." in path.parts or not path.is_relative_to(CONTAINER_ROOT):
        raise StepFailed(f"{container_path} is outside the container's /opt/ml")
    return root / path.relative_to("/")


def _split(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise StepFailed(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _download(s3: Any, uri: str, target: Path) -> None:
    """An S3 object, or every object under a prefix, into a directory (as S3Prefix inputs)."""
    bucket, key = _split(uri)
    target.mkdir(parents=True, exist_ok=True)
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
        keys += [o["Key"] for o in page.get("Contents", [])]
    if not keys:
        raise StepFailed(f"no input at {uri}")
    exact = key in keys  # an object's own key: that one file (an S3Prefix of one object)
    for name in keys:
        relative = Path(name).name if exact else name.removeprefix(key).lstrip("/")
        path = target / relative
        if name != key and exact:
            continue  # other objects that merely share the file's name as a prefix
        if not path.resolve().is_relative_to(target.resolve()):
            raise StepFailed(f"s3://{bucket}/{name} would land outside {target}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(s3.get_object(Bucket=bucket, Key=name)["Body"].read())


def _upload(s3: Any, source: Path, uri: str) -> None:
    bucket, key = _split(uri)
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        name = f"{key.rstrip('/')}/{path.relative_to(source).as_posix()}"
        s3.put_object(Bucket=bucket, Key=name, Body=path.read_bytes())


def _script_of(entrypoint: Sequence[str], root: Path) -> Path:
    """The script a ContainerEntrypoint such as ["python3", "/opt/ml/processing/input/code/x.py"]
    runs, in the step's local tree."""
    scripts = [part for part in entrypoint if part.endswith(".py")]
    if len(scripts) != 1:
        raise StepFailed(f"cannot tell which script {list(entrypoint)} runs")
    path = _local(root, scripts[0])
    if not path.is_file():
        raise StepFailed(f"the step's code {scripts[0]} was not among its inputs")
    return path


def _run_script(script: Path, arguments: Sequence[Any], root: Path, log: io.StringIO) -> None:
    """Run a step script's main(argv) in this process, with its directory importable (as in
    the container, where it runs as `python3 script.py`) and container paths under root.
    What it prints goes to `log`; the last line it writes to stderr is its failure reason."""
    errors = io.StringIO()
    with _STEP_LOCK, _importable(script.parent):
        module = _load(script)
        common = getattr(module, "common", None)  # the step's helpers, as the script imported them
        if common is None or not hasattr(common, "CONTAINER_ROOT"):
            raise StepFailed(f"{script.name}: its common module has no CONTAINER_ROOT")
        saved = common.CONTAINER_ROOT
        common.CONTAINER_ROOT = root
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(errors):
                status = module.main([_text(a) for a in arguments])
        finally:
            common.CONTAINER_ROOT = saved
            log.write(errors.getvalue())
    if status:
        said = [line for line in errors.getvalue().splitlines() if line.strip()]
        raise StepFailed(said[-1] if said else f"{script.name} exited with status {status}")


@contextlib.contextmanager
def _importable(folder: Path) -> Iterator[None]:
    sys.path.insert(0, str(folder))
    before = set(sys.modules)
    try:
        yield
    finally:
        sys.path.remove(str(folder))
        # The step's own modules (common, ...) are its code: the next step loads its own copy.
        for name in set(sys.modules) - before:
            module_file = getattr(sys.modules[name], "__file__", None) or ""
            if module_file.startswith(str(folder)):
                del sys.modules[name]


def _load(script: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"local_step_{script.stem}", script)
    if spec is None or spec.loader is None:
        raise StepFailed(f"cannot load {script}")
    module = importlib.util.module_from_spec(spec)
    # Registered as a script is when run (dataclasses look their module up); _importable()
    # forgets it afterwards with the step's other modules.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    if not hasattr(module, "main"):
        raise StepFailed(f"{script.name} has no main(argv)")
    return module
