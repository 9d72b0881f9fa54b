"""The quality check's measuring task: the window's captured requests joined with their ground
truth, scored as the evaluation scores a holdout (driftcheck.scoring), written as Model
Monitor's model-quality files (statistics.json, constraint_violations.json) and a report,
published to CloudWatch (ModelFresh/Quality) and recorded as the model's latest quality
finding, which its quality alarm carries into a retrain.

A record that cannot be used (not JSON, no event id, a label or prediction that is not a
number, a binary label that is not 0 or 1) is counted by its reason and never stops the check.
A window with fewer than `min_rows` labelled requests publishes only its counts: a metric of a
handful of rows is noise, and the alarm treats the missing figure as neither good nor bad.

Only this task loads numpy (the drift layer); the planning task does not.
"""

from __future__ import annotations

import functools
import html
import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import numpy as np
from driftcheck import labels as joins
from driftcheck.estimate import EstimatorInvalid, PredictionsInvalid, estimate
from driftcheck.scoring import SCORERS, bootstrap, metric_section

from modelfresh import quality_metrics
from modelfresh.core.errors import MalformedEvent
from modelfresh.core.events import require
from modelfresh.core.observability import BusinessMetric, count, logger
from modelfresh.quality.limits import violation
from modelfresh.quality.plan import BREACH_METRIC, QualityCheckPlan, quality_summary

# The spread of a live figure: fewer resamples than the evaluation's, as it runs every hour.
BOOTSTRAP_SAMPLES = 200
NOT_JSON = "not valid JSON"
NOT_OBJECT = "not a JSON object"
LABEL_NOT_CLASS = "a binary label must be 0 or 1"
NOT_PROBABILITY = "the prediction is not a probability (0 to 1)"
NO_RECORD_ID = "a line with no record id before its score (batch.record_ids)"
MANIFEST_INVALID = "the quality check's manifest {uri} is invalid: {problem}"


class QualityObjects(Protocol):
    """The window's objects and the check's files in S3 (see aws/drift.py's DriftObjects)."""

    def lines(self, bucket: str, key: str) -> Iterator[bytes]: ...

    def read_json(self, uri: str) -> Any: ...

    def write(self, uri: str, body: str | bytes, content_type: str) -> str: ...


class QualityPublisher(Protocol):
    """The check's CloudWatch metrics (see aws/quality.py)."""

    def publish(
        self, model: str, at: str, metrics: Mapping[str, float], rows: int, unlabelled: int
    ) -> int: ...

    def publish_estimates(
        self, model: str, at: str, metrics: Mapping[str, float], rows: int
    ) -> int: ...


class QualityFindings(Protocol):
    """The model's latest quality finding (see aws/drift.py's DriftState)."""

    def record_quality(self, model: str, finding: Mapping[str, Any]) -> None: ...


@dataclass
class Joined:
    """The window's labelled requests (label, prediction) and what could not be used."""

    labels: list[float] = field(default_factory=list)
    predictions: list[float] = field(default_factory=list)
    requests: int = 0
    unlabelled: int = 0
    ground_truth: int = 0
    corrected_labels: int = 0
    unmatched_labels: int = 0
    malformed: Counter[str] = field(default_factory=Counter)

    def counts(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "labelled": len(self.labels),
            "unlabelled": self.unlabelled,
            "labels": self.ground_truth,
            "corrected_labels": self.corrected_labels,
            "unmatched_labels": self.unmatched_labels,
            "malformed": sum(self.malformed.values()),
            "malformed_by_reason": dict(sorted(self.malformed.items())),
        }


def _records(
    objects: QualityObjects, bucket: str, keys: list[str], source: str, joined: Joined
) -> Iterator[dict[str, Any]]:
    """Every JSON object line of the objects; other lines are counted."""
    for key in keys:
        for raw in objects.lines(bucket, key):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except ValueError:
                joined.malformed[f"{source}: {NOT_JSON}"] += 1
                continue
            if not isinstance(record, dict):
                joined.malformed[f"{source}: {NOT_OBJECT}"] += 1
                continue
            yield record


def _listed(manifest: Any, name: str, uri: str) -> tuple[str, list[str]]:
    section = manifest.get(name) if isinstance(manifest, dict) else None
    bucket = section.get("bucket") if isinstance(section, dict) else None
    keys = section.get("keys") if isinstance(section, dict) else None
    if not isinstance(bucket, str) or not isinstance(keys, list):
        problem = f"{name} needs a bucket and a list of keys"
        raise MalformedEvent(MANIFEST_INVALID.format(uri=uri, problem=problem))
    return bucket, [str(key) for key in keys]


def join_window(objects: QualityObjects, manifest_uri: str, problem_type: str) -> Joined:
    """Each captured request of the manifest joined with its ground truth: its label and the
    prediction the endpoint answered with."""
    manifest = objects.read_json(manifest_uri)
    truth_bucket, truth_keys = _listed(manifest, "groundTruth", manifest_uri)
    capture_bucket, capture_keys = _listed(manifest, "capture", manifest_uri)
    joined = Joined()
    found = joins.Labels()
    for record in _records(objects, truth_bucket, truth_keys, "ground truth", joined):
        try:
            found.add(record)
        except joins.Malformed as problem:
            joined.malformed[f"ground truth: {problem}"] += 1
    joined.ground_truth, joined.corrected_labels = len(found.by_request), found.duplicates
    binary = problem_type == "binary_classification"
    used: set[str] = set()
    if isinstance(manifest, dict) and "predictions" in manifest:  # a batch model's runs
        source = "batch output"
        bucket, keys = _listed(manifest, "predictions", manifest_uri)
        answers = _batch_answers(objects, bucket, keys, joined)
    else:
        source = "capture"
        answers = _captured_answers(objects, capture_bucket, capture_keys, joined)
    for key, answer in answers:
        try:
            joined.requests += 1
            label = found.by_request.get(key)
            if label is None:
                joined.unlabelled += 1
                continue
            used.add(key)
            value, prediction = float(label), answer()
            if binary and value not in (0.0, 1.0):
                raise joins.Malformed(LABEL_NOT_CLASS)
            if binary and not 0.0 <= prediction <= 1.0:
                raise joins.Malformed(NOT_PROBABILITY)
        except joins.Malformed as problem:
            joined.malformed[f"{source}: {problem}"] += 1
            continue
        joined.labels.append(value)
        joined.predictions.append(prediction)
    joined.unmatched_labels = len(found.by_request.keys() - used)
    return joined


def _captured_answers(
    objects: QualityObjects, bucket: str, keys: list[str], joined: Joined
) -> Iterator[tuple[str, Callable[[], float]]]:
    """Each captured request's inference id, and how to read its prediction."""
    for record in _records(objects, bucket, keys, "capture", joined):
        try:
            key = joins.join_key(record)
        except joins.Malformed as problem:
            joined.malformed[f"capture: {problem}"] += 1
            continue
        yield key, functools.partial(joins.prediction, record)


def _batch_answers(
    objects: QualityObjects, bucket: str, keys: list[str], joined: Joined
) -> Iterator[tuple[str, Callable[[], float]]]:
    """Each scored record's id and score, from a batch run's "<record id>,<score>" lines."""
    for key in keys:
        for raw in objects.lines(bucket, key):
            line = raw.decode(errors="replace").strip()
            if not line:
                continue
            record, _, score = line.rpartition(",")
            if not record:
                joined.malformed[f"batch output: {NO_RECORD_ID}"] += 1
                continue
            yield record, functools.partial(_number, score)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise joins.Malformed(f"{text[:20]!r} is not a number") from None


def estimate_latest(
    objects: QualityObjects, plan: QualityCheckPlan, problem_type: str
) -> dict[str, Any] | None:
    """The latest window's metrics estimated from its predictions alone, with the champion's
    estimator; None when there is nothing to estimate with (the reason is logged)."""
    latest = plan["estimate"]
    if not latest:
        return None
    report = objects.read_json(latest["report"])
    estimator = report.get("estimator") if isinstance(report, dict) else None
    if not isinstance(estimator, dict):
        logger.info("the champion's evaluation report has no estimator: nothing estimated")
        return None
    listed = objects.read_json(latest["capture"])
    predictions, rows, unreadable = [], [], Counter[str]()
    for record in _records(objects, listed["bucket"], listed["keys"], "capture", Joined()):
        try:
            predictions.append(joins.prediction(record))
        except joins.Malformed as problem:
            unreadable[str(problem)] += 1
            continue
        try:
            rows.append(joins.inputs(record))
        except joins.Malformed:
            rows.append([])  # the estimate then goes by the predictions alone
    found, basis = _estimated(problem_type, estimator, predictions, rows)
    if found is None:
        return None
    return {
        "window": latest["window"],
        "published_at": latest["published_at"],
        "rows": len(predictions),
        "unreadable": dict(unreadable),
        "basis": basis,
        "metrics": dict(found),
    }


def _estimated(
    problem_type: str,
    estimator: Mapping[str, Any],
    predictions: list[float],
    rows: list[list[float]],
) -> tuple[Mapping[str, Any] | None, str]:
    """The estimate from the predictions and, when the estimator's calibration looks at the
    inputs and every request's row is there, from the inputs too (see driftcheck.estimate);
    and which it was."""
    calibration = estimator.get("calibration")
    widths = {len(row) for row in rows}
    if isinstance(calibration, dict) and "inputs" in calibration and widths not in ({0}, set()):
        try:
            inputs = np.asarray(rows, dtype=np.float64)
            found = estimate(problem_type, estimator, np.asarray(predictions), inputs=inputs)
            return found, "predictions and inputs"
        # Rows of unequal widths, or not the holdout's: PredictionsInvalid is a ValueError too.
        except ValueError as problem:
            logger.info("estimated from the predictions alone", extra={"reason": str(problem)})
    try:
        return estimate(problem_type, estimator, np.asarray(predictions)), "predictions"
    except (EstimatorInvalid, PredictionsInvalid) as problem:
        logger.warning("no estimate", extra={"reason": str(problem)})
        return None, ""


def score(joined: Joined, problem_type: str) -> dict[str, Any]:
    """Model Monitor's model-quality section of the problem type: {metric: {"value",
    "standard_deviation"}}, the spread from a seeded bootstrap of the window's rows."""
    y, p = np.asarray(joined.labels), np.asarray(joined.predictions)
    metrics = SCORERS[problem_type]
    resampled = bootstrap(y, [p], metrics, BOOTSTRAP_SAMPLES)[0]
    return metric_section(y, p, metrics, resampled)


def measure_quality(
    plan: QualityCheckPlan,
    execution: str,
    *,
    objects: QualityObjects,
    metrics: QualityPublisher,
    findings: QualityFindings,
) -> dict[str, Any]:
    """ "Measure the quality": join, score, write the files, publish, record the finding."""
    model, problem, metric = (
        require(cast(dict[str, Any], plan), key, str) for key in ("model", "problem_type", "metric")
    )
    joined = join_window(objects, plan["manifest"], problem) if plan["labelled"] else Joined()
    rows = len(joined.labels)
    section_name = quality_metrics.SECTIONS[problem]
    enough = rows >= plan["min_rows"]
    section = score(joined, problem) if enough else {}
    value = (section.get(metric) or {}).get("value")
    limit = plan["limit"]
    spread = (section.get(metric) or {}).get("standard_deviation")
    broken = (
        violation(metric, value, limit, spread=spread, level=plan["level"])
        if isinstance(value, float) and limit is not None
        else None
    )
    output = plan["output"]
    estimated = estimate_latest(objects, plan, problem)
    statistics = {
        "version": 0.0,
        "dataset": {"item_count": rows, "evaluation_time": plan["published_at"]},
        section_name: section,
        "modelfresh": {"window": plan["window"], "counts": joined.counts()}
        | ({"estimate": estimated} if estimated else {}),
    }
    files = {
        "statistics": objects.write(
            output + "statistics.json", json.dumps(statistics, indent=1), "application/json"
        ),
        "violations": objects.write(
            output + "constraint_violations.json",
            json.dumps({"violations": [broken] if broken else []}, indent=1),
            "application/json",
        ),
    }
    champion = plan["champion"].get("value")
    finding: dict[str, Any] = {
        "window": plan["window"],
        "checked_at": plan["published_at"],
        "metric": metric,
        "value": value,
        "standard_deviation": spread,
        "limit": limit,
        "champion": champion,
        "violated": broken is not None,
        "rows": rows,
        "unlabelled": joined.unlabelled,
        "malformed": sum(joined.malformed.values()),
        "execution": execution,
    }
    if estimated and isinstance(estimated.get("metrics", {}).get(metric), dict):
        figure = estimated["metrics"][metric]
        finding["estimate"] = {
            "window": estimated["window"],
            "value": figure["value"],
            "standard_deviation": figure["standard_deviation"],
            "rows": estimated["rows"],
        }
    finding["report"] = objects.write(
        output + "report.html",
        report_page(model, plan, finding, section, joined, estimated=estimated),
        "text/html",
    )
    finding |= files
    published = {
        name: float(figure["value"])
        for name, figure in section.items()
        if isinstance(figure.get("value"), float)
    }
    if isinstance(value, float) and limit is not None:
        # What the alarm watches: past the limit beyond the window's noise (1) or not (0).
        published[BREACH_METRIC] = float(broken is not None)
    if plan["labelled"]:
        metrics.publish(model, plan["published_at"], published, rows, joined.unlabelled)
    if estimated:
        figures = {
            f"estimated_{name}": float(figure["value"])
            for name, figure in estimated["metrics"].items()
            if isinstance(figure.get("value"), float)
        }
        metrics.publish_estimates(model, estimated["published_at"], figures, estimated["rows"])
    findings.record_quality(model, finding)
    count(
        BusinessMetric.QUALITY_CHECK_COMPLETED
        if enough
        else BusinessMetric.QUALITY_CHECK_TOO_FEW_LABELS,
        model,
    )
    logger.info("quality checked", extra={"finding": finding})
    return {"summary": quality_summary(finding), "finding": finding}


def report_page(
    model: str,
    plan: QualityCheckPlan,
    finding: Mapping[str, Any],
    section: Mapping[str, Any],
    joined: Joined,
    *,
    estimated: Mapping[str, Any] | None = None,
) -> str:
    """One self-contained page a person reads: the figures, the limit, what was counted, and
    the latest window's estimate (before its labels)."""
    e = html.escape

    def number(value: Any, spread: Any = None) -> str:
        if not isinstance(value, int | float):
            return "n/a"
        text = f"{value:.4g}"
        return text + (f" ± {spread:.2g}" if isinstance(spread, int | float) else "")

    rows = "".join(
        f"<tr><th scope='row'>{e(name)}</th>"
        f"<td>{e(number(figure.get('value'), figure.get('standard_deviation')))}</td></tr>"
        for name, figure in section.items()
    )
    counted = "".join(
        f"<tr><th scope='row'>{e(name.replace('_', ' '))}</th><td>{e(str(value))}</td></tr>"
        for name, value in joined.counts().items()
        if name != "malformed_by_reason"
    )
    reasons = "".join(
        f"<li>{e(reason)}: {n}</li>" for reason, n in sorted(joined.malformed.items())
    )
    notes = "".join(f"<li>{e(note)}</li>" for note in plan["notes"])
    guessed = ""
    if estimated:
        later = estimated["window"]
        guessed = (
            f"<h2>Estimated, before labels</h2><p>From the {estimated['rows']} requests' "
            f"{e(estimated.get('basis') or 'predictions')} "
            f"captured from {e(later['start'])} to {e(later['end'])}, with the champion's "
            "estimator (it cannot see a concept drift: only labels show that).</p><table>"
            + "".join(
                f"<tr><th scope='row'>{e(name)}</th><td>"
                f"{e(number(figure.get('value'), figure.get('standard_deviation')))}</td></tr>"
                for name, figure in estimated["metrics"].items()
            )
            + "</table>"
        )
    window = plan["window"]
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Quality of {e(model)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;"
        "padding:0 1rem}table{border-collapse:collapse}th,td{padding:.25rem .75rem;"
        "text-align:left;border-bottom:1px solid #ddd}.bad{color:#a00}</style></head><body>"
        f"<h1>Quality of {e(model)}</h1>"
        f"<p>Requests captured from {e(window['start'])} to {e(window['end'])}, joined with "
        "their ground truth.</p>"
        f"<p class='{'bad' if finding['violated'] else 'ok'}'>{e(quality_summary(finding))}"
        "</p>"
        f"<h2>Metrics</h2><table>{rows or '<tr><td>too few labelled requests</td></tr>'}"
        "</table>"
        f"<h2>What was read</h2><table>{counted}</table>"
        + guessed
        + (f"<h2>Records not used</h2><ul>{reasons}</ul>" if reasons else "")
        + (f"<h2>Notes</h2><ul>{notes}</ul>" if notes else "")
        + "</body></html>"
    )
