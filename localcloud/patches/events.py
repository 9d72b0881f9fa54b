"""EventBridge's patch (2): rules deliver to Lambda targets. Also how the local cloud emits
a service's own events (`put_event`) and fires scheduled rules (`fire_schedules`)."""

from __future__ import annotations

import copy
import functools
import json
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from moto.awslambda.models import lambda_backends
from moto.events.models import EventTemplateParser, Rule, events_backends
from moto.sqs.models import sqs_backends
from moto.utilities.arns import parse_arn

from localcloud import iam_requests, permissions
from localcloud.patches.lambda_ import invoke_in_process

# -------------------------------------------------------------------------------- 2. Events


def _iso(value: Any) -> Any:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def deliver_async(fn: Any, event: dict[str, Any]) -> bool:
    """Lambda's asynchronous invocation: up to 1 + MaximumRetryAttempts tries, then the
    OnFailure destination (or the function's dead-letter queue) gets the event. Returns
    whether an attempt succeeded. Retries run at once here; Lambda spaces them by minutes."""
    config = fn.event_invoke_config[0].config if fn.event_invoke_config else {}
    attempts = 1 + int(config.get("MaximumRetryAttempts", 2))
    payload = ""
    for _ in range(attempts):
        payload, errored, _ = invoke_in_process(fn, event)
        if not errored:
            return True
    destination = config.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
    if destination:
        record = {
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"{fn.function_arn}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": attempts,
            },
            "requestPayload": event,
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "responsePayload": json.loads(payload),
        }
        _send_to_queue(destination, json.dumps(record), as_role=fn.role)
    elif fn.dead_letter_config and fn.dead_letter_config.get("TargetArn"):
        _send_to_queue(fn.dead_letter_config["TargetArn"], json.dumps(event), as_role=fn.role)
    return False


def _send_to_queue(queue_arn: str, body: str, as_role: str | None = None) -> None:
    """Lambda sends a failed event on as the function's role (sqs:SendMessage): refused, the
    event is lost, as in AWS (which counts it in DestinationDeliveryFailures)."""

    arn = parse_arn(queue_arn)
    if as_role is not None:
        request = iam_requests.Request((("sqs:SendMessage", queue_arn),))
        refused = permissions.check(as_role, request, arn.account)
        if refused is not None and permissions.ledger.enforce:
            print(
                f"Lambda could not deliver the failed event to {queue_arn}: {refused}",
                file=sys.stderr,
            )
            return
    sqs_backends[arn.account][arn.region].send_message(arn.resource_id, body)


def events_to_lambda() -> None:
    """Patch 2: EventBridge delivers to Lambda targets, with Lambda's asynchronous retries and
    on-failure destination (moto raises NotImplementedError); scheduled rules only fire on
    schedule."""

    original = Rule.send_to_targets

    @functools.wraps(original)
    def send_to_targets(self: Any, event: dict[str, Any], transform_input: bool = True) -> None:
        if self.scheduled_expression and event.get("detail-type") != "Scheduled Event":
            return  # a scheduled rule has no event pattern: it fires on its schedule only
        if not self.event_pattern.matches_event(event):
            return
        # What a Lambda target receives: EventBridge's envelope, without moto's bookkeeping.
        delivered = {k: v for k, v in event.items() if k != "ingestion-time"}
        delivered["time"] = _iso(delivered.get("time"))
        others = []
        for target in self.targets:
            arn = parse_arn(target["Arn"])
            if arn.service != "lambda":
                others.append(target)
                continue
            payload: Any = delivered
            if "Input" in target:
                payload = json.loads(target["Input"])
            elif "InputTransformer" in target:
                transformer = target["InputTransformer"]
                payload = EventTemplateParser.parse(
                    input_template=transformer.get("InputTemplate"),
                    input_paths_map=transformer.get("InputPathsMap", {}),
                    event=event,  # moto's parser wants its own fields
                )
            try:
                fn = lambda_backends[arn.account][arn.region].get_function(arn.resource_id)
            except Exception:  # noqa: BLE001 - an undeliverable event goes to the rule's DLQ
                dead_letter = target.get("DeadLetterConfig", {}).get("Arn")
                if dead_letter:
                    _send_to_queue(dead_letter, json.dumps(delivered))
                continue
            deliver_async(fn, payload)
        if others:
            subset = copy.copy(self)
            subset.targets = others
            original(subset, event, transform_input)

    Rule.send_to_targets = send_to_targets


def fire_schedules(
    account: str, region: str, at: datetime, rule_filter: Callable[[str], bool] | None = None
) -> list[str]:
    """Deliver one 'Scheduled Event' to the targets of every scheduled rule (EventBridge does
    this on each rule's own schedule; the local cloud does it when asked). Returns the rules."""

    fired = []
    backend = events_backends[account][region]
    for bus in backend.event_buses.values():
        for rule in list(bus.rules.values()):
            if not rule.scheduled_expression or rule.state != "ENABLED":
                continue
            if rule_filter is not None and not rule_filter(rule.name):
                continue
            rule.send_to_targets(
                {
                    "version": "0",
                    "id": str(uuid.uuid4()),
                    "detail-type": "Scheduled Event",
                    "source": "aws.events",
                    "account": account,
                    "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "region": region,
                    "resources": [rule.arn],
                    "detail": {},
                }
            )
            fired.append(rule.name)
    return fired


def put_event(
    account: str,
    region: str,
    source: str,
    detail_type: str,
    detail: dict[str, Any],
    resources: list[str],
) -> None:
    """Emit an AWS service event on the default bus, as the service itself would."""

    events_backends[account][region].put_events(
        [
            {
                "Source": source,
                "DetailType": detail_type,
                "Detail": json.dumps(detail, default=str),
                "Resources": resources,
            }
        ]
    )
