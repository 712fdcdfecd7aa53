"""The campaign state machine: one transition table."""

from __future__ import annotations

from courriel.campaigns.models import CampaignStatus as C
from courriel.campaigns.models import RecipientState as R
from courriel.core.states import Transitions

TRANSITIONS = Transitions(
    "campaign",
    {
        C.DRAFT: {C.SCHEDULED, C.SENDING, C.CANCELLED},
        C.SCHEDULED: {C.DRAFT, C.SENDING, C.CANCELLED},
        C.SENDING: {C.PAUSED, C.SENT, C.CANCELLED},
        C.PAUSED: {C.SENDING, C.CANCELLED},
        C.SENT: set(),
        C.CANCELLED: set(),
    },
)
check_transition = TRANSITIONS.check

# A recipient is pending until the fan-out spools (queued), skips or fails
# it; pausing or cancelling takes queued messages back out of the spool
# (pending again), and a withheld message (erasure, restriction) is skipped.
RECIPIENT_TRANSITIONS = Transitions(
    "campaign recipient",
    {
        R.PENDING: {R.QUEUED, R.SKIPPED, R.FAILED},
        R.QUEUED: {R.PENDING, R.SKIPPED},
        R.SKIPPED: set(),
        R.FAILED: set(),
    },
)
