"""The real handlers, called as the Lambda runtime calls them (through entry_point), with a
container of fakes: what each takes from its event, hands to the domain, and returns."""

from __future__ import annotations

import inspect
import json
from types import SimpleNamespace
from typing import Any

import pytest
from modelfresh.core.errors import MalformedEvent
from modelfresh.retrain.runs import Admission, AdmitResult
from modelfresh.retrain.signals import Signal
from modelfresh.wiring import Container

from tests.conftest import ROOT, load_handler, sample_event
from tests.unit.test_promoter import CONFIG, STAGING, V2, World

CONTEXT = SimpleNamespace(
    function_name="handler-test",
    memory_limit_in_mb=256,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:handler-test",
    aws_request_id="request-1",
)


def handler(folder: str) -> Any:
    return load_handler(ROOT / "functions" / folder / "app.py")


def container_of(**services: Any) -> Container:
    """A container whose services are these fakes (the rest would be built for real)."""
    fakes = Container()
    vars(fakes).update(services)
    return fakes


def test_finish_deploy_writes_the_promotion_through_the_promoter_it_is_given() -> None:
    # Given the promoter of a world where v2 was approved and deployed
    world = World()
    world.registry.add(V2, "Approved")
    world.slots.claim("taxi-fare", "run-a", 0, 10**10)
    event = {
        "model": "taxi-fare",
        "execution": "run-a",
        "result": "promoted",
        "package": {"arn": V2, "version": 2},
    }

    # When the real handler finishes the run with it
    answer = handler("finish_deploy")(event, CONTEXT, container=container_of(**vars_of(world)))

    # Then v2 is the champion, the outcome was recorded, and the slot is free
    assert answer == {"outcome": "promoted"}
    assert world.recorder.kinds == ["promoted"]
    champion = world.slots.champion("taxi-fare")
    assert champion is not None and champion.package_arn == V2
    assert world.slots.slot("taxi-fare") is None


def test_finish_deploy_refuses_a_result_no_deploy_run_ends_with() -> None:
    world = World()
    event = {
        "model": "taxi-fare",
        "execution": "run-a",
        "result": "half-promoted",
        "package": {"arn": V2, "version": 2},
    }

    with pytest.raises(MalformedEvent, match="result"):
        handler("finish_deploy")(event, CONTEXT, container=container_of(**vars_of(world)))
    assert world.recorder.kinds == []


def test_smoke_test_sends_the_models_payloads_to_its_staging_endpoint() -> None:
    # Given staging that answers every request with a number
    sent: list[tuple[str, bytes]] = []

    class Staging:
        def invoke(self, endpoint: str, body: bytes, content_type: str) -> bytes:
            sent.append((endpoint, body))
            return b"12.5"

    # When the real handler smoke-tests taxi-fare
    report = handler("smoke_test")(
        {"model": "taxi-fare", "execution": "run-a"},
        CONTEXT,
        container=container_of(config=CONFIG, invoker=Staging()),
    )

    # Then every payload went to staging, and the report says it passed
    payloads = CONFIG.model("taxi-fare").smoke.payloads
    assert sent == [(STAGING, p.encode()) for p in payloads]
    assert (report["passed"], report["errors"]) == (True, 0)


class Coordinator:
    """Admits every signal it is given as a new run, and keeps them."""

    def __init__(self) -> None:
        self.signals: list[Signal] = []

    def admit(self, signal: Signal) -> AdmitResult:
        self.signals.append(signal)
        return AdmitResult(Admission.STARTED, f"run-{len(self.signals)}")


class Findings:
    def latest_finding(self, model: str) -> None:
        return None

    def latest_quality(self, model: str) -> None:
        return None


@pytest.fixture
def metric_names(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """The names of the metrics emitted so far (powertools prints them as EMF lines)."""
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "modelfresh-test")

    def emitted() -> list[str]:
        lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if "_aws" in x]
        return [m["Name"] for x in lines for m in x["_aws"]["CloudWatchMetrics"][0]["Metrics"]]

    return emitted


def alarm_handler_container(coordinator: Coordinator) -> Container:
    return container_of(
        config=CONFIG,
        settings=SimpleNamespace(drift_alarm_prefix="modelfresh-drift-"),
        drift_state=Findings(),
        coordinator=coordinator,
        recorder=None,  # every alarm of the fixture's models retrains: nothing is recorded
    )


def test_on_drift_alarm_admits_a_drift_signal_for_the_alarms_model(metric_names: Any) -> None:
    coordinator = Coordinator()

    answer = handler("on_drift_alarm")(
        sample_event("cloudwatch_alarm_state_change_alarm"),
        CONTEXT,
        container=alarm_handler_container(coordinator),
    )

    assert answer == {"result": "started", "run": "run-1"}
    assert [(s.model, s.kind) for s in coordinator.signals] == [("taxi-fare", "drift-alarm")]
    assert metric_names() == ["DriftAlarmReceived"]


@pytest.mark.parametrize(
    ("event", "why"),
    [
        ("cloudwatch_alarm_state_change_ok", "OK"),
        ("cloudwatch_alarm_state_change_composite_suppressed", "suppressed"),
    ],
)
def test_on_drift_alarm_starts_nothing_for_a_change_that_is_not_an_alarm(
    event: str, why: str, metric_names: Any
) -> None:
    coordinator = Coordinator()

    answer = handler("on_drift_alarm")(
        sample_event(event), CONTEXT, container=alarm_handler_container(coordinator)
    )

    assert answer["result"] == "ignored" and why in answer["reason"]
    assert coordinator.signals == []
    assert metric_names() == (["DriftAlarmSuppressed"] if why == "suppressed" else [])


def test_on_schedule_starts_the_retrain_and_drift_check_due_at_the_tick(
    metric_names: Any,
) -> None:
    # Given the tick at 16:53 on 2015-10-08 (taxi-fare retrains weekly, checks drift hourly)
    coordinator = Coordinator()
    started: list[str] = []

    class DriftChecks:
        def start_named(self, run: str, payload: str) -> bool:
            started.append(run)
            return len(started) == 1

    fakes = container_of(
        config=CONFIG,
        coordinator=coordinator,
        drift_check_executions=DriftChecks(),
        quality_check_executions=DriftChecks(),
        batch_executions=DriftChecks(),  # no batch model in this config: nothing started
    )

    # When the real handler takes it twice
    first = handler("on_schedule")(sample_event("scheduled_event"), CONTEXT, container=fakes)
    again = handler("on_schedule")(sample_event("scheduled_event"), CONTEXT, container=fakes)

    # Then the week's retrain signal and the 16:00 hour's drift check were asked for, each time
    # by the same names (the coordinator and Step Functions keep the second from starting)
    assert first == {
        "taxi-fare": "started run-1",
        "taxi-fare drift check": "started taxi-fare-drift-check-20151008T1600",
    }
    assert again["taxi-fare drift check"] == "exists taxi-fare-drift-check-20151008T1600"
    assert [s.id for s in coordinator.signals] == [
        "schedule/taxi-fare/2015-10-08T00:00:00.000Z"
    ] * 2


def test_prepare_rollout_leaves_auto_scaling_only_when_asked() -> None:
    calls: list[str] = []

    class Guards:
        def ensure_rollback_alarms(self, model: Any) -> list[str]:
            calls.append("alarms")
            return ["alarm-5xx"]

        def leave_auto_scaling(self, model: Any) -> None:
            calls.append("leave")

    fakes = container_of(config=CONFIG, guardrails=Guards())
    event = {"model": "taxi-fare", "execution": "run-a"}

    assert handler("prepare_rollout")(event, CONTEXT, container=fakes) == {"alarms": ["alarm-5xx"]}
    handler("prepare_rollout")(event | {"deregisterScaling": True}, CONTEXT, container=fakes)
    assert calls == ["alarms", "alarms", "leave"]


def test_request_approval_keeps_the_token_and_mails_only_the_approvals_id() -> None:
    kept: list[Any] = []
    mailed: list[Any] = []
    world = World()

    class Store:
        def put(self, approval: Any) -> None:
            kept.append(approval)

    class Mailer:
        def send(self, approval: Any) -> None:
            mailed.append(approval)

    event = {
        "model": "taxi-fare",
        "execution": "run-a",
        "taskToken": "token-1",
        "plan": {
            "package": {"arn": V2, "version": 2},
            "approval": {"slaSeconds": 3600},
            "details": {"metric": "rmse"},
        },
        "smoke": {"passed": True},
    }
    fakes = container_of(approvals=Store(), mailer=Mailer(), recorder=world.recorder)

    answer = handler("request_approval")(event, CONTEXT, container=fakes)

    (approval,) = kept
    assert mailed == [approval] and answer == {"approvalId": approval.id}
    assert (approval.task_token, approval.version, approval.run) == ("token-1", 2, "run-a")
    assert approval.expires_at - approval.created_at == 3600
    assert approval.details == {"metric": "rmse", "smoke": {"passed": True}}
    assert world.recorder.kinds == ["approval-requested"]


def vars_of(world: World) -> dict[str, Any]:
    return {"promoter": world.promoter, "config": CONFIG}


@pytest.mark.parametrize("folder", sorted(p.parent.name for p in ROOT.glob("functions/*/app.py")))
def test_every_handler_takes_its_container_injected(folder: str) -> None:
    # The runtime calls lambda_handler(event, context): the container defaults to the
    # module's own, built once per Lambda container; a test passes one of fakes.
    parameter = inspect.signature(inspect.unwrap(handler(folder))).parameters.get("container")
    assert parameter is not None, folder
    assert isinstance(parameter.default, Container)
