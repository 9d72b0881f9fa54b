"""Build the retraining pipeline's definition with the sagemaker SDK (3.x), offline.

    python -m pipelines.definition           write pipelines/definition{,.encrypted}.json and
                                             template.yaml
    python -m pipelines.definition --check   exit 1 when either differs from what is built now

The build makes no AWS call (sockets are closed while it runs), reads no SDK configuration
file, and writes no time, random name, region or account: the same sources give the same
bytes. The values that depend on the deployment are `${...}` placeholders (pipelines/bundle.py)
that template.yaml's Fn::Sub fills in. The SDK is the `pipeline` dependency group: build time
only, never a Lambda dependency; `make test` reads the generated file without it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pipelines import bundle, template

TEMPLATE = bundle.ROOT / "template.yaml"
BUILD_REGION = "us-east-1"  # any region: nothing regional reaches the output (a test checks)
STEP_SCRIPTS = ("preprocess.py", "evaluate.py", "baseline.py")


@contextmanager
def offline() -> Iterator[None]:
    """Fake credentials, a region, no instance metadata, no role lookups, and no sockets: any
    AWS call the SDK would make fails loudly instead of reaching the network. Errors still
    show; the SDK's routine log lines and warnings do not."""
    saved = dict(os.environ)
    connect, getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"the pipeline build tried to reach the network: {args!r}")

    for name in list(os.environ):
        if name.startswith(("AWS_", "SAGEMAKER_")):  # a developer's profile, endpoint, config
            del os.environ[name]
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "offline",
            "AWS_SECRET_ACCESS_KEY": "offline",
            "AWS_DEFAULT_REGION": BUILD_REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
            "SAGEMAKER_VALIDATE_ROLE": "false",
        }
    )
    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.getaddrinfo = refuse
    # The SDK narrates (INFO/WARNING lines about fields a pipeline fills in at run time).
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(logging.NOTSET)
        socket.socket.connect = connect  # type: ignore[method-assign]
        socket.getaddrinfo = getaddrinfo
        os.environ.clear()
        os.environ.update(saved)


def build() -> tuple[dict[bool, str], dict[str, str]]:
    """The definitions' texts (sorted keys, placeholders), without and with the KMS key (by
    `encrypted`), and the registry accounts."""
    with offline():
        # The SDK creates AWS clients at import time: it is imported only here, offline.
        from pipelines import graph  # noqa: PLC0415

        raws = {
            encrypted: graph.definition(BUILD_REGION, encrypted=encrypted)
            for encrypted in (False, True)
        }
        registries = graph.registry_accounts()
    texts = {}
    for encrypted, raw in raws.items():
        text = json.dumps(json.loads(raw), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        for sentinel, placeholder in graph.SENTINELS.items():
            text = text.replace(sentinel, placeholder)
        leftover = [s for s in ("000000000000", "sentinel", BUILD_REGION) if s in text]
        if leftover:
            raise RuntimeError(f"a build-time stand-in reached the definition: {leftover}")
        expected = bundle.placeholders_of(encrypted=encrypted)
        if bundle.placeholders(text) != expected:
            raise RuntimeError(
                f"placeholders {sorted(bundle.placeholders(text))} in the definition"
            )
        texts[encrypted] = text
    return texts, registries


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.definition",
        description="Write pipelines/definition.json and its copy in template.yaml.",
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if either file is stale"
    )
    args = parser.parse_args(argv)

    definitions, registries = build()
    targets = {
        bundle.DEFINITION: definitions[False],
        bundle.ENCRYPTED_DEFINITION: definitions[True],
        TEMPLATE: template.render(TEMPLATE.read_text(), definitions, registries),
    }
    missing = [s for s in STEP_SCRIPTS if not (bundle.STEPS / s).is_file()]
    if missing:
        print(f"warning: pipelines/steps/ lacks {', '.join(missing)}", file=sys.stderr)
    stale = [
        path.relative_to(bundle.ROOT).as_posix()
        for path, text in targets.items()
        if not path.is_file() or path.read_text() != text
    ]
    if args.check:
        if stale:
            print(f"stale: {', '.join(stale)} (run `make pipeline`)", file=sys.stderr)
            return 1
        print("pipelines/definition.json and template.yaml are current")
        return 0
    for path, text in targets.items():
        path.write_text(text)
    print(f"wrote {', '.join(stale)}" if stale else "already current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
