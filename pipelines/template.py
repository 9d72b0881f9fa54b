"""The two generated parts of template.yaml: the pipeline's definition body and the registry
account of SageMaker's XGBoost images per region. Standard library only (tests use it).

Both are plain YAML in the template, so that reviewers see them and cfn-lint checks them;
`make pipeline` rewrites them in place and `make test` fails when they are stale.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

REGISTRY_MAPPING = "XGBoostRegistry"
_BODY = re.compile(r"^(?P<indent> *)PipelineDefinitionBody: !Sub *$")


class TemplateLayoutError(ValueError):
    """template.yaml no longer has the shape the generator rewrites."""


def render(template: str, definition: str, registries: Mapping[str, str]) -> str:
    """template.yaml with the definition body and the registry mapping replaced."""
    lines = template.splitlines()
    lines = _replace_body(lines, definition)
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


def _replace_body(lines: list[str], definition: str) -> list[str]:
    found = [i for i, line in enumerate(lines) if _BODY.match(line)]
    if len(found) != 1:
        raise TemplateLayoutError(
            f"expected one 'PipelineDefinitionBody: !Sub' line, found {len(found)}"
        )
    at = found[0]
    indent = _indent(lines[at]) + 2
    if at + 1 >= len(lines) or lines[at + 1] != " " * indent + "- |":
        raise TemplateLayoutError("'PipelineDefinitionBody: !Sub' must be followed by '- |'")
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
