"""The subscription state machine: one transition table, nothing else moves a status."""

from __future__ import annotations

from courriel.audience.models import SubscriptionStatus as S
from courriel.core.states import Transitions

# Unsubscribed, bounced, complained and suppressed are left only by a new
# explicit opt-in (pending), never straight back to subscribed: a re-import
# must not undo a person's choice.
TRANSITIONS = Transitions(
    "subscription",
    {
        S.PENDING: {S.SUBSCRIBED, S.UNSUBSCRIBED, S.BOUNCED, S.COMPLAINED, S.SUPPRESSED},
        S.SUBSCRIBED: {S.UNSUBSCRIBED, S.BOUNCED, S.COMPLAINED, S.SUPPRESSED},
        S.UNSUBSCRIBED: {S.PENDING, S.SUPPRESSED},
        S.BOUNCED: {S.PENDING, S.SUPPRESSED},
        S.COMPLAINED: {S.SUPPRESSED},
        S.SUPPRESSED: set(),
    },
)


def can_move(current: S, target: S) -> bool:
    """Whether the table allows `current` → `target` (staying put is always allowed)."""
    return current == target or TRANSITIONS.allows(current, target)


def check_move(current: S, target: S) -> None:
    """Raise ConflictError when the table forbids the move (staying put is allowed)."""
    if current != target:
        TRANSITIONS.check(current, target)
