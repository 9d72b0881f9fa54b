"""SageMaker Pipeline executions on the local cloud: run for real, or scripted by tests.

moto records a pipeline execution and calls it Succeeded at once. Here an execution stays
Executing until a script ends it. `PipelineRun.execute()` runs the pipeline's deployed
definition for real (localcloud.training); tests that are about the controller, not about
training, end it with `succeed(Candidate(...))`, which does what the real pipeline's steps and
SageMaker would: write the evaluation report to S3, register the candidate model package
(ModelMetrics pointing at the report), list the steps with the RegisterModel step's package,
and emit the status-change events. Which events are emitted can be chosen, to lose one.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from modelfresh import quality_metrics
from moto.sagemaker.models import sagemaker_backends
from moto.sagemaker.utils import get_pipeline_execution_from_arn

from localcloud import patches
from localcloud.models import CANDIDATE, TaxiModel
from localcloud.permissions import acting_as
from localcloud.training import DefinitionRunner

XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
TERMINAL = ("Succeeded", "Failed", "Stopped")


@dataclass(frozen=True)
class Candidate:
    """What one pipeline execution produces: the model it trains (a real one, served by the
    endpoints it is deployed to), the candidate's metrics and, when the pipeline evaluates it
    on the same holdout, the champion's; and the drift baseline of its training data
    (statistics.json, constraints.json), when its baseline step made one."""

    metrics: Mapping[str, float]
    model: TaxiModel = CANDIDATE
    champion_metrics: Mapping[str, float] | None = None
    champion_package: str | None = None
    section: str = "regression_metrics"
    baseline: tuple[Mapping[str, Any], Mapping[str, Any]] | None = None
    # The paired 95% interval of the gate metric's improvement over the champion (positive:
    # better). None: the scripted world has no noise (its standard deviations are 0), so the
    # interval is the improvement itself. `compared=False`: a report from before the
    # evaluation compared them.
    interval: tuple[float, float] | None = None
    compared: bool = True

    def report(
        self, holdout_uri: str, gate: tuple[str, str] = ("rmse", "minimize")
    ) -> dict[str, Any]:
        """The evaluation report, in the layout modelfresh.retrain.gate reads (and
        pipelines/steps/evaluate.py writes), for the run's gate (metric, direction)."""
        report: dict[str, Any] = {
            self.section: {
                k: {"value": v, "standard_deviation": 0.0} for k, v in self.metrics.items()
            },
            "holdout": {"uri": holdout_uri, "rows": 2000},
        }
        if self.champion_metrics is not None:
            report["champion"] = {
                "model_package_arn": self.champion_package,
                self.section: {k: {"value": v} for k, v in self.champion_metrics.items()},
            }
            comparison = self.comparison(*gate)
            if comparison is not None:
                report["comparison"] = comparison
        return report

    def comparison(self, metric: str, direction: str) -> dict[str, Any] | None:
        """The report's paired comparison of the gate metric, as the evaluation step writes it
        (without the resampled differences: the gate then takes the 95% interval as given)."""
        champion = (self.champion_metrics or {}).get(metric)
        if not self.compared or champion is None or metric not in self.metrics:
            return None
        gain = quality_metrics.improvement(direction, self.metrics[metric], champion)
        low, high = self.interval if self.interval is not None else (gain, gain)
        return {
            "metric": metric,
            "direction": direction,
            "difference": gain,
            "interval": [low, high],
            "confidence": 0.95,
            "resamples": 1000,
        }


@dataclass
class PipelineRun:
    """One execution of a pipeline, as the simulator sees it."""

    simulator: PipelineSimulator
    arn: str
    pipeline: str
    parameters: dict[str, str]
    events_emitted: list[str] = field(default_factory=list)
    package_arn: str | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    ended_at: datetime | None = None
    # Set once the execution has ended *and* its status event is out: SageMaker's status
    # changes before the event is emitted, so a reader of the status alone can be early.
    told: threading.Event = field(default_factory=threading.Event)

    @property
    def status(self) -> str:
        return str(self._execution().pipeline_execution_status)

    def succeed(self, candidate: Candidate | None, *, emit_event: bool = True) -> str | None:
        """End the execution as the pipeline would: report, register, steps, event."""
        steps = [_step("PreprocessData"), _step("TrainModel"), _step("EvaluateModel")]
        if candidate is not None:
            self.package_arn = self.simulator.register(self, candidate)
            steps.append(_step("RegisterModel", {"RegisterModel": {"Arn": self.package_arn}}))
        self._execution().local_steps = steps
        self.set_status("Succeeded", emit_event=emit_event)
        return self.package_arn

    def execute(self, *, emit_event: bool = True) -> str | None:
        """Run the pipeline's deployed definition for real (localcloud.training: the step
        scripts on this machine, the local XGBoost trainer) and end the execution as SageMaker
        would: the steps that ran, Succeeded or Failed with the failing step's reason, the
        status event. Returns the package its RegisterModel step registered, if any."""
        pipeline = self.simulator.backend.pipelines[self.pipeline]
        runner = DefinitionRunner(
            json.loads(pipeline.pipeline_definition),
            self.parameters,
            execution_arn=self.arn,
            client=self.simulator.client,
        )
        try:
            with acting_as(pipeline.role_arn):  # the steps read and write as the pipeline's role
                outcome = runner.run()
        except Exception as error:
            # A bug of the local cloud must not leave the execution Executing for ever.
            self.set_status("Failed", failure_reason=f"local cloud: {error!r}"[:1000])
            raise
        self.package_arn = outcome.package_arn
        self._execution().local_steps = [record.as_api() for record in outcome.steps]
        self.set_status(outcome.status, failure_reason=outcome.failure, emit_event=emit_event)
        return self.package_arn

    def fail(self, reason: str, *, emit_event: bool = True) -> None:
        """End the execution with a failed training step."""
        self._execution().local_steps = [
            _step("PreprocessData"),
            _step("TrainModel", status="Failed", failure=reason),
        ]
        self.set_status("Failed", failure_reason=reason, emit_event=emit_event)

    def set_status(self, status: str, *, failure_reason: str = "", emit_event: bool = True) -> None:
        """Move the execution to a status, emitting SageMaker's event unless told not to."""
        backend = self.simulator.backend
        execution = self._execution()
        previous = execution.pipeline_execution_status
        if previous == "Stopped":
            self.told.set()
            return  # StopPipelineExecution ended it: what its steps did after that is moot
        execution.pipeline_execution_status = status
        execution.pipeline_execution_failure_reason = failure_reason or None
        if status in TERMINAL:
            self.ended_at = datetime.now(UTC)
        if emit_event:
            patches.emit_pipeline_status(backend, execution, previous)
            self.events_emitted.append(status)
        if status in TERMINAL:
            self.told.set()

    def _execution(self) -> Any:
        return get_pipeline_execution_from_arn(self.simulator.backend.pipelines, self.arn)


def _step(
    name: str, metadata: dict[str, Any] | None = None, status: str = "Succeeded", failure: str = ""
) -> dict[str, Any]:
    step: dict[str, Any] = {"StepName": name, "StepStatus": status, "Metadata": metadata or {}}
    if failure:
        step["FailureReason"] = failure
    return step


Script = Callable[[PipelineRun], None]


def _execute(run: PipelineRun) -> None:
    run.execute()


class PipelineSimulator:
    """Knows every pipeline execution started on the local cloud and can end each one."""

    def __init__(self, cloud: Any) -> None:
        self._cloud = cloud
        self._runs: list[PipelineRun] = []
        self._groups: dict[str, str] = {}
        self._scripts: dict[str, Script] = {}
        self._started = threading.Condition()
        patches.pipeline_hooks.on_start = self._on_start

    @property
    def backend(self) -> Any:
        return sagemaker_backends[self._cloud.account][self._cloud.region]

    def close(self) -> None:
        patches.pipeline_hooks.on_start = None

    def register_group(self, pipeline: str, package_group: str) -> None:
        """Tell the simulator which package group a pipeline's RegisterModel step uses."""
        self._groups[pipeline] = package_group

    def client(self, service: str) -> Any:
        return self._cloud.client(service)

    def train_for_real(self, pipeline: str) -> None:
        """Run every execution of this pipeline for real, as soon as it starts."""
        self.script(pipeline, _execute)

    def script(self, pipeline: str, script: Script) -> None:
        """Run `script(run)` on a thread whenever this pipeline starts (the demo's autopilot)."""
        self._scripts[pipeline] = script

    def runs(self, pipeline: str | None = None) -> list[PipelineRun]:
        with self._started:
            return [r for r in self._runs if pipeline is None or r.pipeline == pipeline]

    def wait_for_run(self, pipeline: str, count: int = 1, timeout: float = 20.0) -> PipelineRun:
        """The `count`-th execution of a pipeline, once the controller has started it."""
        deadline = time.monotonic() + timeout
        with self._started:
            while len([r for r in self._runs if r.pipeline == pipeline]) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"pipeline {pipeline} was not started {count} time(s) in {timeout}s"
                    )
                self._started.wait(remaining)
            return [r for r in self._runs if r.pipeline == pipeline][count - 1]

    def register(self, run: PipelineRun, candidate: Candidate) -> str:
        """Write the model and the evaluation report and register the candidate, as the
        pipeline does."""
        group = self._groups.get(run.pipeline)
        if group is None:
            raise LookupError(f"no package group known for pipeline {run.pipeline}")
        bucket = self._cloud.artifacts_bucket
        s3 = self._cloud.client("s3")
        # Where the pipeline's steps put their outputs (pipelines/definition.json).
        prefix = f"modelfresh/pipelines/{run.pipeline}/{run.arn.rsplit('/', 1)[-1]}"
        report_uri = f"s3://{bucket}/{prefix}/evaluation/evaluation.json"
        gate = (
            run.parameters.get("GateMetric", "rmse"),
            run.parameters.get("GateDirection", "minimize"),
        )
        s3.put_object(
            Bucket=bucket,
            Key=f"{prefix}/evaluation/evaluation.json",
            Body=json.dumps(
                candidate.report(f"s3://{bucket}/{prefix}/data/test.csv", gate)
            ).encode(),
        )
        # The pipeline's baseline step: the drift check compares traffic against these once
        # the candidate is promoted.
        extra: dict[str, Any] = {}
        if candidate.baseline is not None:
            baselines = {}
            for kind, body in zip(("statistics", "constraints"), candidate.baseline, strict=True):
                key = f"{prefix}/baseline/{kind}.json"
                s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(body).encode())
                baselines[kind.title()] = {
                    "ContentType": "application/json",
                    "S3Uri": f"s3://{bucket}/{key}",
                }
            extra["DriftCheckBaselines"] = {"ModelDataQuality": baselines}
        # The training step's output, where SageMaker puts it.
        model_data = self._cloud.upload_model(
            candidate.model, f"s3://{bucket}/{prefix}/model/model.tar.gz"
        )
        arn: str = self._cloud.register_package(
            group,
            description=f"Candidate trained by {run.arn}",
            model_data_url=model_data,
            ModelMetrics={
                "ModelQuality": {
                    "Statistics": {"ContentType": "application/json", "S3Uri": report_uri}
                }
            },
            CustomerMetadataProperties={"PipelineExecutionArn": run.arn},
            **extra,
        )
        return arn

    def _on_start(self, backend: Any, execution: Any) -> None:
        # Called inside the StartPipelineExecution request: only record and emit here.
        pipeline = execution.arn.split(":pipeline/")[1].split("/execution/")[0]
        parameters = {p["Name"]: p["Value"] for p in execution.pipeline_parameters or []}
        run = PipelineRun(self, execution.arn, pipeline, parameters)
        patches.emit_pipeline_status(backend, execution, "")
        run.events_emitted.append("Executing")
        with self._started:
            self._runs.append(run)
            self._started.notify_all()
        script = self._scripts.get(pipeline)
        if script is not None:
            threading.Thread(
                target=script, args=(run,), name=f"pipeline-{pipeline}", daemon=True
            ).start()
