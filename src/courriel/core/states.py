"""State machines: one transition table per status, all written and checked the same way.

A status column changes only through its table: the use case asks
`Transitions.check` (or `allows`) before it writes the new status, and a
bulk update asks `Transitions.into` which current statuses may move.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Generic, TypeVar

from courriel.core.errors import ConflictError

S = TypeVar("S", bound=enum.StrEnum)


class Transitions(Generic[S]):
    """The transition table of one status enum: which status may become which."""

    def __init__(self, noun: str, moves: Mapping[S, Iterable[S]]) -> None:
        """`noun` names the thing in errors ("campaign"); `moves` lists every status.

        A status missing from `moves` is a mistake in the table, not a final
        status (write a final status with no moves), so it is refused here.
        """
        if not moves:
            raise ValueError("a transition table needs at least one status")
        kind = type(next(iter(moves)))
        missing = [s.value for s in kind if s not in moves]
        if missing:
            raise ValueError(f"the {noun} table lacks the statuses {missing}")
        self.noun = noun
        self._moves: dict[S, frozenset[S]] = {s: frozenset(t) for s, t in moves.items()}

    def targets(self, current: S) -> frozenset[S]:
        """The statuses `current` may become."""
        return self._moves[current]

    def allows(self, current: S, target: S) -> bool:
        """Whether the table allows `current` → `target`."""
        return target in self._moves[current]

    def check(self, current: S, target: S) -> None:
        """Raise ConflictError, naming both statuses, unless the table allows the move."""
        if not self.allows(current, target):
            article = "an" if current.value[:1] in "aeiou" else "a"
            raise ConflictError(
                f"{article} {current.value} {self.noun} cannot become {target.value}"
            )

    def into(self, target: S) -> list[S]:
        """The statuses that may become `target`, in the enum's order (for bulk updates)."""
        return [s for s, nexts in self._moves.items() if target in nexts]

    def final(self) -> list[S]:
        """The statuses nothing leaves."""
        return [s for s, nexts in self._moves.items() if not nexts]
