"""A workflow's definition as text for the editor, and where in that text a
field named by an error (``steps.hello.template_id``, ``steps[2].kind``) is."""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from courriel.automation.service import WorkflowView

_PART = re.compile(r"([A-Za-z0-9_-]+)|\[(\d+)\]")
# What the editor shows of a stored definition: what a person wrote, not the
# defaults the check filled in.
_DEFAULTS = {"goal": None, "entry": {"rule": "once", "days": 0}, "default_timezone": "UTC"}


@dataclass(frozen=True)
class Located:
    """The 1-based line of the text where the field is, and that line."""

    line: int
    text: str


def as_yaml(view: WorkflowView) -> str:
    """The definition as YAML, in the order a person reads it (trigger, then steps)."""
    shown = {k: v for k, v in view.definition.items() if _DEFAULTS.get(k, ...) != v}
    steps = shown.pop("steps", [])
    head = yaml.safe_dump(shown, sort_keys=False, allow_unicode=True, width=100)
    body = yaml.safe_dump(
        {"steps": [_flow(s) for s in steps]}, sort_keys=False, allow_unicode=True, width=200
    )
    return head + body


def _flow(step: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in step.items() if v is not None or k in ("next", "yes", "no")}


def locate(text: str, field: str) -> Located | None:
    """The line of `text` where `field` is written, as near as can be told."""
    lines = text.splitlines()
    parts = [(m.group(1), m.group(2)) for m in _PART.finditer(field)]
    start, names = 0, [name for name, _ in parts if name]
    if names and names[0] == "steps" and len(parts) > 1:
        name, index = parts[1]
        found = _step_line(lines, name, int(index) if index is not None else None)
        if found is None:
            return None
        start, names = found, [n for n, _ in parts[2:] if n]
    for number in range(start, len(lines)):
        line = lines[number]
        if not names or re.search(rf"""(^|[\s{{,"'-]){re.escape(names[-1])}["']?\s*:""", line):
            return Located(number + 1, line)
        if number > start and start and re.match(r"\s*-\s", line):
            break  # the next step: the field is not written in this one
    return Located(start + 1, lines[start]) if start < len(lines) and start else None


def _step_line(lines: list[str], key: str | None, index: int | None) -> int | None:
    inside, seen = False, -1
    for number, line in enumerate(lines):
        if re.match(r"""\s*["']?steps["']?\s*:""", line):
            inside = True
            continue
        if not inside:
            continue
        if index is not None and re.match(r"\s*-\s", line):
            seen += 1
            if seen == index:
                return number
        if key is not None and re.search(
            rf"""["']?key["']?\s*:\s*["']?{re.escape(key)}(?=["'\s,}}]|$)""", line
        ):
            return number
    return None
