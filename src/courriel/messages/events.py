"""Webhook bodies that carry a message's CustomID and EventPayload, or speak Mailjet.

See `courriel.events.webhooks.ports.PayloadStyles`. The event log knows a
message by its id; what its sender attached to it (``CustomID``,
``EventPayload``, ``CustomCampaign``) and the numbers Mailjet clients know
it by (``MessageID``, ``Message_GUID``) are in the transactional record,
read here once per batch of deliveries.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from courriel.audience.models import Contact
from courriel.core.storage import Storage
from courriel.events.models import EventType
from courriel.events.webhooks.outbox import MAILJET_EVENTS
from courriel.messages.models import TransactionalMessage


class MessageEventStyles:
    """See `courriel.events.webhooks.ports.PayloadStyles`."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    def render(self, tenant_id: str, items: Sequence[tuple[str, str]]) -> list[str]:
        """See `PayloadStyles.render`."""
        bodies = [json.loads(raw) for _style, raw in items]
        message_ids = {b["message_id"] for b in bodies if b.get("message_id")}
        contact_ids = {
            b["contact_id"]
            for (style, _raw), b in zip(items, bodies, strict=True)
            if style == "mailjet" and b.get("contact_id")
        }
        with self._storage.tenant(tenant_id)() as session:
            records = {
                r.id: r
                for r in session.scalars(
                    select(TransactionalMessage).where(TransactionalMessage.id.in_(message_ids))
                )
            }
            rows = session.execute(
                select(Contact.id, Contact.email).where(Contact.id.in_(contact_ids))
            )
            emails: dict[str, str] = {row[0]: row[1] for row in rows}
            session.expunge_all()
        out = []
        for (style, raw), body in zip(items, bodies, strict=True):
            record = records.get(body.get("message_id") or "")
            if style == "mailjet":
                out.append(_dump(mailjet_event(body, record, emails)))
            elif record is not None:
                body["custom_id"] = record.custom_id
                body["event_payload"] = record.event_payload
                out.append(_dump(body))
            else:
                out.append(raw)
        return out


def mailjet_event(
    body: dict[str, Any], record: TransactionalMessage | None, emails: dict[str, str]
) -> dict[str, Any]:
    """One event with Mailjet's field names (its event API), from our stored body."""
    kind = EventType(body["type"])
    detail: dict[str, Any] = body.get("detail") or {}
    occurred = dt.datetime.fromisoformat(body["occurred_at"])
    number = record.number if record is not None else 0
    event: dict[str, Any] = {
        "event": MAILJET_EVENTS.get(kind, kind.value),
        "time": int(occurred.timestamp()),
        "MessageID": number,
        "Message_GUID": record.uuid if record is not None else "",
        "email": record.recipient
        if record is not None
        else emails.get(body.get("contact_id") or "", ""),
        "mj_campaign_id": 0,
        "mj_contact_id": 0,
        "customcampaign": (record.campaign if record is not None else "")
        or body.get("campaign_id")
        or "",
        "mj_message_id": str(number) if number else str(body.get("message_id") or ""),
        "CustomID": record.custom_id if record is not None else "",
        "Payload": record.event_payload if record is not None else "",
    }
    event.update(_specific(kind, detail))
    return event


def _specific(  # noqa: PLR0911 - one return per kind of event, as Mailjet lists them
    kind: EventType, detail: dict[str, Any]
) -> dict[str, Any]:
    # The fields Mailjet adds for each kind of event.
    reply = str(detail.get("reply") or "")
    if kind is EventType.DELIVERED:
        code = detail.get("code")
        return {"smtp_reply": f"{code} {reply}" if code else reply}
    if kind in (EventType.BOUNCED, EventType.EXPIRED, EventType.BLOCKED):
        return {
            "blocked": kind is EventType.BLOCKED,
            "hard_bounce": detail.get("bounce") == "hard",
            "error_related_to": "recipient" if kind is not EventType.BLOCKED else "domain",
            "error": reply or ("expired" if kind is EventType.EXPIRED else ""),
        }
    if kind is EventType.SKIPPED:
        return {
            "error_related_to": "recipient",
            "error": "preblocked",
            "comment": detail.get("reason", ""),
        }
    if kind is EventType.CLICKED:
        return {"url": detail.get("url", ""), "ip": "", "geo": "", "agent": ""}
    if kind is EventType.OPENED:
        return {"ip": "", "geo": "", "agent": ""}
    if kind is EventType.COMPLAINED:
        return {"source": "ARF"}
    if kind is EventType.UNSUBSCRIBED:
        return {"mj_list_id": 0, "ip": "", "geo": "", "agent": ""}
    return {}


def _dump(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
