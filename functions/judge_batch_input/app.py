"""Batch task "Judge the input": the nested drift check's final state -> what the model's
violation policy allows (score, score-and-flag, stop), and a line saying what the check found.
"""

from __future__ import annotations

from typing import Any

from modelfresh.batch.steps import InputJudgement, judge_input
from modelfresh.core.events import optional, require
from modelfresh.core.observability import entry_point
from modelfresh.wiring import Container

container = Container()  # unused: the judgement reads only the event (the convention's shape)


@entry_point
def lambda_handler(
    event: dict[str, Any], context: Any, container: Container = container
) -> InputJudgement:
    # "Check the input" leaves {"output": <the check's final state>}; "Not checked" leaves {}.
    checked = require(event, "checked", dict)
    return judge_input(require(event, "plan", dict), optional(checked, "output", dict))
