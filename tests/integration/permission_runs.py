"""Running a named test in a process of its own whose stack lacks one statement of a role
(LOCALCLOUD_IAM_DROP): the permission tests' one tool."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

from localcloud import permissions
from tests.conftest import ROOT


def run_named_test(test: str, drop: str | None = None) -> subprocess.CompletedProcess[str]:
    """A named test, in a process of its own whose stack lacks the statement `drop`."""
    environment = os.environ | ({permissions.DROP: drop} if drop else {})
    for key in ("PYTEST_XDIST_WORKER", "LOCALCLOUD_IAM_LEDGER"):  # its refusals are not the suite's
        environment.pop(key, None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", test],
        check=False,
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )


def actions_of(statement: Mapping[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)
