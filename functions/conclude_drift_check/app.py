"""Drift-check task: the window's statistics (folded from the batches' partials, or computed
here for a small window, batch by batch in the same order) compared with the champion's
baseline. Writes statistics.json, constraint_violations.json and report.html, publishes the
metrics the drift alarm watches, and records the finding the alarm carries into a retrain.

A window without valid rows is "no data": files are written, no drift metric is published.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from modelfresh.core.events import require
from modelfresh.core.observability import BusinessMetric, count, entry_point, logger
from modelfresh.drift.check import (
    conclude,
    finding,
    read_partials,
    reference_of_check,
    report_context,
    report_title,
    summarise,
    write_outputs,
)
from modelfresh.drift.plan import drift_summary
from modelfresh.wiring import Container

container = Container()


@entry_point
def lambda_handler(
    event: dict[str, Any], context: Any, container: Container = container
) -> dict[str, Any]:
    plan = require(event, "plan", dict)
    check = require(plan, "check", dict)
    objects = container.drift_objects
    model, ref = reference_of_check(container.config, objects, check)
    if "partials" in event:  # a fanned-out check: the Distributed Map's results
        parts = read_partials(objects, ref, require(event, "partials", list))
    else:
        parts = (
            summarise(objects, ref, check["bucket"], b["keys"], check.get("format", "capture"))
            for b in plan["batches"]
        )
    result = conclude(parts, ref)

    window = require(plan, "window", dict)
    # The report also shows whose baseline this was, the alarm, and the earlier checks.
    history = report_context(
        container.drift_metrics,
        model,
        ref.names,
        check["baseline"],
        datetime.fromisoformat(window["start"]),
    )
    files = write_outputs(
        objects, check["output"], result, ref, report_title(model.name, window), context=history
    )
    summary = {
        "rows": result.rows,
        "records": result.records,
        "malformed": result.malformed,
    } | files
    if result.malformed:
        logger.warning(
            "malformed capture lines skipped", extra={"examples": list(result.malformed_examples)}
        )
    if result.no_data:
        count(BusinessMetric.DRIFT_CHECK_NO_DATA, model.name)
        logger.info("no valid rows in the window: no data, not drift", extra=summary)
        return summary | {"noData": True}

    found = finding(result, window, files, str(event.get("execution", "")))
    container.drift_metrics.publish(
        model.name,
        window["start"],
        result.drifted_share,
        {f.name: f.distance for f in result.features},
        result.rows,
    )
    container.drift_state.record_finding(model.name, found)
    count(BusinessMetric.DRIFT_CHECK_COMPLETED, model.name)
    logger.info(
        f"drift check: {drift_summary(found)}", extra=summary | {"drifted": result.drifted_features}
    )
    return summary | {
        "driftedShare": found["drifted_share"],
        "drifted": list(result.drifted_features),
    }
