"""The generated parts of template.yaml: the pipeline's definition bodies (without and with
the stack's KMS key) and the registry account of SageMaker's XGBoost images per region.
Standard library only (tests use it).

Both are plain YAML in the template, so that reviewers see them and cfn-lint checks them;
`make pipeline` rewrites them in place and `make test` fails when they are stale.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

REGISTRY_MAPPING = "XGBoostRegistry"
# Each body follows a `- !Sub  # pipelines/<file>` line (an item of the resource's Fn::If).
BODY_FILES = {False: "pipelines/definition.json", True: "pipelines/definition.encrypted.json"}


class TemplateLayoutError(ValueError):
    """template.yaml no longer has the shape the generator rewrites."""


def render(template: str, definitions: Mapping[bool, str], registries: Mapping[str, str]) -> str:
    """template.yaml with the definition bodies (by `encrypted`) and the registry mapping
    replaced."""
    lines = template.splitlines()
    for encrypted, definition in definitions.items():
        lines = _replace_body(lines, BODY_FILES[encrypted], definition)
    lines = _replace_mapping(lines, registries)
    return "\n".join(lines) + "\n"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _block_end(lines: list[str], start: int, parent_indent: int) -> int:
    """The index after the last line indented deeper than parent_indent (blank lines count)."""
    end = start
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > parent_indent):
        end += 1
    while end > start and not lines[end - 1].strip():  # trailing blank lines are not ours
        end -= 1
    return end


def _replace_body(lines: list[str], file: str, definition: str) -> list[str]:
    marker = re.compile(rf"^ *- !Sub +# {re.escape(file)}$")
    found = [i for i, line in enumerate(lines) if marker.match(line)]
    if len(found) != 1:
        raise TemplateLayoutError(f"expected one '- !Sub  # {file}' line, found {len(found)}")
    at = found[0]
    indent = _indent(lines[at]) + 2
    if at + 1 >= len(lines) or lines[at + 1] != " " * indent + "- |":
        raise TemplateLayoutError(f"'- !Sub  # {file}' must be followed by '- |'")
    start = at + 2
    end = _block_end(lines, start, indent)
    body = [(" " * (indent + 2) + line) if line else "" for line in definition.splitlines()]
    return [*lines[:start], *body, *lines[end:]]


def _replace_mapping(lines: list[str], registries: Mapping[str, str]) -> list[str]:
    header = f"  {REGISTRY_MAPPING}:"
    if lines.count(header) != 1:
        raise TemplateLayoutError(f"expected one '{header}' line in Mappings")
    start = lines.index(header) + 1
    end = _block_end(lines, start, 2)
    body = [
        f'    {region}: {{Account: "{account}"}}' for region, account in sorted(registries.items())
    ]
    return [*lines[:start], *body, *lines[end:]]
