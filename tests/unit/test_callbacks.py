"""Waiting for a pipeline by callback: parking the token, resuming on the status event or the
heartbeat, and never leaking the token."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import pytest
from modelfresh.core.errors import MalformedEvent
from modelfresh.core.observability import logger
from modelfresh.retrain.callbacks import Callback, CallbackDesk, parse_pipeline_status

from tests.conftest import sample_event

PIPELINE = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/taxi-fare-retrain"
EXECUTION = f"{PIPELINE}/execution/p4jn9xou8a8s"
OTHER_EXECUTION = f"{PIPELINE}/execution/zz0000000000"
RUN = "taxi-fare-drift-20191002T1704-0123456789"
TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAVs3cR+secret-task-token+9xKq/w=="
EXPIRES_AT = 1_900_000_000
CALLBACK = Callback(pipeline_execution_arn=EXECUTION, task_token=TOKEN, model="taxi-fare", run=RUN)


class FakeStore:
    """callbacks.CallbackStore in memory. Resuming drops the token, as the real store does."""

    def __init__(self, *callbacks: Callback) -> None:
        self.items = {c.pipeline_execution_arn: c for c in callbacks}
        self.expiries: dict[str, int] = {}

    def put(self, callback: Callback, expires_at: int) -> None:
        self.items[callback.pipeline_execution_arn] = callback
        self.expiries[callback.pipeline_execution_arn] = expires_at

    def get(self, pipeline_execution_arn: str) -> Callback | None:
        return self.items.get(pipeline_execution_arn)

    def mark_resumed(self, pipeline_execution_arn: str) -> None:
        found = self.items[pipeline_execution_arn]
        self.items[pipeline_execution_arn] = replace(found, waiting=False, task_token="")

    def waiting(self) -> list[Callback]:
        return [c for c in self.items.values() if c.waiting]


class FakePipelines:
    """callbacks.PipelineStatuses: (status, failure reason) per execution ARN."""

    def __init__(self, statuses: Mapping[str, tuple[str, str]]) -> None:
        self.statuses = dict(statuses)
        self.asked: list[str] = []

    def status(self, pipeline_execution_arn: str) -> tuple[str, str]:
        self.asked.append(pipeline_execution_arn)
        return self.statuses[pipeline_execution_arn]


class FakeTokens:
    """callbacks.TaskTokens that records every call. `valid=False` acts as a spent token."""

    def __init__(self, valid: bool = True) -> None:
        self.valid = valid
        self.calls: list[tuple[Any, ...]] = []

    def succeed(self, token: str, output: Mapping[str, Any]) -> bool:
        self.calls.append(("succeed", token, dict(output)))
        return self.valid

    def fail(self, token: str, error: str, cause: str) -> bool:
        self.calls.append(("fail", token, error, cause))
        return self.valid

    def heartbeat(self, token: str) -> bool:
        self.calls.append(("heartbeat", token))
        return self.valid


def desk_with(
    store: FakeStore, status: tuple[str, str] = ("Executing", ""), tokens: FakeTokens | None = None
) -> tuple[CallbackDesk, FakePipelines, FakeTokens]:
    pipelines = FakePipelines({EXECUTION: status})
    tokens = tokens or FakeTokens()
    return CallbackDesk(store, pipelines, tokens), pipelines, tokens


class _CurrentStdout:
    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture
def log_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[[], list[dict[str, Any]]]:
    """The JSON log lines written during the test.

    The powertools handler keeps the stdout it found at import; make it write to whatever
    stdout is current, which is capsys's during the test, so the lines can be read back.
    """
    monkeypatch.setattr(logger.registered_handler, "stream", _CurrentStdout())

    def read() -> list[dict[str, Any]]:
        return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]

    return read


# -- park --------------------------------------------------------------------------------------


def test_parking_stores_the_token_while_the_pipeline_runs() -> None:
    store = FakeStore()
    desk, _, tokens = desk_with(store, ("Executing", ""))

    result = desk.park(CALLBACK, EXPIRES_AT)

    assert result == f"waiting for {EXECUTION} (Executing)"
    assert store.get(EXECUTION) == CALLBACK
    assert store.expiries == {EXECUTION: EXPIRES_AT}
    assert tokens.calls == []


def test_parking_after_the_pipeline_succeeded_resumes_at_once() -> None:
    # Given a pipeline that ended before its run parked the token
    store = FakeStore()
    desk, _, tokens = desk_with(store, ("Succeeded", ""))

    # When the token is parked
    result = desk.park(CALLBACK, EXPIRES_AT)

    # Then the run is resumed with success and the token is forgotten
    assert result == f"{RUN}: resumed (Succeeded, already ended when parked)"
    assert tokens.calls == [
        ("succeed", TOKEN, {"pipelineExecutionArn": EXECUTION, "status": "Succeeded"})
    ]
    stored = store.get(EXECUTION)
    assert stored is not None
    assert not stored.waiting


def test_parking_after_the_pipeline_failed_fails_the_run_at_once() -> None:
    store = FakeStore()
    desk, _, tokens = desk_with(store, ("Failed", "AlgorithmError: training diverged"))

    result = desk.park(CALLBACK, EXPIRES_AT)

    assert result == f"{RUN}: resumed (Failed, already ended when parked)"
    assert tokens.calls == [
        (
            "fail",
            TOKEN,
            "PipelineExecutionFailed",
            f"pipeline execution {EXECUTION} failed: AlgorithmError: training diverged",
        )
    ]


# -- on_status ---------------------------------------------------------------------------------


def test_status_of_a_pipeline_nobody_waits_on_resumes_nothing(
    log_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    desk, pipelines, tokens = desk_with(FakeStore(CALLBACK), ("Succeeded", ""))

    result = desk.on_status(OTHER_EXECUTION, "Succeeded")

    assert result == "no run waiting"
    assert tokens.calls == []
    assert pipelines.asked == []
    [line] = log_lines()
    assert line["level"] == "WARNING"
    assert (
        line["message"] == "no retrain run is waiting on this pipeline execution; nothing resumed"
    )
    assert line["pipeline_execution_arn"] == OTHER_EXECUTION


def test_repeated_status_event_after_resuming_changes_nothing() -> None:
    store = FakeStore(replace(CALLBACK, waiting=False, task_token=""))
    desk, pipelines, tokens = desk_with(store, ("Succeeded", ""))

    result = desk.on_status(EXECUTION, "Succeeded")

    assert result == "already resumed"
    assert tokens.calls == []
    assert pipelines.asked == []


@pytest.mark.parametrize("status", ["Executing", "Stopping"])
def test_non_terminal_status_resumes_nothing(status: str) -> None:
    store = FakeStore(CALLBACK)
    desk, _, tokens = desk_with(store, (status, ""))

    result = desk.on_status(EXECUTION, status)

    assert result == f"still {status}"
    assert tokens.calls == []
    assert store.get(EXECUTION) == CALLBACK


def test_succeeded_pipeline_resumes_the_run_with_its_arn_and_status() -> None:
    store = FakeStore(CALLBACK)
    desk, pipelines, tokens = desk_with(store, ("Succeeded", ""))

    result = desk.on_status(EXECUTION, "Succeeded")

    assert result == f"{RUN}: resumed (Succeeded, status event)"
    assert pipelines.asked == [EXECUTION]  # the API, not the event, is the source of truth
    assert tokens.calls == [
        ("succeed", TOKEN, {"pipelineExecutionArn": EXECUTION, "status": "Succeeded"})
    ]
    assert store.waiting() == []


@pytest.mark.parametrize(
    ("status", "reason", "error", "cause"),
    [
        pytest.param(
            "Failed",
            "AlgorithmError: training diverged",
            "PipelineExecutionFailed",
            f"pipeline execution {EXECUTION} failed: AlgorithmError: training diverged",
            id="failed",
        ),
        pytest.param(
            "Failed",
            "",
            "PipelineExecutionFailed",
            f"pipeline execution {EXECUTION} failed",
            id="failed-without-reason",
        ),
        pytest.param(
            "Stopped",
            "",
            "PipelineExecutionStopped",
            f"pipeline execution {EXECUTION} stopped",
            id="stopped",
        ),
    ],
)
def test_pipeline_that_ended_badly_fails_the_run_with_the_reason(
    status: str, reason: str, error: str, cause: str
) -> None:
    store = FakeStore(CALLBACK)
    desk, _, tokens = desk_with(store, (status, reason))

    result = desk.on_status(EXECUTION, status)

    assert result == f"{RUN}: resumed ({status}, status event)"
    assert tokens.calls == [("fail", TOKEN, error, cause)]
    assert store.waiting() == []


def test_failure_cause_is_cut_to_2000_characters() -> None:
    store = FakeStore(CALLBACK)
    desk, _, tokens = desk_with(store, ("Failed", "x" * 5000))

    desk.on_status(EXECUTION, "Failed")

    [(_, _, _, cause)] = tokens.calls
    assert len(cause) == 2000
    assert cause.startswith(f"pipeline execution {EXECUTION} failed: xxx")


def test_spent_token_is_reported_and_the_callback_is_still_marked_resumed() -> None:
    # Given a run whose task already timed out (Step Functions refuses the token)
    store = FakeStore(CALLBACK)
    desk, _, tokens = desk_with(store, ("Succeeded", ""), FakeTokens(valid=False))

    result = desk.on_status(EXECUTION, "Succeeded")

    assert result == f"{RUN}: was already resumed (Succeeded, status event)"
    assert len(tokens.calls) == 1
    assert store.waiting() == []


def test_terminal_event_for_a_pipeline_the_api_reports_running_resumes_nothing() -> None:
    # Given a parked run whose pipeline the API reports as running again
    store = FakeStore(CALLBACK)
    desk, _, tokens = desk_with(store, ("Executing", ""))

    # When a (late) Failed event arrives
    desk.on_status(EXECUTION, "Failed")

    # Then the run keeps waiting
    assert tokens.calls == []
    assert store.get(EXECUTION) == CALLBACK


# -- heartbeat ---------------------------------------------------------------------------------


def test_heartbeat_keeps_running_pipelines_alive_and_resumes_ended_ones() -> None:
    # Given three waiting runs: one running, one ended, and one already resumed
    running = CALLBACK
    ended = Callback(OTHER_EXECUTION, "other-token", "churn", "churn-drift-run")
    resumed = Callback(f"{PIPELINE}/execution/old", "", "taxi-fare", "old-run", waiting=False)
    store = FakeStore(running, ended, resumed)
    pipelines = FakePipelines({EXECUTION: ("Executing", ""), OTHER_EXECUTION: ("Succeeded", "")})
    tokens = FakeTokens()

    # When the heartbeat sweep runs
    actions = CallbackDesk(store, pipelines, tokens).heartbeat()

    # Then the running one gets a heartbeat and the ended one is resumed
    assert actions == [
        f"{RUN}: pipeline Executing, heartbeat sent",
        "churn-drift-run: resumed (Succeeded, heartbeat found it ended)",
    ]
    assert tokens.calls == [
        ("heartbeat", TOKEN),
        (
            "succeed",
            "other-token",
            {"pipelineExecutionArn": OTHER_EXECUTION, "status": "Succeeded"},
        ),
    ]
    assert store.waiting() == [running]


def test_heartbeat_refused_means_the_wait_is_over_and_the_callback_is_forgotten() -> None:
    store = FakeStore(CALLBACK)
    desk, _, tokens = desk_with(store, ("Executing", ""), FakeTokens(valid=False))

    actions = desk.heartbeat()

    assert actions == [f"{RUN}: the wait had already ended; forgotten"]
    assert tokens.calls == [("heartbeat", TOKEN)]
    assert store.waiting() == []


def test_heartbeat_with_nothing_waiting_does_nothing() -> None:
    desk, pipelines, tokens = desk_with(FakeStore())

    assert desk.heartbeat() == []
    assert (pipelines.asked, tokens.calls) == ([], [])


# -- the token is a secret ---------------------------------------------------------------------


def test_task_token_never_appears_in_the_logs(
    log_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    # Given runs going through every path that logs
    store = FakeStore()
    pipelines = FakePipelines({EXECUTION: ("Failed", "boom"), OTHER_EXECUTION: ("Executing", "")})
    desk = CallbackDesk(store, pipelines, FakeTokens())
    desk.park(replace(CALLBACK, pipeline_execution_arn=OTHER_EXECUTION), EXPIRES_AT)
    desk.park(CALLBACK, EXPIRES_AT)  # resumes at once
    desk.on_status(EXECUTION, "Failed")  # already resumed
    desk.on_status(f"{PIPELINE}/execution/unknown", "Succeeded")  # nobody waiting
    desk.heartbeat()
    CallbackDesk(store, pipelines, FakeTokens(valid=False)).heartbeat()  # spent

    # Then the logs talk about the runs, but never carry the token
    lines = log_lines()
    assert [line["message"] for line in lines] == [
        "run resumed",
        "repeated status event; the run was already resumed",
        "no retrain run is waiting on this pipeline execution; nothing resumed",
    ]
    assert lines[0]["run"] == RUN
    output = json.dumps(lines)
    assert TOKEN not in output
    assert "secret-task-token" not in output


# -- parse_pipeline_status ---------------------------------------------------------------------


def test_pipeline_status_sample_is_read() -> None:
    event = sample_event("sagemaker_pipeline_execution_status_change")

    assert parse_pipeline_status(event) == (EXECUTION, "Succeeded")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(
            {"source": "aws.cloudwatch"},
            "malformed event: 'source' is 'aws.cloudwatch', expected one of ('aws.sagemaker',)",
            id="wrong-source",
        ),
        pytest.param(
            {"detail-type": "SageMaker Model Package State Change"},
            "malformed event: 'detail-type' is 'SageMaker Model Package State Change', "
            "expected one of ('SageMaker Model Building Pipeline Execution Status Change',)",
            id="wrong-detail-type",
        ),
        pytest.param(
            {"detail": {"currentPipelineExecutionStatus": "Succeeded"}},
            "malformed event: it has no 'detail.pipelineExecutionArn'",
            id="no-arn",
        ),
        pytest.param(
            {"detail": {"pipelineExecutionArn": EXECUTION, "currentPipelineExecutionStatus": 1}},
            "malformed event: 'detail.currentPipelineExecutionStatus' should be a non-empty str",
            id="status-not-a-string",
        ),
        pytest.param(
            {
                "detail": {
                    "pipelineExecutionArn": EXECUTION,
                    "currentPipelineExecutionStatus": "Paused",
                }
            },
            "malformed event: 'detail.currentPipelineExecutionStatus' is 'Paused', expected one "
            "of ('Executing', 'Stopping', 'Stopped', 'Failed', 'Succeeded')",
            id="unknown-status",
        ),
        pytest.param(
            {"detail": None},
            "malformed event: it has no 'detail.pipelineExecutionArn'",
            id="null-detail",
        ),
    ],
)
def test_malformed_pipeline_status_event_names_the_field(
    change: dict[str, Any], message: str
) -> None:
    event = sample_event("sagemaker_pipeline_execution_status_change") | change

    with pytest.raises(MalformedEvent) as raised:
        parse_pipeline_status(event)

    assert str(raised.value) == message
