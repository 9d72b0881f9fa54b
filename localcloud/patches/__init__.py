"""Every change the local cloud makes to moto: one module per patched service.

moto is pinned exactly (pyproject.toml). Each patch restores one AWS behaviour, says which in
its docstring, and is covered by tests/localcloud/test_patches.py, which fails loudly when a
moto upgrade moves the internals a patch relies on. `apply()` installs them all, once per
process, in this order (a test checks this index against it):

 1. lambda_in_process        lambda_.py         Lambda runs our handlers in-process
 2. events_to_lambda         events.py          EventBridge delivers to Lambda targets
 3. alarm_state_events       cloudwatch.py      alarm state changes reach EventBridge
 4. cfn_state_machines       cloudformation.py  CloudFormation's state machines execute
 5. cfn_missing_types        cloudformation.py  the resource types moto lacks
 6. sagemaker_api            sagemaker.py       the pipeline and model package API moto lacks
 7. sagemaker_events         sagemaker.py       SageMaker's status-change events
 8. heartbeat_timeout        stepfunctions.py   States.HeartbeatTimeout
 9. early_callback           stepfunctions.py   a callback that arrives early completes a task
10. task_failure_cause       stepfunctions.py   SendTaskFailure keeps its cause
11. atomic_dynamodb          dynamodb.py        atomic operations under concurrent callers
12. time_scale               time_scale.py      timers faster than real time
13. sagemaker_hosting        sagemaker.py       endpoints that deploy and serve their model
14. api_faults               api_faults.py      throttles, outages and lost answers on demand
15. service_error_names      stepfunctions.py   integration errors named as AWS names them
16. uncatchable_runtime      stepfunctions.py   States.ALL does not catch States.Runtime
17. cfn_json_templates       cloudformation.py  a JSON template read as JSON
18. parse_once               stepfunctions.py   a definition parsed once
19. execution_history_pages  stepfunctions.py   GetExecutionHistory's pages and options
20. cfn_key_policy           cloudformation.py  a KMS key's policy kept as a JSON document
21. iam_enforced             iam.py             a role's calls allowed or refused by its policies
22. cfn_list_defaults        cloudformation.py  a list parameter's default read as a list
23. service_models_once      clients.py         each service's model read from disk once
24. cfn_names_per_cloud      cloudformation.py  the names it gives drawn afresh in each local cloud
25. sagemaker_transform      sagemaker.py       transform jobs that score their input
26. sagemaker_sync           stepfunctions.py   `.sync` for SageMaker's transform jobs
27. nested_executions        stepfunctions.py   a state machine starts another and waits for it

Not patched, because stock moto already behaves like AWS (tests/localcloud checks it stays so):
same-name StartExecution calls have one winner under concurrent callers.

The rest of the local cloud reaches the patches' state through this package: the function
registry, the hooks the pipeline simulator and hosting set, the time scale, Lambda's output.
"""

from __future__ import annotations

import threading

from localcloud.patches.api_faults import api_faults
from localcloud.patches.clients import service_models_once
from localcloud.patches.cloudformation import (
    RestApi,
    cfn_json_templates,
    cfn_key_policy,
    cfn_list_defaults,
    cfn_missing_types,
    cfn_names_per_cloud,
    cfn_state_machines,
    rest_apis,
    restart_names,
)
from localcloud.patches.cloudwatch import alarm_state_events
from localcloud.patches.dynamodb import atomic_dynamodb
from localcloud.patches.events import events_to_lambda, fire_schedules
from localcloud.patches.iam import iam_enforced
from localcloud.patches.lambda_ import (
    functions,
    invoke_in_process,
    lambda_in_process,
    lambda_output,
)
from localcloud.patches.sagemaker import (
    emit_pipeline_status,
    hosting_hooks,
    pipeline_hooks,
    sagemaker_api,
    sagemaker_events,
    sagemaker_hosting,
    sagemaker_transform,
    transform_hooks,
)
from localcloud.patches.stepfunctions import (
    early_callback,
    execution_history_pages,
    heartbeat_timeout,
    nested_executions,
    parse_once,
    sagemaker_sync,
    service_error_names,
    task_failure_cause,
    uncatchable_runtime,
)
from localcloud.patches.time_scale import local_time, time_scale

__all__ = [
    "PATCHES",
    "RestApi",
    "apply",
    "emit_pipeline_status",
    "fire_schedules",
    "functions",
    "hosting_hooks",
    "invoke_in_process",
    "lambda_output",
    "local_time",
    "pipeline_hooks",
    "rest_apis",
    "restart_names",
    "transform_hooks",
]

PATCHES = (
    lambda_in_process,
    events_to_lambda,
    alarm_state_events,
    cfn_state_machines,
    cfn_missing_types,
    sagemaker_api,
    sagemaker_events,
    heartbeat_timeout,
    early_callback,
    task_failure_cause,
    atomic_dynamodb,
    time_scale,
    sagemaker_hosting,
    api_faults,
    service_error_names,
    uncatchable_runtime,
    cfn_json_templates,
    parse_once,
    execution_history_pages,
    cfn_key_policy,
    iam_enforced,
    cfn_list_defaults,
    service_models_once,
    cfn_names_per_cloud,
    sagemaker_transform,
    sagemaker_sync,
    nested_executions,
)

_lock = threading.Lock()
_applied: list[str] = []


def apply() -> list[str]:
    """Install every patch (idempotent). Returns the names of the patches installed."""
    with _lock:
        if not _applied:
            # In order: sagemaker_events wraps the UpdateModelPackage that sagemaker_api made.
            for patch in PATCHES:
                patch()
                _applied.append(patch.__name__)
    return list(_applied)
