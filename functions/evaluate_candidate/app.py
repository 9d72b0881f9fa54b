"""Retrain task "Evaluate the candidate": find the package the pipeline registered, read its
evaluation report and judge it against the threshold and the champion. The verdict is data."""

from __future__ import annotations

from typing import Any

from modelfresh.core.config import parse_gate
from modelfresh.core.events import require, require_one_of
from modelfresh.core.observability import entry_point, tracer
from modelfresh.retrain.signals import Signal
from modelfresh.retrain.steps import (
    CandidateVerdict,
    evaluate_candidate,
    trigger_metadata,
    verdict_output,
)
from modelfresh.wiring import Container

container = Container()


@entry_point
def lambda_handler(
    event: dict[str, Any], context: Any, container: Container = container
) -> CandidateVerdict:
    tracer.put_annotation(key="model", value=require(event, "model", str))
    run = require(event, "execution", str)
    verdict = evaluate_candidate(
        pipeline_execution_arn=require(event, "pipelineExecutionArn", str),
        package_group=require(event, "packageGroup", str),
        gate=parse_gate(require(event, "gate", dict)),
        approval=require_one_of(event, "approval", ("auto", "manual")),  # type: ignore[arg-type]
        run=run,
        registry=container.pipelines,
        reports=container.reports,
    )
    signal = Signal.from_dict(require(event, "signal", dict))
    window = require(event, "driftWindow", dict)
    return verdict_output(verdict, trigger_metadata(signal, run, window))
