"""A workflow's definition: its trigger, entry rule, goal and graph of steps, checked.

`parse_definition` reads the JSON (or YAML) a customer wrote and returns a
`Definition`, or raises InvalidInputError naming the first problem by its
path (``steps[2].kind``). What needs the tenant's database (does the
template, list or endpoint exist? does the segment expression parse?) is
checked by `service.check_references`; nothing is stored until both pass.

The graph: the first step is where people start; each step names the next
one (``next``; a condition ``yes``/``no``, a split its branches, a wait for
an event ``next`` and ``timeout_next``). A missing next ends the workflow
for that person. A cycle is refused: each (enrollment, step) runs at most
once, so a loop could never go round, and a person would be stuck.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from courriel.core.errors import InvalidInputError

MAX_STEPS = 200
MAX_WAIT_DAYS = 3650
_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_EVENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Step kinds and the branch fields each one has.
BRANCHES: dict[str, tuple[str, ...]] = {
    "wait": ("next",),
    "wait_until": ("next",),
    "wait_for_event": ("next", "timeout_next"),
    "send": ("next",),
    "condition": ("yes", "no"),
    "split": (),
    "update_property": ("next",),
    "add_to_list": ("next",),
    "remove_from_list": ("next",),
    "webhook": ("next",),
    "exit": (),
}
ENTRY_RULES = ("once", "once_per_days", "every_time")
MAIL_CLASSES = ("marketing", "transactional")


@dataclass(frozen=True)
class Step:
    """One step: its kind, its settings, and where each branch leads."""

    key: str
    kind: str
    settings: dict[str, Any]
    # Branch name → next step key (None: the end).
    branches: dict[str, str | None] = field(default_factory=dict)
    # A split's branches: (percent, next step key).
    shares: tuple[tuple[int, str | None], ...] = ()


@dataclass(frozen=True)
class Definition:
    """A checked workflow definition."""

    trigger: dict[str, Any]
    entry_rule: str
    entry_days: int
    goal: dict[str, Any] | None
    steps: dict[str, Step]
    start: str
    # Marketing sends need consent on this list (and unsubscribe from it).
    consent_list_id: str | None
    from_email: str
    from_name: str
    default_timezone: str
    raw: dict[str, Any]

    def step(self, key: str) -> Step:
        """The step named `key`."""
        return self.steps[key]

    def send_steps(self) -> Iterator[Step]:
        """The steps that send mail."""
        return (s for s in self.steps.values() if s.kind == "send")


def _bad(path: str, detail: str) -> InvalidInputError:
    return InvalidInputError(path, detail)


def _text(data: Mapping[str, Any], name: str, path: str, *, required: bool = True) -> str:
    value = data.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip():
        raise _bad(f"{path}.{name}" if path else name, "must be a non-empty string")
    return value.strip()


def _int(data: Mapping[str, Any], name: str, path: str, low: int, high: int) -> int:
    value = data.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad(f"{path}.{name}", f"must be a whole number from {low} to {high}")
    return value


def check_zone(name: str, path: str) -> str:
    """`name` if it is an IANA time zone, else InvalidInputError."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _bad(
            path, f"{name!r} is not a known time zone (IANA name, e.g. Europe/Paris)"
        ) from None
    return name


def check_time(value: Any, path: str) -> str:
    """A wall-clock time "HH:MM", else InvalidInputError."""
    if not isinstance(value, str) or not _TIME.match(value):
        raise _bad(path, 'must be a time of day as "HH:MM" (00:00 to 23:59)')
    return value


def check_event_name(value: Any, path: str) -> str:
    """A custom event name: letters, digits and _ . : - (at most 100)."""
    if not isinstance(value, str) or not _EVENT.match(value):
        raise _bad(path, "must be an event name of letters, digits and _ . : - (at most 100)")
    return value


def parse_definition(data: Any, trigger_kinds: Mapping[str, Any]) -> Definition:
    """Check a definition; `trigger_kinds` maps each known trigger kind to its checker."""
    if not isinstance(data, dict):
        raise _bad("definition", "must be an object with trigger and steps")
    trigger = _trigger(data.get("trigger"), trigger_kinds)
    entry_rule, entry_days = _entry(data.get("entry") or {"rule": "once"})
    steps = _steps(data.get("steps"))
    start = next(iter(steps))
    _check_graph(steps, start)
    goal = _goal(data.get("goal"))
    zone = check_zone(str(data.get("default_timezone") or "UTC"), "default_timezone")
    consent = data.get("consent_list_id") or trigger.get("list_id")
    marketing = [
        s for s in steps.values() if s.kind == "send" and s.settings["mail_class"] == "marketing"
    ]
    if marketing and not consent:
        raise _bad(
            "consent_list_id",
            f"step {marketing[0].key!r} sends marketing mail: name the list whose consent "
            "it needs (consent_list_id), or trigger on a list",
        )
    sends = any(s.kind == "send" for s in steps.values())
    from_email = _text(data, "from_email", "", required=sends)
    return Definition(
        trigger=trigger,
        entry_rule=entry_rule,
        entry_days=entry_days,
        goal=goal,
        steps=steps,
        start=start,
        consent_list_id=str(consent) if consent else None,
        from_email=from_email,
        from_name=str(data.get("from_name") or "")[:200],
        default_timezone=zone,
        raw={
            **data,
            "trigger": trigger,
            "entry": {"rule": entry_rule, "days": entry_days},
            "goal": goal,
            "default_timezone": zone,
            # Every step with its key, in the order given (the first is the start).
            "steps": [{**item, "key": key} for item, key in zip(data["steps"], steps, strict=True)],
        },
    )


def _trigger(data: Any, kinds: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _bad("trigger", "must be an object with a kind")
    kind = str(data.get("kind"))
    if kind not in kinds:
        raise _bad("trigger.kind", f"unknown trigger {kind!r}; known: {', '.join(sorted(kinds))}")
    checked: dict[str, Any] = kinds[kind](data)
    return checked


def _entry(data: Any) -> tuple[str, int]:
    if not isinstance(data, dict):
        raise _bad("entry", "must be an object with a rule")
    rule = data.get("rule", "once")
    if rule not in ENTRY_RULES:
        raise _bad("entry.rule", f"must be one of {', '.join(ENTRY_RULES)}")
    days = _int(data, "days", "entry", 1, MAX_WAIT_DAYS) if rule == "once_per_days" else 0
    return rule, days


def _goal(data: Any) -> dict[str, Any] | None:
    if data is None:
        return None
    if not isinstance(data, dict) or ("segment" in data) == ("event" in data):
        raise _bad("goal", "must be an object with either a segment or an event")
    if "event" in data:
        return {"event": check_event_name(data["event"], "goal.event")}
    return {"segment": _text(data, "segment", "goal")}


def _steps(data: Any) -> dict[str, Step]:
    if not isinstance(data, list) or not data:
        raise _bad("steps", "must be a non-empty list of steps")
    if len(data) > MAX_STEPS:
        raise _bad("steps", f"at most {MAX_STEPS} steps")
    steps: dict[str, Step] = {}
    for index, item in enumerate(data):
        path = f"steps[{index}]"
        if not isinstance(item, dict):
            raise _bad(path, "must be an object")
        key = item.get("key", f"step-{index + 1}")
        if not isinstance(key, str) or not _KEY.match(key):
            raise _bad(f"{path}.key", "must be lowercase letters, digits, _ or - (at most 64)")
        if key in steps:
            raise _bad(f"{path}.key", f"{key!r} names two steps")
        kind = item.get("kind")
        if kind not in BRANCHES:
            raise _bad(f"{path}.kind", f"unknown step kind {kind!r}; known: {', '.join(BRANCHES)}")
        settings = _settings(kind, item, path)
        branches = {name: _target(item, name, path) for name in BRANCHES[kind]}
        # A step without `next` ends the workflow; a list's order is no link.
        steps[key] = Step(
            key, kind, settings, branches, _shares(item, path) if kind == "split" else ()
        )
    return steps


def _target(item: Mapping[str, Any], name: str, path: str) -> str | None:
    value = item.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(f"{path}.{name}", "must be the key of another step")
    return value


def _shares(item: Mapping[str, Any], path: str) -> tuple[tuple[int, str | None], ...]:
    branches = item.get("branches")
    if not isinstance(branches, list) or len(branches) < 2:
        raise _bad(f"{path}.branches", "a split needs at least two branches")
    shares: list[tuple[int, str | None]] = []
    for index, branch in enumerate(branches):
        if not isinstance(branch, dict):
            raise _bad(f"{path}.branches[{index}]", "must be an object with percent and next")
        percent = _int(branch, "percent", f"{path}.branches[{index}]", 1, 99)
        shares.append((percent, _target(branch, "next", f"{path}.branches[{index}]")))
    if sum(p for p, _ in shares) != 100:
        raise _bad(f"{path}.branches", "the percentages must add up to 100")
    return tuple(shares)


def _settings(kind: str, item: Mapping[str, Any], path: str) -> dict[str, Any]:  # noqa: C901, PLR0911, PLR0912 (one case per kind)
    if kind == "wait":
        minutes = (
            _int(item, "days", path, 0, MAX_WAIT_DAYS) * 1440
            + _int(item, "hours", path, 0, 24 * MAX_WAIT_DAYS) * 60
            + _int(item, "minutes", path, 0, 1440 * MAX_WAIT_DAYS)
        )
        if minutes <= 0:
            raise _bad(path, "a wait needs days, hours or minutes")
        return {"minutes": minutes}
    if kind == "wait_until":
        days = item.get("weekdays") or list(WEEKDAYS)
        if not isinstance(days, list) or any(d not in WEEKDAYS for d in days):
            raise _bad(f"{path}.weekdays", f"must be a list of {', '.join(WEEKDAYS)}")
        return {
            "weekdays": sorted({WEEKDAYS.index(d) for d in days}),
            "time": check_time(item.get("time"), f"{path}.time"),
        }
    if kind == "wait_for_event":
        minutes = (
            _int(item, "timeout_days", path, 0, MAX_WAIT_DAYS) * 1440
            + _int(item, "timeout_hours", path, 0, 24 * MAX_WAIT_DAYS) * 60
        )
        if minutes <= 0:
            raise _bad(f"{path}.timeout_days", "a wait for an event needs a timeout")
        return {"event": check_event_name(item.get("event"), f"{path}.event"), "minutes": minutes}
    if kind == "send":
        mail_class = item.get("mail_class", "marketing")
        if mail_class not in MAIL_CLASSES:
            raise _bad(f"{path}.mail_class", "must be marketing or transactional")
        return {"template_id": _text(item, "template_id", path), "mail_class": mail_class}
    if kind == "condition":
        if ("segment" in item) == ("event" in item):
            raise _bad(path, "a condition needs either a segment expression or an event")
        if "event" in item:
            within = (
                _int(item, "within_days", path, 0, MAX_WAIT_DAYS) if "within_days" in item else 0
            )
            return {
                "event": check_event_name(item["event"], f"{path}.event"),
                "within_days": within,
            }
        return {"segment": _text(item, "segment", path)}
    if kind == "update_property":
        value = item.get("value")
        if value is not None and not isinstance(value, str | int | float | bool):
            raise _bad(f"{path}.value", "must be text, a number, true/false or null")
        return {"property": _text(item, "property", path), "value": value}
    if kind in ("add_to_list", "remove_from_list"):
        return {"list_id": _text(item, "list_id", path)}
    if kind == "webhook":
        return {"endpoint_id": _text(item, "endpoint_id", path)}
    return {}


def _check_graph(steps: Mapping[str, Step], start: str) -> None:
    """Every branch names a step; no cycle; every step can be reached."""
    for step in steps.values():
        targets = [*step.branches.values(), *(t for _, t in step.shares)]
        for target in targets:
            if target is not None and target not in steps:
                raise _bad(f"steps.{step.key}", f"leads to {target!r}, which is no step")
    # Depth-first search with three colours: grey on the path, black finished.
    colour: dict[str, int] = {}

    def visit(key: str, trail: list[str]) -> None:
        colour[key] = 1
        step = steps[key]
        for target in [*step.branches.values(), *(t for _, t in step.shares)]:
            if target is None:
                continue
            if colour.get(target) == 1:
                loop = " → ".join([*trail[trail.index(target) :], target])
                raise _bad("steps", f"the steps form a cycle: {loop}")
            if target not in colour:
                visit(target, [*trail, target])
        colour[key] = 2

    visit(start, [start])
    unreachable = [k for k in steps if k not in colour]
    if unreachable:
        raise _bad("steps", f"no path from the first step leads to {', '.join(unreachable)}")


def next_of(step: Step, branch: str = "next") -> str | None:
    """Where `branch` of `step` leads (None: the end)."""
    return step.branches.get(branch)
