"""Tenant-database tables of automation: workflows, their versions, the people inside
(enrollments), each step done for each of them, and the custom events that trigger
and steer them."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from courriel.core.db import TenantBase, UTCDateTime, str_enum


class WorkflowStatus(enum.StrEnum):
    """Lifecycle of a workflow; changed only through `lifecycle.WORKFLOW_TRANSITIONS`."""

    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    ARCHIVED = "archived"


class EnrollmentState(enum.StrEnum):
    """Where one person stands in one version of a workflow (`lifecycle.ENROLLMENT_TRANSITIONS`)."""

    # Inside: at `step_key`, due at `next_at`.
    ACTIVE = "active"
    # Reached the end of a branch or an exit step.
    COMPLETED = "completed"
    # The goal became true: left as converted.
    CONVERTED = "converted"
    # Taken out: unsubscribed, suppressed, restricted, consent ended, archived.
    LEFT = "left"


class StepRunState(enum.StrEnum):
    """One step for one enrollment: claimed (its side effect may be under way) or done."""

    STARTED = "started"
    DONE = "done"


class Workflow(TenantBase):
    """A trigger and a graph of steps; `active_version` is the one new people enter."""

    __tablename__ = "workflows"
    __table_args__ = (
        Index("ix_workflows_created_at_id", "created_at", "id"),
        # The engine's trigger pass: active workflows whose trigger is due.
        Index("ix_workflows_status_trigger_at", "status", "trigger_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[WorkflowStatus] = mapped_column(str_enum(WorkflowStatus))
    trigger_kind: Mapped[str] = mapped_column(String(40))
    # The newest version (edited drafts replace it; edits of a used one add one).
    version: Mapped[int] = mapped_column(Integer, default=1)
    # When the trigger should next be looked at (polled triggers), and where
    # its reading stopped (the last consent record seen, the last day planned).
    trigger_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    trigger_cursor: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class WorkflowVersion(TenantBase):
    """One frozen definition of a workflow: people finish the version they entered."""

    __tablename__ = "workflow_versions"
    __table_args__ = (UniqueConstraint("workflow_id", "number"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    # The checked definition (trigger, entry rule, goal, steps): `graph.Definition`.
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class Enrollment(TenantBase):
    """One person inside one version of a workflow.

    The unique key (workflow, contact, entry key) is the entry rule: "once"
    for once ever, a window for once per N days, the triggering fact for
    every time; a repeated trigger finds the row already there.
    """

    __tablename__ = "enrollments"
    __table_args__ = (
        UniqueConstraint("workflow_id", "contact_id", "entry_key"),
        # The engine's only way in: who is due (cost proportional to what is due).
        Index("ix_enrollments_state_next_at", "state", "next_at"),
        # A contact's enrollments (custom events, the API), and a step's figures.
        Index("ix_enrollments_contact_state", "contact_id", "state"),
        Index("ix_enrollments_workflow_state_step", "workflow_id", "state", "step_key"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    version_id: Mapped[str] = mapped_column(ForeignKey("workflow_versions.id", ondelete="CASCADE"))
    # Erasure deletes the contact, and with it every enrollment.
    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    entry_key: Mapped[str] = mapped_column(String(80))
    # The contact's how-manieth entry into this workflow (1 for the first).
    cycle: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[EnrollmentState] = mapped_column(str_enum(EnrollmentState))
    step_key: Mapped[str] = mapped_column(String(64))
    next_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    # A wait for a custom event: its name ("" when not waiting for one).
    waiting_for: Mapped[str] = mapped_column(String(100), default="")
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    lease_owner: Mapped[str | None] = mapped_column(String(80), default=None)
    # The trigger's data (a custom event's payload), for templates and conditions.
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[str] = mapped_column(Text, default="")
    entered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class StepRun(TenantBase):
    """A step done (or under way) for one enrollment: the unique key makes it happen
    at most once across crashes and concurrent engines."""

    __tablename__ = "workflow_step_runs"
    __table_args__ = (UniqueConstraint("enrollment_id", "step_key"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    enrollment_id: Mapped[str] = mapped_column(ForeignKey("enrollments.id", ondelete="CASCADE"))
    step_key: Mapped[str] = mapped_column(String(64))
    state: Mapped[StepRunState] = mapped_column(str_enum(StepRunState))
    # The message a send step spooled (its campaign recipient id).
    message_id: Mapped[str | None] = mapped_column(String(40), default=None)
    # When a waiting step is over (a wait's end, a wait for an event's timeout).
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    # What the step decided: the branch taken, or why nothing was done.
    outcome: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class StepCampaign(TenantBase):
    """The campaign that carries a send step's messages (one per entry cycle).

    Its recipients' unique key (campaign, contact) makes the send exactly
    once, and tracking, unsubscribe links, counters and webhooks work for it
    as for any campaign.
    """

    __tablename__ = "workflow_step_campaigns"

    version_id: Mapped[str] = mapped_column(
        ForeignKey("workflow_versions.id", ondelete="CASCADE"), primary_key=True
    )
    step_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    cycle: Mapped[int] = mapped_column(Integer, primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(40), index=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), unique=True)


class StepCounter(TenantBase):
    """A figure of one step of one workflow (entered, done, left, converted…),
    kept in the transaction that moves the people it counts."""

    __tablename__ = "workflow_step_counters"

    workflow_id: Mapped[str] = mapped_column(
        ForeignKey("workflows.id", ondelete="CASCADE"), primary_key=True
    )
    step_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    metric: Mapped[str] = mapped_column(String(20), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class CustomEvent(TenantBase):
    """Something the customer's application said a contact did (`POST /v1/events/custom`)."""

    __tablename__ = "custom_events"
    __table_args__ = (
        Index("ix_custom_events_contact_name_time", "contact_id", "name", "occurred_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
