"""Evidently's side of the drift benchmark (see bench/drift.py), run as its jobs:
python -m bench.drift_evidently <job> <json arguments> (see bench.measure.serve).

The only module that imports pandas and Evidently; both come with the `bench` dependency
group, which `make bench` installs and `make test` does not.

Capture files become a DataFrame the way a careful pandas user would do it: per file, the CSV
payload of each JSON line, then one `pd.read_csv` of those payloads; the files' frames are
concatenated. The report is `Report([DataDriftPreset()])` with Evidently's defaults; a
feature's verdict is its value-drift test (failed: drifted).
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently import __version__ as evidently_version
from evidently.presets import DataDriftPreset

from bench.drift_data import (
    DETECTION_BASELINE_SEED,
    FEATURES,
    Table,
    capture_files,
    detection_window,
    generate,
)
from bench.measure import Job, measured, serve

NAMES = [f.name for f in FEATURES]
NUMERIC = [f.name for f in FEATURES if not f.categorical]
CATEGORICAL = [f.name for f in FEATURES if f.categorical]
TEXT_COLUMNS = dict.fromkeys(CATEGORICAL, str)
VALUE_DRIFT = "evidently:metric_v2:ValueDrift"


def definition() -> Any:
    return DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)


def read_reference(folder: Path) -> Any:
    return pd.read_csv(folder / "reference.csv", dtype=TEXT_COLUMNS)


def read_capture(paths: Sequence[Path]) -> Any:
    """Capture files -> one DataFrame of the model inputs."""
    frames = []
    for path in paths:
        with path.open("rb") as lines:
            payloads = [json.loads(line)["captureData"]["endpointInput"]["data"] for line in lines]
        text = io.StringIO("\n".join(payloads))
        frames.append(pd.read_csv(text, header=None, names=NAMES, dtype=TEXT_COLUMNS))
    return pd.concat(frames, ignore_index=True)


def frame(table: Table) -> Any:
    """A generated table as a DataFrame: NaN / None for missing values."""
    columns: dict[str, Any] = {}
    for feature in FEATURES:
        column = table[feature.name]
        if feature.categorical:
            columns[feature.name] = np.array([*feature.categories, None], dtype=object)[column]
        else:
            columns[feature.name] = column
    return pd.DataFrame(columns)


def run_report(current: Any, reference: Any) -> Any:
    """The DataDriftPreset report of a current window against a reference (a DataFrame, or a
    Dataset made once and reused)."""
    if not isinstance(reference, Dataset):
        reference = Dataset.from_pandas(reference, data_definition=definition())
    report = Report([DataDriftPreset()], include_tests=True)
    return report.run(Dataset.from_pandas(current, data_definition=definition()), reference)


def verdicts(snapshot: Any) -> dict[str, dict[str, Any]]:
    """Per feature: Evidently's drift score, method, threshold and verdict."""
    document: Mapping[str, Any] = snapshot.dict()
    found: dict[str, dict[str, Any]] = {}
    for metric in document["metrics"]:
        config = metric["config"]
        if config.get("type") == VALUE_DRIFT:
            found[config["column"]] = {
                "score": float(metric["value"]),
                "method": config["method"],
                "threshold": config["threshold"],
                "drifted": None,
            }
    for test in document["tests"]:
        params = test["metric_config"]["params"]
        if params.get("type") == VALUE_DRIFT:
            found[params["column"]]["drifted"] = test["status"] == "FAIL"
    missing = sorted(name for name, v in found.items() if v["drifted"] is None)
    if missing or set(found) != set(NAMES):
        raise RuntimeError(f"no drift verdict from Evidently for: {missing or sorted(found)}")
    return found


def job_report(folder: Path) -> dict[str, Any]:
    """Reading the files into DataFrames, then the report on them: two measured steps, so
    the report alone is "engine vs engine" and both together are "from capture files"."""
    with measured() as loading:
        reference = read_reference(folder)
        current = read_capture(capture_files(folder))
    with measured() as report:
        snapshot = run_report(current, reference)
    return {
        "version": str(evidently_version),
        "load": loading,
        "report": report,
        "features": verdicts(snapshot),
    }


def job_detect(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Evidently's drifted features on each detection window (bench.drift_data.detection_plan)."""
    reference = frame(generate(arguments["baseline_rows"], DETECTION_BASELINE_SEED))
    reference_set = Dataset.from_pandas(reference, data_definition=definition())
    flags = []
    for kind, seed in arguments["plan"]:
        current = frame(detection_window(kind, seed, arguments["window_rows"]))
        found = verdicts(run_report(current, reference_set))
        flags.append({"kind": kind, "drift": [n for n in NAMES if found[n]["drifted"]]})
    return {"windows": flags}


JOBS: dict[str, Job] = {
    "report": lambda a: job_report(Path(a["folder"])),
    "detect": job_detect,
}

if __name__ == "__main__":
    sys.exit(serve(JOBS, sys.argv[1:]))
