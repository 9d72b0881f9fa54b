"""The end-to-end demo on the local cloud (`make demo`, `make demo MODEL=churn`; a batch model,
`make demo MODEL=churn-batch`, tells demo/batch_story.py's story instead).

The local cloud starts (moto, listening on 127.0.0.1); a model is in production (a champion
the retraining pipeline trained on the model's synthetic world as it was, with the drift
baseline its baseline step computed, served on staging and on prod with auto scaling,
capturing traffic); the app is deployed into the cloud from template.yaml; and three hours of
requests reach prod: the first like the training data, the next two from a world that has
changed (demo.world: each model's data generator). The system takes it from there:

    captured traffic -> hourly drift checks -> metrics -> the drift alarm (2 of 3 hours)
    -> retrain run -> pipeline (runs its deployed definition here: preprocess, XGBoost
       training, evaluation of candidate and champion on one holdout, baseline) -> gate
    -> Approved in the registry -> deploy run -> staging -> smoke test -> approval email
    -> a person approves -> blue/green deployment to prod -> new champion, baseline re-pointed

Each stage is printed as it happens. By default the demo approves like a browser would (GET
the link from the email, POST the form); with --wait-for-approval it waits, as long as the
approval is open, for you to open the link in a browser on this machine and decide. At the
end the timeline is read back from the system's own records (execution histories, SageMaker,
the audit table), not from the prints along the way, whatever the system decided.

Exit status: 0 the candidate was promoted to production; 3 the system decided otherwise and
said why (drift below the alarm's share, a candidate rejected by the gate or the champion
margin, an approver's no); 1 a run failed (the reason is printed) or the demo got stuck;
2 a bad MODEL or config; 130 stopped by Ctrl-C.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from modelfresh.core.config import load_config
from modelfresh.core.errors import ConfigError
from modelfresh.core.schema import ModelConfig

from demo import churn, taxi
from demo.world import World
from ops import samconfig

if TYPE_CHECKING:  # the local cloud is imported once the first lines are out
    from localcloud import LocalCloud

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "demo-output"
CONFIG = samconfig.models_file("default")  # the local cloud deploys the default environment
# The data generator of each model the demo can run (demo/world.py says how to add one).
WORLDS: dict[str, Callable[[], World]] = {
    "taxi-fare": taxi.City,
    "churn": churn.Subscribers,
    "churn-batch": churn.WideSubscribers,
}
EXIT = {"promoted": 0, "failed": 1, "decided": 3, "interrupted": 130}
USAGE_ERROR = 2


class Console:
    """Progress lines, printed (and flushed) as each stage happens."""

    def __init__(self, started: float) -> None:
        self.started = started

    def __call__(self, stage: str, text: str) -> None:
        print(f"{time.monotonic() - self.started:6.1f}s  {stage:<9} {text}", flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def choose(name: str, config_path: Path) -> tuple[ModelConfig, World] | str:
    """The model and its world, or one line saying why the demo cannot run it."""
    try:
        config = load_config(config_path)
    except ConfigError as error:
        return f"{config_path}: {len(error.problems)} problem(s); run make check-config"
    configured = ", ".join(sorted(config.models))
    if name not in config.models:
        return f"unknown MODEL {name!r}: {config_path.name} configures {configured}"
    model = config.model(name)
    if name not in WORLDS:
        return (
            f"no demo data generator for {name!r} (the demo has {', '.join(sorted(WORLDS))}): "
            "write one as demo/world.py describes"
        )
    world = WORLDS[name]()
    check = model.drift_check
    if check is None:
        return f"the demo needs [models.{name}.drift_check] in {config_path.name}"
    if (tuple(check.features), tuple(check.categorical)) != (world.features, world.categorical):
        return (
            f"[models.{name}.drift_check] features {list(check.features)} (categorical "
            f"{list(check.categorical)}) are not the demo world's {list(world.features)} "
            f"(categorical {list(world.categorical)})"
        )
    return model, world


def main(argv: list[str] | None = None) -> int:
    started = time.monotonic()
    parser = argparse.ArgumentParser(
        prog="python -m demo", description=__doc__.splitlines()[0] if __doc__ else ""
    )
    parser.add_argument(
        "--model", default="taxi-fare", help="the configured model to run (default: taxi-fare)"
    )
    parser.add_argument(
        "--wait-for-approval",
        action="store_true",
        help="wait for a person to open the emailed link and decide (default: approve as a "
        "browser would)",
    )
    parser.add_argument(
        "--keep-running", action="store_true", help="leave the local cloud up at the end"
    )
    parser.add_argument(
        "--port", type=int, default=0, help="port for the local cloud (default: a free one)"
    )
    args = parser.parse_args(argv)

    chosen = choose(args.model, CONFIG)
    if isinstance(chosen, str):
        print(f"make demo: {chosen}", file=sys.stderr)
        return USAGE_ERROR
    model, world = chosen
    print(
        f"modelfresh demo: {model.name} ({model.training.problem_type}, gate "
        f"{model.gate.metric} {model.gate.direction} {model.gate.threshold:g}), the whole loop "
        "on a local cloud",
        flush=True,
    )
    say = Console(started)
    say("setup", "loading the local cloud (moto, boto3, xgboost) ...")
    try:
        return run(model, world, args, say)
    except KeyboardInterrupt:
        print("\nStopped by Ctrl-C; the local cloud is gone.", file=sys.stderr)
        return EXIT["interrupted"]


def run(model: ModelConfig, world: World, args: argparse.Namespace, say: Console) -> int:
    # Imported here, after the first lines are out: moto, boto3 and xgboost take seconds.
    from demo.batch_story import BatchStory  # noqa: PLC0415
    from demo.story import Story  # noqa: PLC0415
    from localcloud import LocalCloud  # noqa: PLC0415

    OUTPUT.mkdir(exist_ok=True)
    interactive = args.wait_for_approval or args.keep_running
    with LocalCloud(server_port=args.port or free_port(), run_schedules=interactive) as cloud:
        say("setup", f"the local cloud listens on {cloud.endpoint}")
        told = BatchStory if model.kind == "batch" else Story
        story = told(cloud, model, world, config=CONFIG, output=OUTPUT, say=say)
        ending = story.run(args.wait_for_approval)
        if args.keep_running:
            deploy = story.runs.get("deploy", {}).get("executionArn", "<arn>")
            print(
                f"\nThe local cloud stays up at {cloud.endpoint}. In another shell, the AWS CLI:\n"
                + "".join(f"  {line}\n" for line in aws_cli_lines(cloud, model, deploy))
                + (f"  open {story.link} (decided now: it says so)\n" if story.link else "")
                + "Press Ctrl-C to stop.",
                flush=True,
            )
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    return EXIT[ending.kind]


def aws_cli_lines(cloud: LocalCloud, model: ModelConfig, deploy_arn: str) -> list[str]:
    """What the demo offers to try with the AWS CLI once it is done, as printed (a test runs
    them against the local cloud)."""
    return cloud.cli_lines(
        f"aws stepfunctions get-execution-history --execution-arn {deploy_arn}",
        f"aws sagemaker list-model-packages --model-package-group-name {model.package_group}",
    )


if __name__ == "__main__":
    sys.exit(main())
