"""The trigger registry: each kind of trigger, how its settings are checked, and how
it finds who should enter.

A trigger kind is a `TriggerKind`: `check` validates a definition's trigger
settings (raising InvalidInputError naming the field), and either

- `poll` (a polled trigger): called by the engine when the workflow's
  `trigger_at` is due, in a transaction of the tenant's database; it calls
  `enroll` for each contact that should enter and returns when it wants to
  be called again (None: not until something wakes it). It keeps its place
  in `workflow.trigger_cursor`, so each pass costs what is new.
- or nothing (a pushed trigger): the use case that records the fact calls
  `enroll` itself (`CustomEvents.record` for custom events).

`start` is called when a workflow is activated: it sets the first
`trigger_at` and cursor (a list trigger counts subscriptions from then on,
not the list's whole history).

To add a kind (behaviour, segment entered/left, property changed): write
its `TriggerKind` and `register` it, e.g. in a module imported by
`courriel.automation.kinds`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import false, func, select
from sqlalchemy.orm import Session

from courriel.audience.models import ConsentAction, ConsentRecord, Contact, Subscription
from courriel.audience.models import SubscriptionStatus as S
from courriel.automation.enroll import Entry, enroll
from courriel.automation.graph import check_event_name, check_time
from courriel.automation.models import Workflow
from courriel.automation.timing import at_local, occurs_on, zone_of
from courriel.core.errors import InvalidInputError
from courriel.events.models import Event, EventType

# What a polled trigger is handed: the session, the workflow, its active
# version (id and stored definition) and the time; it returns its next poll.
Poll = Callable[[Session, Workflow, str, dict[str, Any], dt.datetime], dt.datetime | None]
Start = Callable[[Session, Workflow, dict[str, Any], dt.datetime], None]


@dataclass(frozen=True)
class TriggerKind:
    """One kind of trigger (see the module docstring)."""

    name: str
    check: Callable[[dict[str, Any]], dict[str, Any]]
    poll: Poll | None = None
    start: Start | None = None


TRIGGERS: dict[str, TriggerKind] = {}


def register(kind: TriggerKind) -> None:
    """Make a trigger kind known (definitions may then name it)."""
    TRIGGERS[kind.name] = kind


def checkers() -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
    """Each known kind's settings check, for `graph.parse_definition`."""
    return {name: kind.check for name, kind in TRIGGERS.items()}


# -- subscribed to a list ----------------------------------------------------

# Consent given (single opt-in) or confirmed (double opt-in): the subscription
# is then `subscribed`. A sign-up still pending its confirmation has a
# `given` record too, and is skipped until its `confirmed` one comes.
_SUBSCRIBES = (ConsentAction.GIVEN, ConsentAction.CONFIRMED)
_LIST_BATCH = 1000


def _check_list(data: dict[str, Any]) -> dict[str, Any]:
    list_id = data.get("list_id")
    if not isinstance(list_id, str) or not list_id:
        raise InvalidInputError("trigger.list_id", "a list trigger names its list (list_id)")
    return {"kind": "list_subscribed", "list_id": list_id}


def _start_list(
    session: Session, workflow: Workflow, _definition: dict[str, Any], now: dt.datetime
) -> None:
    # Those subscribed before the activation are not "newly subscribed".
    if not workflow.trigger_cursor:
        workflow.trigger_cursor = str(session.scalar(select(func.max(ConsentRecord.id))) or 0)
    workflow.trigger_at = now


def _poll_list(
    session: Session,
    workflow: Workflow,
    version_id: str,
    definition: dict[str, Any],
    now: dt.datetime,
) -> dt.datetime | None:
    list_id = definition["trigger"]["list_id"]
    cursor = int(workflow.trigger_cursor or 0)
    rows = session.execute(
        select(ConsentRecord.id, ConsentRecord.contact_id, Subscription.status)
        .join(
            Subscription,
            (Subscription.contact_id == ConsentRecord.contact_id)
            & (Subscription.list_id == ConsentRecord.list_id),
        )
        .where(
            ConsentRecord.id > cursor,
            ConsentRecord.list_id == list_id,
            ConsentRecord.action.in_(_SUBSCRIBES),
        )
        .order_by(ConsentRecord.id)
        .limit(_LIST_BATCH)
    ).all()
    for record_id, contact_id, status in rows:
        if status is S.SUBSCRIBED:
            enroll(
                session,
                workflow,
                version_id,
                definition,
                Entry(contact_id, f"consent:{record_id}"),
                now=now,
            )
    if rows:
        workflow.trigger_cursor = str(rows[-1][0])
    # Looked at on every pass: an indexed range of what is new since the cursor.
    return now


# -- a custom event ------------------------------------------------------------


def _check_custom(data: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "custom_event", "name": check_event_name(data.get("name"), "trigger.name")}


# -- a date property (birthday, renewal) ---------------------------------------


def _check_date(data: dict[str, Any]) -> dict[str, Any]:
    name = data.get("property")
    if not isinstance(name, str) or not name:
        raise InvalidInputError("trigger.property", "a date trigger names its property")
    offset = data.get("offset_days", 0)
    if isinstance(offset, bool) or not isinstance(offset, int) or abs(offset) > 366:
        raise InvalidInputError("trigger.offset_days", "must be a whole number from -366 to 366")
    yearly = data.get("yearly", True)
    if not isinstance(yearly, bool):
        raise InvalidInputError("trigger.yearly", "must be true or false")
    return {
        "kind": "date_property",
        "property": name,
        "offset_days": offset,
        "time": check_time(data.get("time", "09:00"), "trigger.time"),
        "yearly": yearly,
    }


def _start_date(
    _session: Session, workflow: Workflow, _definition: dict[str, Any], now: dt.datetime
) -> None:
    workflow.trigger_cursor = ""
    workflow.trigger_at = now


def _poll_date(
    session: Session,
    workflow: Workflow,
    version_id: str,
    definition: dict[str, Any],
    now: dt.datetime,
) -> dt.datetime | None:
    """Plan today's occurrences, once a day (at 00:00 UTC).

    Every local day whose time (09:00) falls in the next 24 hours lies within
    yesterday..tomorrow (UTC) in some zone, so those three days are planned:
    each contact whose date falls on one of them gets an enrollment waking
    at that day's time in its own zone. The entry key (the date) makes a
    second planning of the same day harmless. One pass over the contacts
    that have the property, once a day.
    """
    trigger = definition["trigger"]
    today = now.date()
    if workflow.trigger_cursor == today.isoformat():
        return _next_midnight(now)
    fallback = str(definition.get("default_timezone") or "UTC")
    days = [today + dt.timedelta(days=d) for d in (-1, 0, 1)]
    prop = Contact.properties[trigger["property"]].as_string()
    rows = session.execute(
        select(Contact.id, Contact.timezone, prop).where(
            prop.is_not(None), Contact.restricted.is_(false())
        )
    )
    for contact_id, zone_name, value in rows:
        zone = zone_of(zone_name, fallback)
        for day in days:
            if not occurs_on(value, day, trigger["offset_days"], yearly=trigger["yearly"]):
                continue
            at = at_local(day, trigger["time"], zone)
            # Earlier than the planning: the day's moment went by before the
            # workflow was active (or before this pass); it waits a year.
            if at < now - dt.timedelta(hours=1):
                continue
            entry = Entry(contact_id, f"date:{day.isoformat()}", {"date": day.isoformat()}, at)
            enroll(session, workflow, version_id, definition, entry, now=now)
    workflow.trigger_cursor = today.isoformat()
    return _next_midnight(now)


def _next_midnight(now: dt.datetime) -> dt.datetime:
    return dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)


# -- behaviour: opened or clicked (a campaign's, a workflow step's, a given link) --

_BEHAVIOUR_BATCH = 2000


def _check_behaviour(kind: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def check(data: dict[str, Any]) -> dict[str, Any]:
        checked: dict[str, Any] = {"kind": kind}
        for name, limit in (("campaign_id", 40), ("url", 2000)):
            value = data.get(name)
            if value is None:
                continue
            if kind == "opened" and name == "url":
                raise InvalidInputError("trigger.url", "an open has no link; use a clicked trigger")
            if not isinstance(value, str) or not value or len(value) > limit:
                raise InvalidInputError(
                    f"trigger.{name}", f"must be text of 1 to {limit} characters"
                )
            checked[name] = value
        return checked

    return check


def _start_behaviour(
    session: Session, workflow: Workflow, _definition: dict[str, Any], now: dt.datetime
) -> None:
    # Opens and clicks from the activation on, not the event log's history.
    if not workflow.trigger_cursor:
        workflow.trigger_cursor = str(session.scalar(select(func.max(Event.seq))) or 0)
    workflow.trigger_at = now


def _poll_behaviour(
    session: Session,
    workflow: Workflow,
    version_id: str,
    definition: dict[str, Any],
    now: dt.datetime,
) -> dt.datetime | None:
    """People who opened or clicked since the cursor (the event log's growing `seq`).

    A scanner's click or a machine open (Apple Mail Privacy Protection,
    link checkers) is not a person's and lets nobody in.
    """
    trigger = definition["trigger"]
    kind = EventType.OPENED if trigger["kind"] == "opened" else EventType.CLICKED
    query = select(
        Event.seq, Event.type, Event.contact_id, Event.campaign_id, Event.detail, Event.id
    ).where(Event.seq > int(workflow.trigger_cursor or 0))
    rows = session.execute(query.order_by(Event.seq).limit(_BEHAVIOUR_BATCH)).all()
    for _seq, event_type, contact_id, campaign_id, detail, event_id in rows:
        if event_type is not kind or contact_id is None:
            continue
        if (detail or {}).get("scanner") or (detail or {}).get("machine"):
            continue
        if _matches(trigger, campaign_id, detail or {}):
            entry = Entry(contact_id, f"{kind.value}:{event_id}", {"campaign_id": campaign_id})
            enroll(session, workflow, version_id, definition, entry, now=now)
    if rows:
        workflow.trigger_cursor = str(rows[-1][0])
    return now


def _matches(trigger: dict[str, Any], campaign_id: str | None, detail: dict[str, Any]) -> bool:
    if "campaign_id" in trigger and trigger["campaign_id"] != campaign_id:
        return False
    return "url" not in trigger or detail.get("url") == trigger["url"]


register(TriggerKind("list_subscribed", _check_list, _poll_list, _start_list))
register(TriggerKind("opened", _check_behaviour("opened"), _poll_behaviour, _start_behaviour))
register(TriggerKind("clicked", _check_behaviour("clicked"), _poll_behaviour, _start_behaviour))
register(TriggerKind("custom_event", _check_custom))
register(TriggerKind("date_property", _check_date, _poll_date, _start_date))
