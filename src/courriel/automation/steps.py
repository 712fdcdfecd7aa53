"""The steps that act inside the tenant's database: waits, conditions, splits,
property and list changes, webhook calls, exits.

Each runs in the transaction that records it done (`runner.py`), so it
happens exactly once: the step's run row, its effect and the person's move
to the next step commit together or not at all. A step answers `Go` (on to
a branch) or `Wait` (until an instant, perhaps for an event). Sending mail
cannot be part of a database transaction: `sending.py` does it in two.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from courriel.audience.models import (
    ConsentAction,
    ConsentRecord,
    ConsentSource,
    Contact,
    Subscription,
)
from courriel.audience.models import SubscriptionStatus as S
from courriel.audience.segments.service import segment_condition
from courriel.audience.subscriptions import can_move
from courriel.automation.graph import Definition, Step
from courriel.automation.guards import happened
from courriel.automation.models import Enrollment, StepRun
from courriel.automation.timing import next_weekday_time, zone_of
from courriel.core.clock import Clock
from courriel.core.ids import new_id
from courriel.events.webhooks.models import (
    DeliveryStatus,
    EndpointStatus,
    WebhookDelivery,
    WebhookEndpoint,
)


@dataclass(frozen=True)
class Go:
    """On to `target` (None: the end), having decided `outcome`."""

    target: str | None
    outcome: str = ""


@dataclass(frozen=True)
class Wait:
    """Not yet: wake at `until` (earlier if event `waiting_for` comes)."""

    until: dt.datetime
    waiting_for: str = ""


@dataclass(frozen=True)
class StepContext:
    """What a step reads: the person, where they are, and the time."""

    session: Session
    enrollment: Enrollment
    contact: Contact
    definition: Definition
    run: StepRun
    now: dt.datetime
    clock: Clock


def run_local(ctx: StepContext, step: Step) -> Go | Wait:  # noqa: PLR0911 (one case per kind)
    """Do one step that needs nothing outside the tenant's database."""
    kind = step.kind
    if kind in ("wait", "wait_until"):
        assert ctx.run.due_at is not None
        if ctx.now >= ctx.run.due_at:
            return Go(step.branches["next"], "waited")
        return Wait(ctx.run.due_at)
    if kind == "wait_for_event":
        return _wait_for_event(ctx, step)
    if kind == "condition":
        yes = _condition(ctx, step.settings)
        return Go(step.branches["yes" if yes else "no"], "yes" if yes else "no")
    if kind == "split":
        return _split(ctx, step)
    if kind == "update_property":
        _update_property(ctx, step.settings)
        return Go(step.branches["next"], "updated")
    if kind == "add_to_list":
        return Go(step.branches["next"], _add_to_list(ctx, step))
    if kind == "remove_from_list":
        removed = ctx.session.execute(
            delete(Subscription).where(
                Subscription.contact_id == ctx.contact.id,
                Subscription.list_id == step.settings["list_id"],
            )
        )
        return Go(step.branches["next"], "removed" if removed.rowcount else "not on the list")  # type: ignore[attr-defined]
    if kind == "webhook":
        return Go(step.branches["next"], _webhook(ctx, step))
    return Go(None, "exit")


def first_due(ctx: StepContext, step: Step) -> dt.datetime | None:
    """When a waiting step arrived at now is over (None: the step does not wait)."""
    if step.kind in ("wait", "wait_for_event"):
        return ctx.now + dt.timedelta(minutes=int(step.settings["minutes"]))
    if step.kind == "wait_until":
        zone = zone_of(ctx.contact.timezone, ctx.definition.default_timezone)
        return next_weekday_time(ctx.now, step.settings["weekdays"], step.settings["time"], zone)
    return None


def _wait_for_event(ctx: StepContext, step: Step) -> Go | Wait:
    name = step.settings["event"]
    if happened(ctx.session, ctx.contact.id, name, ctx.run.created_at):
        return Go(step.branches["next"], "event")
    assert ctx.run.due_at is not None
    if ctx.now >= ctx.run.due_at:
        return Go(step.branches["timeout_next"], "timeout")
    return Wait(ctx.run.due_at, name)


def _condition(ctx: StepContext, settings: dict[str, Any]) -> bool:
    if "event" in settings:
        days = int(settings["within_days"])
        since = ctx.now - dt.timedelta(days=days) if days else ctx.enrollment.entered_at
        return happened(ctx.session, ctx.contact.id, settings["event"], since)
    found = ctx.session.scalar(
        select(Contact.id).where(
            Contact.id == ctx.contact.id,
            segment_condition(ctx.session, settings["segment"], ctx.clock),
        )
    )
    return found is not None


def bucket(workflow_id: str, step_key: str, contact_id: str) -> int:
    """A contact's place (0-99) in a split: the same every time for the same person."""
    digest = hashlib.sha256(f"{workflow_id}:{step_key}:{contact_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def _split(ctx: StepContext, step: Step) -> Go:
    place = bucket(ctx.enrollment.workflow_id, step.key, ctx.contact.id)
    total = 0
    for index, (percent, target) in enumerate(step.shares):
        total += percent
        if place < total:
            return Go(target, f"branch {index + 1}")
    return Go(step.shares[-1][1], f"branch {len(step.shares)}")  # pragma: no cover (sums to 100)


def _update_property(ctx: StepContext, settings: dict[str, Any]) -> None:
    properties = dict(ctx.contact.properties or {})
    if settings["value"] is None:
        properties.pop(settings["property"], None)
    else:
        properties[settings["property"]] = settings["value"]
    ctx.contact.properties = properties
    ctx.contact.updated_at = ctx.now


def _add_to_list(ctx: StepContext, step: Step) -> str:
    """Subscribe to a single opt-in list, with a consent record saying why.

    A person who left the list (unsubscribed, bounced, complained) is not
    put back: only their own new opt-in may do that (the transition table).
    """
    list_id = step.settings["list_id"]
    sub = ctx.session.scalar(
        select(Subscription).where(
            Subscription.contact_id == ctx.contact.id, Subscription.list_id == list_id
        )
    )
    if sub is not None and not can_move(sub.status, S.SUBSCRIBED):
        return f"kept {sub.status.value}"
    if sub is not None and sub.status is S.SUBSCRIBED:
        return "already subscribed"
    if sub is None:
        ctx.session.add(
            Subscription(
                list_id=list_id,
                contact_id=ctx.contact.id,
                status=S.SUBSCRIBED,
                created_at=ctx.now,
                updated_at=ctx.now,
            )
        )
    else:
        sub.status = S.SUBSCRIBED
        sub.updated_at = ctx.now
    ctx.session.add(
        ConsentRecord(
            contact_id=ctx.contact.id,
            list_id=list_id,
            action=ConsentAction.GIVEN,
            source=ConsentSource.ADMIN,
            legal_basis=str(step.settings.get("legal_basis") or "consent"),
            purpose_text=f"added by workflow {ctx.enrollment.workflow_id}, step {step.key}",
            principal=f"workflow:{ctx.enrollment.workflow_id}",
            occurred_at=ctx.now,
        )
    )
    return "subscribed"


def _webhook(ctx: StepContext, step: Step) -> str:
    """A delivery in the webhook outbox, sent (signed, SSRF-guarded, retried) by the deliverer."""
    endpoint = ctx.session.get(WebhookEndpoint, step.settings["endpoint_id"])
    if endpoint is None or endpoint.status is not EndpointStatus.ACTIVE:
        return "no active endpoint"
    event_id = new_id("evt")
    payload = {
        "id": event_id,
        "type": "workflow.step",
        "occurred_at": ctx.now.isoformat(),
        "workflow_id": ctx.enrollment.workflow_id,
        "step": step.key,
        "contact_id": ctx.contact.id,
        "enrollment_id": ctx.enrollment.id,
        "data": ctx.enrollment.payload,
    }
    ctx.session.add(
        WebhookDelivery(
            id=new_id("whd"),
            endpoint_id=endpoint.id,
            event_id=event_id,
            event_type="workflow.step",
            payload=json.dumps(payload, separators=(",", ":"), sort_keys=True),
            status=DeliveryStatus.PENDING,
            attempts=0,
            next_attempt_at=ctx.now,
            created_at=ctx.now,
        )
    )
    return "called"
