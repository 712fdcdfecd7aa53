"""Everything a tenant holds about one person (GDPR Art. 15), and its renderings.

`gather` reads the contact, its lists, the consent ledger, its messages and
events, the suppression status and its data-subject requests, in one
session. `as_html` is the readable report (autoescaped), `as_csv` the
portable profile (Art. 20: the data the person provided, one row a
spreadsheet or another ESP can import).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any

from jinja2 import Environment
from sqlalchemy import select
from sqlalchemy.orm import Session

from courriel.audience.access import shown_fields
from courriel.audience.consent import record_dict
from courriel.audience.export import neutralize
from courriel.audience.models import (
    ConsentRecord,
    Contact,
    MailingList,
    PropertyDefinition,
    Subscription,
    Suppression,
)
from courriel.campaigns.models import Campaign, CampaignRecipient
from courriel.core.addresses import tenant_address_hash
from courriel.core.principal import Principal
from courriel.events.models import Event, EventType
from courriel.privacy.governance import DEFAULT_CATEGORIES, Notice, retention_text
from courriel.privacy.models import DataSubjectRequest, ListGovernance

PROFILE = ["email", "first_name", "last_name", "language", "timezone"]


# What the person may ask (Arts. 15-22), in the words the export shows.
RIGHTS = [
    ("access", "Art. 15", "a copy of this data"),
    ("rectification", "Art. 16", "correct what is wrong"),
    ("erasure", "Art. 17", "have it all erased"),
    ("restriction", "Art. 18", "keep it but have it used for nothing"),
    ("portability", "Art. 20", "receive it in a machine-readable form"),
    ("objection", "Art. 21", "object to direct marketing or to the tracking of opens and clicks"),
    ("withdraw consent", "Art. 7(3)", "at any time, as easily as it was given"),
]
# Events that say where a message stands, the latest one wins.
_OUTCOMES = frozenset(
    {
        EventType.QUEUED,
        EventType.SENT,
        EventType.SKIPPED,
        EventType.DELIVERED,
        EventType.DEFERRED,
        EventType.BOUNCED,
        EventType.BLOCKED,
        EventType.EXPIRED,
        EventType.FAILED,
    }
)


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def gather(  # noqa: PLR0917 (the person, where they live, and the notice)
    session: Session,
    secret_key: bytes,
    tenant_id: str,
    contact: Contact,
    now: dt.datetime,
    notice: Notice | None = None,
) -> dict[str, Any]:
    """The whole dossier of `contact`, as plain JSON-ready data."""
    subscriptions = session.execute(
        select(Subscription, MailingList)
        .join(MailingList, MailingList.id == Subscription.list_id)
        .where(Subscription.contact_id == contact.id)
        .order_by(MailingList.name)
    ).all()
    ledger = list(
        session.scalars(
            select(ConsentRecord)
            .where(ConsentRecord.contact_id == contact.id)
            .order_by(ConsentRecord.id)
        )
    )
    messages = session.execute(
        select(CampaignRecipient, Campaign.name)
        .join(Campaign, Campaign.id == CampaignRecipient.campaign_id)
        .where(CampaignRecipient.contact_id == contact.id)
        .order_by(CampaignRecipient.created_at)
    ).all()
    events = list(
        session.scalars(select(Event).where(Event.contact_id == contact.id).order_by(Event.seq))
    )
    # A message's state is what last happened to it ("delivered"), not the
    # fan-out's bookkeeping ("queued").
    outcome = {e.message_id: e.type.value for e in events if e.type in _OUTCOMES}
    digest = tenant_address_hash(secret_key, tenant_id, contact.email)
    suppression = session.scalars(
        select(Suppression).where(Suppression.address_hash == digest)
    ).first()
    requests = session.scalars(
        select(DataSubjectRequest)
        .where(DataSubjectRequest.contact_id == contact.id)
        .order_by(DataSubjectRequest.received_at)
    )
    return {
        "generated_at": now.isoformat(),
        "information": _information(session, contact, subscriptions, ledger, notice or Notice()),
        "contact": {
            "id": contact.id,
            "email": contact.email,
            "first_name": contact.first_name,
            "last_name": contact.last_name,
            "language": contact.language,
            "timezone": contact.timezone,
            "properties": dict(contact.properties or {}),
            "no_tracking": contact.no_tracking,
            "restricted": contact.restricted,
            "created_at": _iso(contact.created_at),
            "updated_at": _iso(contact.updated_at),
        },
        "subscriptions": [
            {
                "list_id": lst.id,
                "list_name": lst.name,
                "purpose": lst.purpose,
                "status": sub.status.value,
                "since": _iso(sub.updated_at),
            }
            for sub, lst in subscriptions
        ],
        "consent": [record_dict(r) for r in ledger],
        "messages": [
            {
                "message_id": r.id,
                "campaign_id": r.campaign_id,
                "campaign": name,
                "state": outcome.get(r.id, r.state.value),
                "created_at": _iso(r.created_at),
            }
            for r, name in messages
        ],
        "events": [
            {
                "type": e.type.value,
                "occurred_at": _iso(e.occurred_at),
                "campaign_id": e.campaign_id,
                "message_id": e.message_id,
                "detail": e.detail,
            }
            for e in events
        ],
        "suppression": {
            "suppressed": suppression is not None,
            "reason": suppression.reason.value if suppression else None,
            "since": _iso(suppression.created_at) if suppression else None,
        },
        "requests": [
            {
                "id": r.id,
                "type": r.type.value,
                "status": r.status.value,
                "received_at": _iso(r.received_at),
                "closed_at": _iso(r.closed_at),
            }
            for r in requests
        ],
    }


def masked(dossier: dict[str, Any], principal: Principal) -> dict[str, Any]:
    """The dossier as a principal with hidden personal fields may see it."""
    return {
        **dossier,
        "contact": shown_fields(principal, dossier["contact"]),
        "consent": [shown_fields(principal, r) for r in dossier["consent"]],
        "events": [shown_fields(principal, e) for e in dossier["events"]],
    }


def _information(
    session: Session,
    contact: Contact,
    subscriptions: Any,
    ledger: list[ConsentRecord],
    notice: Notice,
) -> dict[str, Any]:
    # Art. 15(1)(a)-(h): purposes, categories, recipients, retention, rights,
    # complaint, source; no automated decision-making happens here.
    lists = [lst for _sub, lst in subscriptions]
    rules = {
        row.list_id: row
        for row in session.scalars(
            select(ListGovernance).where(ListGovernance.list_id.in_([m.id for m in lists]))
        )
    }
    categories = {c for m in lists for c in (rules[m.id].data_categories if m.id in rules else [])}
    properties = sorted(contact.properties or {})
    defined = set(session.scalars(select(PropertyDefinition.name)))
    return {
        "controller": notice.controller,
        "dpo": notice.dpo,
        "purposes": [
            {
                "list": m.name,
                "purpose": m.purpose,
                "legal_basis": rules[m.id].legal_basis if m.id in rules else "consent",
            }
            for m in lists
        ],
        "categories": sorted(categories or set(DEFAULT_CATEGORIES))
        + [f"custom property: {p}" for p in properties if p in defined],
        "recipients": sorted({r for m in lists if m.id in rules for r in rules[m.id].recipients}),
        "retention": [
            {"list": m.name, "retention": retention_text(rules.get(m.id), m.retention_days)}
            for m in lists
        ],
        "source": sorted({r.source.value for r in ledger}),
        "automated_decisions": "none",
        "rights": [{"right": r, "article": a, "what": w} for r, a, w in RIGHTS],
        "complaint": notice.complaint,
    }


def as_json(dossier: dict[str, Any]) -> str:
    """The dossier as indented JSON (machine-readable, Art. 20)."""
    return json.dumps(dossier, indent=2, ensure_ascii=False, sort_keys=False, default=str)


def as_csv(dossier: dict[str, Any]) -> str:
    """The person's profile as one CSV row: fields, properties, subscribed lists."""
    contact = dossier["contact"]
    properties: dict[str, Any] = contact["properties"]
    names = sorted(properties)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*PROFILE, *names, "lists"])
    lists = ";".join(
        s["list_name"] for s in dossier["subscriptions"] if s["status"] == "subscribed"
    )
    values = [contact[f] for f in PROFILE] + [properties[n] for n in names] + [lists]
    writer.writerow([neutralize(v) for v in values])
    return buffer.getvalue()


_REPORT = Environment(autoescape=True).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Your personal data</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;
color:#1d2330}table{border-collapse:collapse;width:100%;margin-bottom:1.5rem}
td,th{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}code{font-size:.85em;word-break:break-all}</style></head>
<body><h1>Your personal data</h1>
<p>Everything held about {{ c.email }} ({{ c.id }}), generated {{ d.generated_at }}.</p>
<h2>About this data</h2><table>
<tr><th>Controller</th><td>{{ i.controller or "the sender of the messages you received" }}</td></tr>
<tr><th>Data-protection officer</th><td>{{ i.dpo or "none named" }}</td></tr>
{% for p in i.purposes %}<tr><th>Purpose: {{ p.list }}</th><td>{{ p.purpose }}
({{ p.legal_basis }})</td></tr>{% endfor %}
<tr><th>Categories</th><td>{{ i.categories|join(", ") }}</td></tr>
<tr><th>Recipients</th><td>{{ i.recipients|join(", ") or "none besides the sender" }}</td></tr>
{% for r in i.retention %}<tr><th>Kept: {{ r.list }}</th><td>{{ r.retention }}</td></tr>
{% endfor %}<tr><th>Source</th><td>{{ i.source|join(", ") }}</td></tr>
<tr><th>Automated decisions</th><td>{{ i.automated_decisions }}</td></tr>
{% for r in i.rights %}<tr><th>Right: {{ r.right }} ({{ r.article }})</th><td>{{ r.what }}</td>
</tr>{% endfor %}<tr><th>Right to complain</th><td>{{ i.complaint }}</td></tr></table>
<h2>Profile</h2><table>
{% for k in ["email", "first_name", "last_name", "language", "timezone", "created_at",
 "updated_at"] %}<tr><th>{{ k }}</th><td>{{ c[k] or "" }}</td></tr>{% endfor %}
{% for k, v in c.properties|dictsort %}<tr><th>{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}
<tr><th>tracking</th><td>{{ "stopped at your request" if c.no_tracking else "on" }}</td></tr>
<tr><th>processing</th><td>{{ "restricted at your request" if c.restricted else "normal" }}</td>
</tr></table>
<h2>Lists</h2><table><tr><th>List</th><th>Purpose</th><th>Status</th><th>Since</th></tr>
{% for s in d.subscriptions %}<tr><td>{{ s.list_name }}</td><td>{{ s.purpose }}</td>
<td>{{ s.status }}</td><td>{{ s.since }}</td></tr>{% else %}<tr><td colspan="4">None</td></tr>
{% endfor %}</table>
<h2>Consent</h2><table><tr><th>When</th><th>What</th><th>List</th><th>How</th>
<th>Legal basis</th><th>Text shown</th><th>IP</th><th>Browser</th></tr>
{% for r in d.consent %}<tr><td>{{ r.occurred_at }}</td><td>{{ r.action }}</td>
<td>{{ r.list_id or "all" }}</td><td>{{ r.source }}</td><td>{{ r.legal_basis }}</td>
<td>{{ r.purpose_text }}</td><td>{{ r.ip or "" }}</td><td>{{ r.user_agent or "" }}</td></tr>
{% else %}<tr><td colspan="8">None</td></tr>{% endfor %}</table>
<h2>Messages</h2><table><tr><th>When</th><th>Campaign</th><th>State</th></tr>
{% for m in d.messages %}<tr><td>{{ m.created_at }}</td><td>{{ m.campaign }}</td>
<td>{{ m.state }}</td></tr>{% else %}<tr><td colspan="3">None</td></tr>{% endfor %}</table>
<h2>Events</h2><table><tr><th>When</th><th>What</th><th>Detail</th></tr>
{% for e in d.events %}<tr><td>{{ e.occurred_at }}</td><td>{{ e.type }}</td>
<td><code>{{ e.detail|tojson }}</code></td></tr>{% else %}<tr><td colspan="3">None</td></tr>
{% endfor %}</table>
<h2>Suppression</h2><p>{% if d.suppression.suppressed %}This address receives no mail
({{ d.suppression.reason }}, since {{ d.suppression.since }}).{% else %}None.{% endif %}</p>
<h2>Your requests</h2><table><tr><th>Received</th><th>Right</th><th>Status</th></tr>
{% for r in d.requests %}<tr><td>{{ r.received_at }}</td><td>{{ r.type }}</td>
<td>{{ r.status }}</td></tr>{% else %}<tr><td colspan="3">None</td></tr>{% endfor %}</table>
</body></html>
"""
)


def as_html(dossier: dict[str, Any]) -> str:
    """The dossier as a readable page; every value escaped."""
    return _REPORT.render(d=dossier, c=dossier["contact"], i=dossier["information"])
