"""Evidently's side of the policy benchmark (bench/policy.py), run as its job:
python -m bench.policy_evidently shares <json arguments> (see bench.measure.serve).

For one world, Evidently's share of drifted columns (`DriftedColumnsCount`, its default
per-column tests, the ones DataDriftPreset runs) on every window of the scenario streams and
of the first `evidently_days` no-change days, against the champion's training data: the same
rows bench/policy.py checks (the same seeds). Imports pandas and Evidently (the `bench`
dependency group).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently import __version__ as evidently_version
from evidently.metrics import DriftedColumnsCount

from bench.measure import Job, serve
from bench.policy import WORLDS, Matrix, Sizes, WorldSpec, columns, day_windows, stream_windows


def frame(spec: WorldSpec, x: Matrix) -> Any:
    return pd.DataFrame(columns(spec, x))


def job_shares(arguments: Mapping[str, Any]) -> dict[str, Any]:
    sizes = Sizes(**arguments["sizes"])
    problem = arguments["problem"]
    spec = WORLDS[problem]
    index = list(WORLDS).index(problem)
    definition = DataDefinition(
        numerical_columns=[n for n in spec.features if n not in spec.categorical],
        categorical_columns=list(spec.categorical),
    )
    reference = Dataset.from_pandas(frame(spec, spec.reference(sizes)[0]), definition)

    def share(x: Matrix) -> float:
        current = Dataset.from_pandas(frame(spec, x), definition)
        snapshot = Report([DriftedColumnsCount()]).run(current, reference)
        return float(snapshot.dict()["metrics"][0]["value"]["share"])

    streams: dict[str, list[float]] = {}
    for scenario, _, x, _ in stream_windows(spec, index, sizes):
        streams.setdefault(scenario, []).append(share(x))
    days = [share(x) for x in day_windows(spec, index, sizes, sizes.evidently_days)]
    return {"version": str(evidently_version), "streams": streams, "days": days}


JOBS: dict[str, Job] = {"shares": job_shares}

if __name__ == "__main__":
    sys.exit(serve(JOBS, sys.argv[1:]))
