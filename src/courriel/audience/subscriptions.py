"""The subscription state machine: one transition table, nothing else moves a status."""

from __future__ import annotations

from courriel.audience.models import SubscriptionStatus as S
from courriel.core.errors import ConflictError

# Unsubscribed, bounced, complained and suppressed are left only by a new
# explicit opt-in (pending), never straight back to subscribed: a re-import
# must not undo a person's choice.
TRANSITIONS: dict[S, frozenset[S]] = {
    S.PENDING: frozenset({S.SUBSCRIBED, S.UNSUBSCRIBED, S.BOUNCED, S.COMPLAINED, S.SUPPRESSED}),
    S.SUBSCRIBED: frozenset({S.UNSUBSCRIBED, S.BOUNCED, S.COMPLAINED, S.SUPPRESSED}),
    S.UNSUBSCRIBED: frozenset({S.PENDING, S.SUPPRESSED}),
    S.BOUNCED: frozenset({S.PENDING, S.SUPPRESSED}),
    S.COMPLAINED: frozenset({S.SUPPRESSED}),
    S.SUPPRESSED: frozenset(),
}


def can_move(current: S, target: S) -> bool:
    """Whether the table allows `current` → `target` (staying put is always allowed)."""
    return current == target or target in TRANSITIONS[current]


def check_move(current: S, target: S) -> None:
    """Raise ConflictError when the table forbids the move."""
    if not can_move(current, target):
        raise ConflictError(f"a {current.value} subscription cannot become {target.value}")
