"""Proof of consent: the ledger of one contact as JSON and as a readable HTML page.

The ledger (`ConsentRecord`) is append-only: rows are added by the use cases
that change a subscription and never updated. The proof is built from it as
it stands, with the subscriptions' current states, so a sender can show a
regulator or the person exactly what was agreed, when, where and how.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from jinja2 import Environment
from sqlalchemy import select

from courriel.audience.access import contact_in_reach, shown_contact
from courriel.audience.models import ConsentRecord, MailingList, Subscription
from courriel.core.principal import Capability, Principal
from courriel.core.storage import Storage

_PAGE = Environment(autoescape=True).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Proof of consent</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.3rem .5rem;
text-align:left;vertical-align:top}th{background:#f4f4f4}</style></head>
<body><h1>Proof of consent</h1>
<p>Contact <strong>{{ contact.email }}</strong> ({{ contact.id }}),
generated {{ generated_at }}.</p>
<h2>Subscriptions</h2>
<table><tr><th>List</th><th>Status</th><th>Since</th></tr>
{% for s in subscriptions %}<tr><td>{{ s.list_name }} ({{ s.list_id }})</td>
<td>{{ s.status }}</td><td>{{ s.updated_at }}</td></tr>{% endfor %}</table>
<h2>Consent ledger</h2>
<table><tr><th>When</th><th>Action</th><th>List</th><th>Source</th><th>Legal basis</th>
<th>Text shown</th><th>Form</th><th>IP</th><th>User agent</th><th>By</th></tr>
{% for r in ledger %}<tr><td>{{ r.occurred_at }}</td><td>{{ r.action }}</td>
<td>{{ r.list_id or "" }}</td><td>{{ r.source }}</td><td>{{ r.legal_basis }}</td>
<td>{{ r.purpose_text }}{% if r.purpose_version %} (version {{ r.purpose_version }}){% endif %}
</td><td>{{ r.form_id or "" }}</td><td>{{ r.ip or "" }}</td><td>{{ r.user_agent or "" }}</td>
<td>{{ r.principal }}</td></tr>{% endfor %}</table>
</body></html>
"""
)


def record_dict(record: ConsentRecord) -> dict[str, Any]:
    """One ledger entry as plain data."""
    return {
        "list_id": record.list_id,
        "action": record.action.value,
        "source": record.source.value,
        "legal_basis": record.legal_basis,
        "purpose_text": record.purpose_text,
        "purpose_version": record.purpose_version,
        "form_id": record.form_id,
        "ip": record.ip,
        "user_agent": record.user_agent,
        "principal": record.principal,
        "occurred_at": record.occurred_at.isoformat(),
    }


class ConsentProofs:
    """Builds the proof of consent of a contact."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    def proof(self, principal: Principal, contact_id: str, now: dt.datetime) -> dict[str, Any]:
        """The proof as JSON-ready data: contact, subscriptions and the whole ledger."""
        principal.require(Capability.CONTACTS_READ)
        with self._storage.tenant(principal.tenant_id)() as session:
            contact = shown_contact(principal, contact_in_reach(session, principal, contact_id))
            subscriptions = session.execute(
                select(Subscription, MailingList.name)
                .join(MailingList, MailingList.id == Subscription.list_id)
                .where(Subscription.contact_id == contact_id)
                .order_by(Subscription.id)
            ).all()
            ledger = session.scalars(
                select(ConsentRecord)
                .where(ConsentRecord.contact_id == contact_id)
                .order_by(ConsentRecord.id)
            ).all()
            return {
                "contact": {"id": contact.id, "email": contact.email},
                "generated_at": now.isoformat(),
                "subscriptions": [
                    {
                        "list_id": sub.list_id,
                        "list_name": name,
                        "status": sub.status.value,
                        "updated_at": sub.updated_at.isoformat(),
                    }
                    for sub, name in subscriptions
                    if principal.sees_list(sub.list_id)
                ],
                "ledger": [
                    record_dict(r)
                    for r in ledger
                    if r.list_id is None or principal.sees_list(r.list_id)
                ],
            }

    def proof_html(self, principal: Principal, contact_id: str, now: dt.datetime) -> str:
        """The same proof as a readable, escaped HTML page."""
        return _PAGE.render(**self.proof(principal, contact_id, now))
