"""Every message the controller sends stays within its service's limit, whatever the size of
what it carries: SNS Publish (256 KiB), a DynamoDB item (400 KB), a Step Functions execution's
input (256 KiB). The sinks run on moto, which enforces the SNS and DynamoDB limits as AWS does;
what was cut is marked in the message itself."""

from __future__ import annotations

import json
import operator
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from modelfresh.aws.approvals import SnsApprovalMailer, approval_message
from modelfresh.aws.executions import execution_input
from modelfresh.aws.notifications import DynamoAuditLog, SnsNotifier, audit_item, outcome_message
from modelfresh.core.errors import MessageTooLarge
from modelfresh.core.limits import (
    DYNAMODB_ITEM_LIMIT,
    SIGNAL_BUDGET,
    SNS_MESSAGE_LIMIT,
    STATES_PAYLOAD_LIMIT,
    Cut,
    fit,
)
from modelfresh.core.outcomes import TITLES, Outcome
from modelfresh.core.schema import MODEL_NAME
from modelfresh.retrain.runs import Ticket
from modelfresh.retrain.signals import Signal
from moto import mock_aws
from moto.sns.models import sns_backends

from tests.unit.test_approval_pages import make_approval

pytestmark = pytest.mark.usefixtures("offline_aws")

KIB = 1024
RUN = "taxi-fare-drift-20261122T1000-0123456789"
AT = "2026-11-22T10:00:00.000Z"
AUDIT = "modelfresh-audit"
HUGE_REASON = "feature drift: " + "x" * (254 * KIB - 15)  # the 254 KB alarm reason


def huge_signal(reason: str = HUGE_REASON, features: int = 20_000) -> Signal:
    """A drift signal as big as it gets: a 254 KB reason and a finding of 20,000 features."""
    return Signal(
        model="taxi-fare",
        kind="drift-alarm",
        id="alarm/modelfresh-drift-taxi-fare/2026-11-22T10:00:00.000+00:00",
        at=AT,
        source="modelfresh-drift-taxi-fare",
        detail={
            "alarm": "modelfresh-drift-taxi-fare",
            "reason": reason,
            "metrics": ["ModelFresh/Drift/drifted_feature_share"],
            "drift": {
                "drifted_share": 0.9,
                "features": [
                    {"name": f"feature_{i:05d}_" + "é" * 20, "distance": 0.5}
                    for i in range(features)
                ],
                "report": "s3://modelfresh-artifacts/drift/taxi-fare/report.html",
            },
        },
    )


def huge_outcome(kind: str = "approved") -> Outcome:
    return Outcome(
        model="taxi-fare",
        kind=kind,  # type: ignore[arg-type]
        run=RUN,
        at=AT,
        summary="Approved by the gate: " + '"quoted" ' * 40_000,
        detail={"signal": huge_signal().to_dict(), "verdict": {"status": "Approved"}},
    )


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        sns = boto3.client("sns", region_name="us-east-1")
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName=AUDIT,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "model", "AttributeType": "S"},
                {"AttributeName": "entry", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "model", "KeyType": "HASH"},
                {"AttributeName": "entry", "KeyType": "RANGE"},
            ],
        )
        topic = sns.create_topic(Name="modelfresh-notifications")["TopicArn"]
        yield {"sns": sns, "dynamodb": dynamodb, "topic": topic}


def published(topic: str) -> list[str]:
    """The Message of every publish to the topic, as SNS received it."""
    found = sns_backends["123456789012"]["us-east-1"].topics[topic].sent_notifications
    return [message for _id, message, *_rest in found]


def test_an_outcome_carrying_a_254_kb_reason_is_published_within_snss_limit(
    aws: dict[str, Any],
) -> None:
    # When an outcome whose summary and signal are far over 256 KiB is published
    SnsNotifier(aws["sns"], aws["topic"]).publish(huge_outcome())

    # Then SNS took it, under its limit, and both parts are whole, readable messages
    [message] = published(aws["topic"])
    assert len(message.encode()) <= 256 * KIB
    parts = json.loads(message)
    default = json.loads(parts["default"])
    assert (default["model"], default["kind"], default["run"]) == ("taxi-fare", "approved", RUN)
    # ... that say what was cut
    assert default["summary"].endswith("characters cut]")
    assert any(cut.startswith("summary: ") for cut in default["truncated"])
    assert "cut to fit" in parts["email"]
    assert parts["email"].startswith("taxi-fare: candidate approved")


def test_an_outcome_carrying_a_254_kb_reason_is_audited_within_dynamodbs_item_limit(
    aws: dict[str, Any],
) -> None:
    DynamoAuditLog(aws["dynamodb"], AUDIT).write(huge_outcome())

    [item] = aws["dynamodb"].scan(TableName=AUDIT)["Items"]
    size = sum(len(k) + len(v["S"].encode()) for k, v in item.items())
    assert size <= 400 * 1000
    assert item["entry"]["S"] == f"{AT}#{RUN}#approved"
    detail = json.loads(item["detail"]["S"])
    assert detail["verdict"] == {"status": "Approved"}
    assert json.loads(item["truncated"]["S"])


def test_an_execution_input_of_any_size_fits_a_step_functions_state() -> None:
    signal = huge_signal()
    ticket = Ticket("taxi-fare", signal.run_name, signal, 1_900_000_000)

    payload = execution_input(ticket)

    assert len(payload.encode()) <= 64 * KIB  # a quarter of the 256 KiB a state may carry
    read = json.loads(payload)
    assert Signal.from_dict(read["signal"]).id == signal.id
    assert read["truncated"]


def test_an_approval_email_of_any_size_is_published_with_its_link_whole(
    aws: dict[str, Any],
) -> None:
    approval = make_approval(
        id="a1",
        details={"gate": "Approved: " + "ü" * 300_000, "trigger": {"reason": HUGE_REASON}},
    )
    mailer = SnsApprovalMailer(aws["sns"], aws["topic"], "https://approvals.example.com/prod")

    mailer.send(approval)

    [message] = published(aws["topic"])
    assert len(message.encode()) <= 256 * KIB
    email = json.loads(message)["email"]
    assert "https://approvals.example.com/prod/approvals/a1" in email
    assert approval.task_token not in message


# -- fit: the biggest fields first, marked -----------------------------------------------------


def json_size(doc: Any, cuts: tuple[Cut, ...]) -> int:
    return len(json.dumps(doc | ({"cut": [str(c) for c in cuts]} if cuts else {})).encode())


def test_a_document_that_fits_is_left_as_it_is() -> None:
    doc = {"model": "taxi-fare", "summary": "fine", "n": 3, "ok": True, "none": None}

    fitted = fit(doc, 1000, json_size)

    assert (fitted.document, fitted.cuts) == (doc, ())


def test_the_biggest_field_is_cut_first_and_says_so() -> None:
    doc = {"summary": "s" * 5000, "reason": "r" * 2000, "model": "taxi-fare"}

    fitted = fit(doc, 4000, json_size)

    assert fitted.document["reason"] == "r" * 2000  # the smaller one is whole
    assert fitted.document["model"] == "taxi-fare"
    kept = fitted.document["summary"]
    assert kept.startswith("s" * 1000)
    [cut] = fitted.cuts
    assert (cut.path, cut.unit, cut.of) == ("summary", "characters", 5000)
    assert kept.endswith(f"…[{5000 - cut.kept:,} of 5,000 characters cut]")
    assert str(cut) == f"summary: {5000 - cut.kept:,} of 5,000 characters cut"
    assert json_size(fitted.document, fitted.cuts) <= 4000


def test_a_list_loses_its_tail_and_an_object_its_biggest_keys() -> None:
    features = [{"name": f"f{i}", "distance": 0.5} for i in range(1000)]
    doc = {"drift": {"features": features}, "extra": {f"k{i}": "v" * i for i in range(300)}}

    fitted = fit(doc, 20_000, json_size)

    kept = fitted.document["drift"]["features"]
    assert kept == features[: len(kept)]  # the head, in order
    extra = fitted.document["extra"]
    assert set(extra) == {f"k{i}" for i in range(len(extra))}  # the smallest keys stayed
    assert {(c.path, c.unit) for c in fitted.cuts} == {
        ("drift.features", "items"),
        ("extra", "keys"),
    }


def test_kept_fields_are_cut_only_when_nothing_else_is_left() -> None:
    doc = {"id": "i" * 3000, "reason": "r" * 3000}

    first = fit(doc, 4000, json_size, keep=("id",))
    last = fit(doc, 2000, json_size, keep=("id",))

    assert first.document["id"] == "i" * 3000
    assert [c.path for c in last.cuts] == ["reason", "id"]
    assert json_size(last.document, last.cuts) <= 2000


def test_a_string_cut_twice_says_how_much_was_cut_in_all() -> None:
    # The measure repeats the summary 4 times: the first cut is not enough
    def repeated(doc: Any, cuts: tuple[Cut, ...]) -> int:
        return json_size(doc, cuts) + 3 * len(doc["summary"])

    fitted = fit({"summary": "s" * 10_000}, 8000, repeated)

    [cut] = fitted.cuts
    assert fitted.document["summary"].endswith(f"…[{10_000 - cut.kept:,} of 10,000 characters cut]")
    assert repeated(fitted.document, fitted.cuts) <= 8000


def test_values_json_cannot_hold_become_strings() -> None:
    fitted = fit({"at": datetime(2026, 11, 22, tzinfo=UTC)}, 100, json_size)

    assert fitted.document == {"at": "2026-11-22 00:00:00+00:00"}


def test_a_budget_smaller_than_the_messages_skeleton_is_refused() -> None:
    with pytest.raises(MessageTooLarge):
        fit({"n": 12345}, 5, json_size)


# -- every sink, whatever it carries: a property ----------------------------------------------

# Text of any size: a short piece of any characters (UTF-8 encodable), repeated up to 300,000
# times (hypothesis builds big values cheaply that way).
texts = st.builds(
    operator.mul,
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=6),
    st.integers(0, 300_000),
)
small_texts = st.text(st.characters(codec="utf-8"), max_size=40)
json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(small_texts, inner, max_size=4),
    max_leaves=8,
)


@st.composite
def signals(draw: st.DrawFn) -> Signal:
    """A drift signal with a reason, a finding of up to 20,000 features with names of any
    length, and an alarm name of up to 2,000 characters."""
    count = draw(st.integers(0, 20_000))
    name = draw(small_texts)
    features = [
        {"name": f"{name}{i}" * draw(st.integers(1, 3)), "distance": 0.5} for i in range(count)
    ]
    source = draw(st.builds(operator.mul, st.sampled_from("aé-"), st.integers(1, 2000)))
    return Signal(
        model=draw(st.from_regex(MODEL_NAME, fullmatch=True)),
        kind="drift-alarm",
        id=f"alarm/{source}/2026-11-22T10:00:00.000+00:00",
        at=AT,
        source=source,
        detail={"reason": draw(texts), "drift": {"features": features}, "more": draw(json_values)},
    )


@st.composite
def outcomes(draw: st.DrawFn) -> Outcome:
    return Outcome(
        model=draw(st.from_regex(MODEL_NAME, fullmatch=True)),
        kind=draw(st.sampled_from(sorted(TITLES))),
        run=draw(st.from_regex(r"[A-Za-z0-9-]{1,80}", fullmatch=True)),
        at=AT,
        summary=draw(texts),
        detail={"signal": draw(signals()).to_dict(), "other": draw(json_values)},
    )


PROPERTY = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@PROPERTY
@given(outcomes())
def test_every_outcome_message_fits_sns_and_dynamodb_and_stays_json(outcome: Outcome) -> None:
    message = outcome_message(outcome)
    item = audit_item(outcome)

    assert len(message.encode()) <= SNS_MESSAGE_LIMIT - 8 * KIB  # room for the attributes
    parts = json.loads(message)
    default = json.loads(parts["default"])
    assert (default["model"], default["kind"], default["run"]) == (
        outcome.model,
        outcome.kind,
        outcome.run,
    )
    assert isinstance(parts["email"], str)
    assert sum(len(k) + len(v["S"].encode()) for k, v in item.items()) <= DYNAMODB_ITEM_LIMIT
    assert item["entry"]["S"] == f"{outcome.at}#{outcome.run}#{outcome.kind}"
    json.loads(item["detail"]["S"])


@PROPERTY
@given(signals())
def test_every_signal_and_execution_input_fits_and_reads_back(signal: Signal) -> None:
    bounded = signal.bounded()
    payload = execution_input(Ticket(signal.model, signal.run_name, signal, 1_900_000_000))

    assert len(bounded.to_json().encode()) <= SIGNAL_BUDGET
    assert (bounded.id, bounded.run_name) == (signal.id, signal.run_name)
    assert len(payload.encode()) <= STATES_PAYLOAD_LIMIT // 4
    assert Signal.from_dict(json.loads(payload)["signal"]).model == signal.model


@PROPERTY
@given(json_values, st.integers(1, 10_000))
def test_every_approval_email_fits_sns_with_its_link_whole(details: Any, version: int) -> None:
    approval = make_approval(
        id="a1",
        version=version,
        details=details if isinstance(details, dict) else {"gate": details},
    )

    message = approval_message(approval, "https://approvals.example.com/prod/approvals/a1")

    assert len(message.encode()) <= SNS_MESSAGE_LIMIT - 8 * KIB
    assert "https://approvals.example.com/prod/approvals/a1" in json.loads(message)["email"]
