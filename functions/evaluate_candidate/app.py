"""Retrain task "Evaluate the candidate": find the package the pipeline registered, read its
evaluation report and judge it against the threshold and the champion. The verdict is data."""

from __future__ import annotations

from typing import Any

from modelfresh.core.config import parse_gate
from modelfresh.core.events import require, require_one_of
from modelfresh.core.observability import entry_point, tracer
from modelfresh.retrain.signals import Signal
from modelfresh.retrain.steps import CandidateRequest, CandidateVerdict, evaluate_candidate
from modelfresh.wiring import Container

container = Container()


@entry_point
def lambda_handler(
    event: dict[str, Any], context: Any, container: Container = container
) -> CandidateVerdict:
    tracer.put_annotation(key="model", value=require(event, "model", str))
    request = CandidateRequest(
        run=require(event, "execution", str),
        pipeline_execution_arn=require(event, "pipelineExecutionArn", str),
        package_group=require(event, "packageGroup", str),
        gate=parse_gate(require(event, "gate", dict)),
        approval=require_one_of(event, "approval", ("auto", "manual")),  # type: ignore[arg-type]
        signal=Signal.from_dict(require(event, "signal", dict)),
        drift_window=require(event, "driftWindow", dict),
    )
    return evaluate_candidate(request, registry=container.pipelines, reports=container.reports)
