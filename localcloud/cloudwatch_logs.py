"""CloudWatch Logs, read back: what the functions logged, as tests and the demo inspect it
(`LocalCloud.function_logs`, `LocalCloud.lambda_logs`)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any


def lambda_logs(logs: Any, names: Mapping[str, str]) -> list[dict[str, Any]]:
    """Every line every Lambda function wrote, oldest first, each with its `function`: its
    name in `names` (physical name -> logical id), else its own name."""
    timed = []
    for page in logs.get_paginator("describe_log_groups").paginate(
        logGroupNamePrefix="/aws/lambda/"
    ):
        for group in page["logGroups"]:
            name = group["logGroupName"].removeprefix("/aws/lambda/")
            function = names.get(name, name)
            timed += [
                (at, {"function": function, **line})
                for at, line in log_lines(logs, group["logGroupName"])
            ]
    return [line for _, line in sorted(timed, key=lambda pair: pair[0])]


def log_lines(logs: Any, group: str) -> list[tuple[int, dict[str, Any]]]:
    """A log group's lines as (timestamp, parsed JSON line), oldest first; a line that is
    not JSON is {"message": line}."""
    events = []
    try:
        for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group):
            events += page["events"]
    except logs.exceptions.ResourceNotFoundException:
        return []
    # Sorted by time only: a stable sort keeps each stream's lines in the order written.
    return [
        (event["timestamp"], _parsed(event["message"]))
        for event in sorted(events, key=lambda e: e["timestamp"])
    ]


def _parsed(line: str) -> dict[str, Any]:
    """A JSON log line as data; any other line as {"message": line}."""
    with contextlib.suppress(ValueError):
        parsed = json.loads(line)
        if isinstance(parsed, dict):
            return parsed
    return {"message": line}
