"""The checklist a content check answers: items that block a send or warn."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any


class Severity(enum.StrEnum):
    """What a failed item does to a send."""

    BLOCKING = "blocking"
    WARNING = "warning"


@dataclass(frozen=True)
class Item:
    """One line of the checklist."""

    check: str
    passed: bool
    severity: Severity
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Checklist:
    """Every item; `blocking` are those that stop a send."""

    items: list[Item]

    @property
    def blocking(self) -> list[Item]:
        return [i for i in self.items if not i.passed and i.severity is Severity.BLOCKING]

    @property
    def warnings(self) -> list[Item]:
        return [i for i in self.items if not i.passed and i.severity is Severity.WARNING]

    def as_dict(self) -> dict[str, Any]:
        return {
            "sendable": not self.blocking,
            "items": [asdict(i) for i in self.items],
        }
