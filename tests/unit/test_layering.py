"""Imports run one way. Read from the inside out: `core` (configuration, errors, events, the
records every workflow shares) imports no other part of modelfresh; the workflows follow the
loop they make (drift -> retrain -> promote), each free to use an earlier one's, never a later
one's; no domain module imports an adapter (`aws`) or the wiring, which are the only places
that know about boto3 clients; the drift engine (`driftcheck`) knows nothing of modelfresh; and
nothing the Lambdas ship imports the tools around it."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

SHARED = ROOT / "layers" / "shared"
WORKFLOWS = ("drift", "quality", "batch", "retrain", "promote")  # in the loop's order
TOOLS = ("localcloud", "demo", "tests", "ops", "checks", "bench", "pipelines")


def imports(path: Path) -> Iterator[str]:
    """Every module a file imports, wherever the import is (functions, TYPE_CHECKING blocks)."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def under(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def part_of(path: Path) -> str:
    """modelfresh's part a module belongs to: core, drift, ..., aws, or a top-level module's
    name (wiring, quality_metrics, __init__)."""
    return path.relative_to(SHARED / "modelfresh").parts[0].removesuffix(".py")


def forbidden_for(part: str) -> tuple[str, ...]:
    """What a part of modelfresh may not import."""
    adapters = ("modelfresh.aws", "modelfresh.wiring")
    workflows = tuple(f"modelfresh.{w}" for w in WORKFLOWS)
    if part in ("core", "quality_metrics", "__init__"):
        return adapters + workflows
    if part in WORKFLOWS:
        later = WORKFLOWS[WORKFLOWS.index(part) + 1 :]
        return adapters + tuple(f"modelfresh.{w}" for w in later)
    if part == "aws":
        return ("modelfresh.wiring",)
    return ()


def violations(
    paths: list[Path], rule: Callable[[Path], tuple[str, ...]], root: Path = ROOT
) -> list[str]:
    """'<file> imports <module>' for each import the rule forbids in that file."""
    found = []
    for path in paths:
        banned = rule(path)
        found += [
            f"{path.relative_to(root)} imports {m}" for m in imports(path) if under(m, *banned)
        ]
    return sorted(set(found))


MODELFRESH = sorted((SHARED / "modelfresh").rglob("*.py"))


def test_modelfresh_imports_run_from_adapters_to_workflows_to_core() -> None:
    assert violations(MODELFRESH, lambda p: forbidden_for(part_of(p))) == []


def test_what_the_lambdas_ship_never_imports_the_tools_around_it() -> None:
    shipped = [*MODELFRESH, *sorted((ROOT / "layers" / "drift").rglob("*.py"))]
    shipped += sorted((ROOT / "functions").rglob("*.py"))
    assert violations(shipped, lambda p: TOOLS) == []


def test_the_drift_engine_knows_nothing_of_modelfresh() -> None:
    engine = sorted((ROOT / "layers" / "drift" / "driftcheck").rglob("*.py"))
    assert engine
    assert violations(engine, lambda p: ("modelfresh",)) == []


def test_localcloud_never_imports_the_demo() -> None:
    assert violations(sorted((ROOT / "localcloud").rglob("*.py")), lambda p: ("demo",)) == []


@pytest.mark.parametrize(
    ("part", "module", "allowed"),
    [
        ("core", "modelfresh.promote.steps", False),
        ("drift", "modelfresh.core.config", True),
        ("drift", "modelfresh.retrain.runs", False),
        ("promote", "modelfresh.retrain.gate", True),
        ("retrain", "modelfresh.aws.drift", False),
        ("promote", "modelfresh.wiring", False),
        ("aws", "modelfresh.promote.steps", True),
        ("aws", "modelfresh.wiring", False),
    ],
)
def test_the_rules_say_what_the_docstring_says(part: str, module: str, allowed: bool) -> None:
    assert under(module, *forbidden_for(part)) is not allowed


def test_the_check_sees_every_form_of_import(tmp_path: Path) -> None:
    # Given modules that import the demo in each way Python allows, and one that does not
    forms = {
        "plain.py": "import demo.taxi\n",
        "from_package.py": "from demo import taxi\n",
        "nested.py": "def f():\n    from demo.world import mix\n",
        "clean.py": "import json\nfrom demonstration import x\n",
    }
    for name, source in forms.items():
        (tmp_path / name).write_text(source)

    # When the rule "never the demo" reads them
    found = violations(sorted(tmp_path.glob("*.py")), lambda p: ("demo",), root=tmp_path)

    # Then it names exactly the imports that reach the demo
    assert found == [
        "from_package.py imports demo",
        "from_package.py imports demo.taxi",
        "nested.py imports demo.world",
        "nested.py imports demo.world.mix",
        "plain.py imports demo.taxi",
    ]
