"""Benchmarks (`make bench`): results in bench/results.json and bench/RESULTS.md.

1. Cold import time of every handler module, each in fresh processes, next to the floor every
   Python Lambda with tracing pays (`import boto3` + the X-Ray SDK patching botocore), as a
   ratio measured in the same run. Goal: <= 1.3x the floor. Runs are interleaved (floor, each
   handler, floor, ...) so load on the machine hits all of them alike. Bytecode is cached for
   both, as the layer ships it compiled (layers/shared/Makefile).
2. State transitions and history events of one retrain cycle on the local cloud, with a
   pipeline that takes a simulated minute and one that takes a simulated 72 hours (432
   heartbeat sweeps at the default 10 minutes). Goal: identical counts, <= 40 transitions.
3. The drift check next to Evidently's DataDriftPreset: speed and memory on a 1M-row window,
   per-feature verdicts, detection and false-alarm rates (bench/drift.py). Goals: >= 20x
   faster, <= 1/5 of its peak memory, the same verdicts, <= 1% false alarms.
4. Performance estimated before labels arrive (driftcheck.estimate) against the realised
   metrics, hour by hour, under no change, covariate shift and pure concept drift
   (bench/estimate.py). Goal: |estimated auc - realised auc| <= 0.03 under covariate shift.
5. False alarms with a stated budget: needless retrains in 90 days of hourly checks of
   unchanged traffic, with and without the drift check's budget, and a real shift as the
   control (bench/false_alarms.py). Goal: <= 1 per model per 90 days with the budget.
6. The retrain policies (drift, quality, drift-and-degraded; and a drift policy fed by
   Evidently) on simulated hourly streams of a regression and a binary classifier under no
   change, harmless and harmful covariate shift and pure concept drift, and on 90 no-change
   days: needless retrains, missed degradations, hours to detection (bench/policy.py). Goals:
   0 missed concept drifts where labels arrive, <= 1 needless retrain per model per 90 days,
   none under drift-and-degraded for a harmless shift, estimated auc within 0.03.

`--only SECTION` (repeatable; `make bench ONLY=estimate`) runs those sections alone and
records them in results.json beside the other sections' last figures, then renders RESULTS.md
from the whole file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelfresh.core.config import load_config

from bench import drift, drift_report, estimate, false_alarms, policy
from localcloud import Candidate, LocalCloud

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench"
FLOOR = "import boto3\nfrom aws_xray_sdk.core import patch\npatch(['botocore'])"
# The drift and quality checks' statistics handlers take the numpy layer: their floor includes
# numpy.
DRIFT_HANDLERS = ("conclude_drift_check", "summarise_capture", "measure_quality")
DRIFT_FLOOR = FLOOR + "\nimport numpy"
# What Lambda sets, and what our template's Globals set: the tracer is on, as deployed.
LAMBDA_ENVIRONMENT = {
    "AWS_LAMBDA_FUNCTION_NAME": "bench",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_SERVICE_NAME": "modelfresh",
    "POWERTOOLS_METRICS_NAMESPACE": "ModelFresh",
    # Both layers: the drift statistics handlers take the drift layer too (the others never
    # import from it; one more path entry costs them nothing measurable).
    "PYTHONPATH": os.pathsep.join(str(ROOT / "layers" / name) for name in ("shared", "drift")),
}
TIMER = """
import time, importlib.util, sys
started = time.perf_counter()
{body}
print(time.perf_counter() - started)
"""
LOAD_HANDLER = """
spec = importlib.util.spec_from_file_location("app", {path!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
"""


def time_import(body: str) -> float:
    """Seconds one fresh process spends running `body` (interpreter start excluded)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "AWS_"))}
    environment |= LAMBDA_ENVIRONMENT
    output = subprocess.run(  # noqa: S603 - our own interpreter, our own code
        [sys.executable, "-c", TIMER.format(body=body)],
        capture_output=True,
        text=True,
        check=True,
        env=environment,
    ).stdout
    return float(output.strip().splitlines()[-1])


def import_benchmark(rounds: int) -> dict[str, Any]:
    handlers = {p.parent.name: p for p in sorted((ROOT / "functions").glob("*/app.py"))}
    samples: dict[str, list[float]] = {
        "floor": [],
        "drift_floor": [],
        **{name: [] for name in handlers},
    }
    for path in handlers.values():  # warm the OS file cache once; not measured
        time_import(LOAD_HANDLER.format(path=str(path)))
    for _ in range(rounds):
        samples["floor"].append(time_import(FLOOR))
        samples["drift_floor"].append(time_import(DRIFT_FLOOR))
        for name, path in handlers.items():
            samples[name].append(time_import(LOAD_HANDLER.format(path=str(path))))
    floor = statistics.median(samples["floor"])
    drift_floor = statistics.median(samples["drift_floor"])
    results: dict[str, Any] = {
        "rounds": rounds,
        "floor_ms": round(floor * 1000, 1),
        "drift_floor_ms": round(drift_floor * 1000, 1),
        "handlers": {},
    }
    for name in handlers:
        median = statistics.median(samples[name])
        numbers = {"median_ms": round(median * 1000, 1), "ratio_to_floor": round(median / floor, 3)}
        if name in DRIFT_HANDLERS:
            numbers["ratio_to_drift_floor"] = round(median / drift_floor, 3)
        results["handlers"][name] = numbers
    return results


def transitions_benchmark() -> dict[str, Any]:
    def one_cycle(heartbeat_sweeps: int) -> dict[str, Any]:
        with LocalCloud() as cloud:
            config = ROOT / "tests" / "fixtures" / "models.toml"
            stack = cloud.deploy(model_config=config)
            cloud.seed_model(load_config(config).model("taxi-fare"))
            cloud.create_drift_alarm("modelfresh-drift-taxi-fare", model="taxi-fare")
            cloud.client("cloudwatch").set_alarm_state(
                AlarmName="modelfresh-drift-taxi-fare", StateValue="ALARM", StateReason="bench"
            )
            run = cloud.pipelines.wait_for_run("modelfresh-retrain")
            for _ in range(heartbeat_sweeps):
                cloud.fire_schedules(only=lambda rule: "HeartbeatWaits" in rule)
            assert run.status == "Executing"
            run.succeed(Candidate(metrics={"rmse": 3.1}, champion_metrics={"rmse": 3.4}))
            sfn = cloud.client("stepfunctions")
            execution = sfn.list_executions(stateMachineArn=stack.outputs["RetrainStateMachineArn"])
            described = cloud.wait_for_execution(execution["executions"][0]["executionArn"])
            history = sfn.get_execution_history(
                executionArn=described["executionArn"], maxResults=1000
            )
            events = history["events"]
            return {
                "status": described["status"],
                "heartbeat_sweeps": heartbeat_sweeps,
                "state_transitions": sum(e["type"].endswith("StateEntered") for e in events),
                "history_events": len(events),
                "states": [
                    e["stateEnteredEventDetails"]["name"]
                    for e in events
                    if e["type"].endswith("StateEntered")
                ],
            }

    short = one_cycle(heartbeat_sweeps=0)  # done within a minute: no sweep ever sees it
    long = one_cycle(heartbeat_sweeps=72 * 6)  # 72 h at one sweep per 10 minutes
    return {
        "one_minute": short,
        "seventy_two_hours": long,
        "identical": (short["state_transitions"], short["history_events"])
        == (long["state_transitions"], long["history_events"]),
        # For contrast, by arithmetic: a Wait(60 s) -> Describe -> Choice poll loop enters 3
        # states a minute, and Step Functions caps history at 25,000 events.
        "poll_loop_transitions_72h": 3 * 60 * 72,
    }


SECTIONS = ("imports", "transitions", "drift", "estimate", "false_alarms", "policy")


def stamp() -> dict[str, str]:
    """When and where figures are measured."""
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
        ),
    }


def estimate_benchmark() -> dict[str, Any]:
    """The estimate section, stamped with its own time and machine (it may run alone)."""
    return stamp() | estimate.benchmark()


def false_alarms_benchmark() -> dict[str, Any]:
    """The false-alarm section, stamped with its own time and machine (it may run alone)."""
    return stamp() | false_alarms.benchmark()


def policy_benchmark() -> dict[str, Any]:
    """The policy section, stamped with its own time and machine (it may run alone)."""
    return stamp() | policy.benchmark()


def render(results: dict[str, Any]) -> str:
    imports = results["imports"]
    cycle = results["transitions"]
    lines = [
        "# Benchmark results",
        "",
        f"Measured {results['measured_at']} on {results['machine']} by `make bench`.",
        "",
        "## Cold import of each handler (fresh process, median of "
        f"{imports['rounds']}, tracer on as deployed)",
        "",
        f"Floor (`import boto3` + X-Ray patching botocore): **{imports['floor_ms']} ms**. "
        "Goal: <= 1.3x.",
        "",
        "| handler | median | ratio to floor |",
        "|---|---:|---:|",
    ]
    controller = {k: v for k, v in imports["handlers"].items() if k not in DRIFT_HANDLERS}
    for name, numbers in sorted(controller.items()):
        lines.append(f"| {name} | {numbers['median_ms']} ms | {numbers['ratio_to_floor']}x |")
    worst = max(n["ratio_to_floor"] for k, n in controller.items() if k != "approval_api")
    lines += [
        "",
        f"Worst ratio: **{worst}x**. The approval page's handler pays for powertools' REST event "
        "handler (`aws_lambda_powertools.event_handler` imports every resolver and event class, "
        "about 70 ms); the page is opened by a person, for whom a cold start of that size does "
        "not matter, so it is shown but not held to the goal.",
        "",
        "The drift check's two statistics handlers take the numpy layer (the controller's never "
        f"do). Their floor is the one above plus `import numpy`: **{imports['drift_floor_ms']} "
        "ms**. Goal: <= 1.3x that floor.",
        "",
        "| handler | median | ratio to the numpy floor | ratio to the floor |",
        "|---|---:|---:|---:|",
    ]
    for name in DRIFT_HANDLERS:
        if name not in imports["handlers"]:  # a handler newer than the recorded figures
            lines.append(f"| {name} | not measured yet (`make bench ONLY=imports`) | - | - |")
            continue
        numbers = imports["handlers"][name]
        lines.append(
            f"| {name} | {numbers['median_ms']} ms | {numbers['ratio_to_drift_floor']}x | "
            f"{numbers['ratio_to_floor']}x |"
        )
    lines += [
        "",
        "## One retrain cycle: state transitions and history events",
        "",
        "| pipeline | heartbeat sweeps | state transitions | history events | status |",
        "|---|---:|---:|---:|---|",
    ]
    for label, key in (("1 minute", "one_minute"), ("72 hours", "seventy_two_hours")):
        row = cycle[key]
        lines.append(
            f"| {label} | {row['heartbeat_sweeps']} | {row['state_transitions']} | "
            f"{row['history_events']} | {row['status']} |"
        )
    lines += [
        "",
        f"Identical: **{cycle['identical']}**. "
        f"States: {' -> '.join(cycle['one_minute']['states'])}.",
        "A 60-second polling loop would need about "
        f"{cycle['poll_loop_transitions_72h']:,} transitions for the same 72 hours.",
        "",
    ]
    lines += drift_report.render(results["drift"])
    if "estimate" in results:
        lines += estimate.render(results["estimate"])
    if "false_alarms" in results:
        lines += false_alarms.render(results["false_alarms"])
    if "policy" in results:
        lines += policy.render(results["policy"])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("--rounds", type=int, default=15, help="fresh processes per module")
    parser.add_argument(
        "--only",
        action="append",
        choices=SECTIONS,
        help="run this section alone (repeatable); the others keep their last figures",
    )
    args = parser.parse_args(argv)
    runs = {
        "imports": lambda: import_benchmark(args.rounds),
        "transitions": transitions_benchmark,
        "drift": drift.benchmark,
        "estimate": estimate_benchmark,
        "false_alarms": false_alarms_benchmark,
        "policy": policy_benchmark,
    }
    if args.only:
        results = json.loads((RESULTS / "results.json").read_text())
        results |= {name: runs[name]() for name in SECTIONS if name in args.only}
    else:
        results = stamp() | {name: run() for name, run in runs.items()}
    (RESULTS / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    report = render(results)
    (RESULTS / "RESULTS.md").write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
