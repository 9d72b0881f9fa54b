"""Imports run one way: a package never imports the packages built on top of it.

Read from the source (every `import` and `from ... import`, at any depth of a module), so a
rule holds without importing anything.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def imported_modules(path: Path, root: Path) -> set[str]:
    """The modules a file imports, by full dotted name (relative imports resolved against the
    file's package, which is its folder below `root`)."""
    package = list(path.relative_to(root).parent.parts)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            found.add(".".join([*base, *([node.module] if node.module else [])]))
    return found


def imports_reaching(folder: Path, root: Path, forbidden: str) -> dict[str, list[str]]:
    """Each module under `folder` that imports `forbidden` or a module of it, with those
    imports. Raises AssertionError when the folder holds no Python file (a rule over nothing)."""
    files = sorted(folder.rglob("*.py"))
    assert files, f"no Python files under {folder}"
    found = {}
    for path in files:
        bad = sorted(
            name
            for name in imported_modules(path, root)
            if name == forbidden or name.startswith(forbidden + ".")
        )
        if bad:
            found[str(path.relative_to(root))] = bad
    return found


def test_the_local_cloud_never_imports_the_demo() -> None:
    # Given the local cloud, which the demo drives (demo may import localcloud, never back)
    local_cloud = ROOT / "localcloud"

    # When every module's imports are read
    reaching = imports_reaching(local_cloud, ROOT, "demo")

    # Then none reaches the demo
    assert reaching == {}


def test_the_check_sees_every_form_of_import(tmp_path: Path) -> None:
    # Given a package whose modules import the demo in each way Python allows
    package = tmp_path / "lower" / "inner"
    package.mkdir(parents=True)
    forms = {
        "plain.py": "import demo.taxi\n",
        "from_package.py": "from demo import taxi\n",
        "nested.py": "def f():\n    from demo.world import mix\n",
        "relative.py": "from ..sibling import x\n",  # lower.sibling: not the demo
        "clean.py": "import json\nfrom demonstration import x\n",
    }
    for name, source in forms.items():
        (package / name).write_text(source)

    # When the rule reads them
    reaching = imports_reaching(tmp_path / "lower", tmp_path, "demo")

    # Then it names exactly the modules that import the demo
    assert reaching == {
        "lower/inner/plain.py": ["demo.taxi"],
        "lower/inner/from_package.py": ["demo"],
        "lower/inner/nested.py": ["demo.world"],
    }
    assert imported_modules(package / "relative.py", tmp_path) == {"lower.sibling"}
