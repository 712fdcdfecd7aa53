"""The one way into a workflow: `enroll`, which every trigger calls.

A trigger (a list subscription, a custom event, a date, and whatever kinds
are added later) decides *that* a contact should enter; `enroll` decides
*whether* it may, by the workflow's entry rule, and writes the enrollment
with its first wake-up time. The rule is a unique key, so two engines (or
a trigger seen twice after a crash) cannot let someone in twice:

- once ever: the entry key is "once";
- once per N days: no entry in the last N days (checked), and the key is
  the N-day window, so two racing triggers in one window make one entry;
- every time: the key is the triggering fact (the event's id, the date).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from courriel.automation.counters import bump
from courriel.automation.models import Enrollment, EnrollmentState, Workflow, WorkflowStatus
from courriel.core.db import insert_for
from courriel.core.ids import new_id

ENTERED = "entered"


@dataclass(frozen=True)
class Entry:
    """A contact a trigger wants to enrol.

    `fact` names what triggered it, uniquely (a custom event's id, a
    subscription's consent record, a date): it is the entry key of
    "every time" workflows. `payload` is available to templates (``var.event``)
    and conditions. `start_at` delays the first step (a date trigger's
    09:00 local time); None: at once.
    """

    contact_id: str
    fact: str
    payload: dict[str, Any] = field(default_factory=dict)
    start_at: dt.datetime | None = None


def entry_key(rule: str, days: int, fact: str, now: dt.datetime) -> str:
    """The unique entry key of an entry under `rule`."""
    if rule == "once":
        return "once"
    if rule == "once_per_days":
        return f"window:{days}:{(now - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)).days // days}"
    return f"fact:{fact}"[:80]


def enroll(
    session: Session,
    workflow: Workflow,
    version_id: str,
    definition: dict[str, Any],
    entry: Entry,
    *,
    now: dt.datetime,
) -> str | None:
    """Let one contact into the active version of `workflow`; its enrollment id, or None
    when the entry rule keeps it out (already inside, or entered too recently).

    Runs in the caller's transaction (the trigger's), so an enrollment exists
    exactly when what triggered it was recorded.
    """
    if workflow.status is not WorkflowStatus.ACTIVE:
        return None
    entry_rules = definition.get("entry") or {}
    rule = str(entry_rules.get("rule", "once"))
    days = int(entry_rules.get("days") or 0)
    if rule == "once_per_days" and _entered_since(
        session, workflow.id, entry.contact_id, now - dt.timedelta(days=days)
    ):
        return None
    cycle = 1 + (
        session.scalar(
            select(func.count())
            .select_from(Enrollment)
            .where(Enrollment.workflow_id == workflow.id, Enrollment.contact_id == entry.contact_id)
        )
        or 0
    )
    start = _first_step(definition)
    enrollment_id = new_id("enr")
    written = session.execute(
        insert_for(session)(Enrollment)
        .values(
            id=enrollment_id,
            workflow_id=workflow.id,
            version_id=version_id,
            contact_id=entry.contact_id,
            entry_key=entry_key(rule, days, entry.fact, now),
            cycle=cycle,
            state=EnrollmentState.ACTIVE,
            step_key=start,
            next_at=entry.start_at or now,
            waiting_for="",
            payload=entry.payload,
            reason="",
            entered_at=now,
        )
        .on_conflict_do_nothing(
            index_elements=[Enrollment.workflow_id, Enrollment.contact_id, Enrollment.entry_key]
        )
        .returning(Enrollment.id)
    ).scalar()
    if written is None:
        return None
    bump(session, workflow.id, "", ENTERED)
    bump(session, workflow.id, start, ENTERED)
    return enrollment_id


def _entered_since(session: Session, workflow_id: str, contact_id: str, since: dt.datetime) -> bool:
    return (
        session.scalar(
            select(Enrollment.id)
            .where(
                Enrollment.workflow_id == workflow_id,
                Enrollment.contact_id == contact_id,
                Enrollment.entered_at > since,
            )
            .limit(1)
        )
        is not None
    )


def _first_step(definition: dict[str, Any]) -> str:
    first = definition["steps"][0]
    return str(first.get("key") or "step-1")
