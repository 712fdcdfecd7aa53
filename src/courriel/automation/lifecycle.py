"""The state machines of automation: a workflow's status and an enrollment's state."""

from __future__ import annotations

from courriel.automation.models import EnrollmentState as E
from courriel.automation.models import WorkflowStatus as W
from courriel.core.states import Transitions

# Archived is final: an archived workflow's people have left, its figures stay.
WORKFLOW_TRANSITIONS = Transitions(
    "workflow",
    {
        W.DRAFT: {W.ACTIVE, W.ARCHIVED},
        W.ACTIVE: {W.PAUSED, W.ARCHIVED},
        W.PAUSED: {W.ACTIVE, W.ARCHIVED},
        W.ARCHIVED: set(),
    },
)

ENROLLMENT_TRANSITIONS = Transitions(
    "enrollment",
    {
        E.ACTIVE: {E.COMPLETED, E.CONVERTED, E.LEFT},
        E.COMPLETED: set(),
        E.CONVERTED: set(),
        E.LEFT: set(),
    },
)
