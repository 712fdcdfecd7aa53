"""The campaign state machine: one transition table."""

from __future__ import annotations

from courriel.campaigns.models import CampaignStatus as C
from courriel.core.errors import ConflictError

TRANSITIONS: dict[C, frozenset[C]] = {
    C.DRAFT: frozenset({C.SCHEDULED, C.SENDING, C.CANCELLED}),
    C.SCHEDULED: frozenset({C.DRAFT, C.SENDING, C.CANCELLED}),
    C.SENDING: frozenset({C.PAUSED, C.SENT, C.CANCELLED}),
    C.PAUSED: frozenset({C.SENDING, C.CANCELLED}),
    C.SENT: frozenset(),
    C.CANCELLED: frozenset(),
}


def check_transition(current: C, target: C) -> None:
    """Raise ConflictError, naming both states, when the table forbids the move."""
    if target not in TRANSITIONS[current]:
        raise ConflictError(f"a {current.value} campaign cannot become {target.value}")
