"""API shapes of workflows, their figures, enrollments and custom events."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from courriel.core.schemas import Input


class WorkflowIn(Input):
    """A new workflow: a name and its definition (trigger, entry, goal, steps)."""

    name: str = Field(min_length=1, max_length=200)
    definition: dict[str, Any]


class WorkflowUpdate(Input):
    """A new name, a new definition (a new version once people entered), or both."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    definition: dict[str, Any] | None = None


class WorkflowOut(BaseModel):
    id: str
    name: str
    status: str
    trigger_kind: str
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    definition: dict[str, Any] | None = None


class StepFiguresOut(BaseModel):
    key: str
    kind: str
    figures: dict[str, int]


class WorkflowStatsOut(BaseModel):
    workflow_id: str
    status: str
    totals: dict[str, int]
    steps: list[StepFiguresOut]


class EnrollmentOut(BaseModel):
    id: str
    workflow_id: str
    version_id: str
    contact_id: str
    state: str
    step_key: str
    next_at: dt.datetime | None
    entered_at: dt.datetime
    finished_at: dt.datetime | None
    reason: str
    payload: Any


class CustomEventIn(Input):
    """An event of a contact, named by id or by address."""

    name: str = Field(min_length=1, max_length=100)
    contact_id: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=320)
    payload: dict[str, Any] = Field(default_factory=dict)


class CustomEventOut(BaseModel):
    id: str
    contact_id: str
    enrolled: list[str]
