"""Exporting a list (optionally narrowed by a segment) with its consent data.

Every export needs the `contacts:export` capability and leaves an entry in
the tenant's hash-chained audit trail (who, what, when, from where;
`privacy.audit`) before the first row leaves. The interim `audience_audit`
table is no longer written; its old rows are kept as they were. Cells that
a spreadsheet would run as a formula (starting with = + - @, tab or CR;
OWASP "CSV injection") are prefixed with a quote.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, func, select

from courriel.audience.access import shown_contact
from courriel.audience.models import (
    ConsentAction,
    ConsentRecord,
    Contact,
    MailingList,
    Subscription,
)
from courriel.audience.properties import load_definitions
from courriel.core.audit import record_entry
from courriel.core.clock import Clock
from courriel.core.db import get_or_not_found, transaction
from courriel.core.principal import Capability, Principal
from courriel.core.storage import Storage

Format = Literal["csv", "json"]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BASE = ["email", "first_name", "last_name", "language", "timezone", "status"]
CONSENT = ["consent_action", "consent_at", "consent_source", "consent_ip", "consent_legal_basis"]
PAGE = 1000


# After a leading + or -, a spreadsheet computes a number and nothing else
# when only these follow: no cell reference, function or command can be
# written without a letter or a quote. Phone numbers (+33 6 12…) stay intact.
_PLAIN_NUMBER = re.compile(r"[+-][0-9 .,()/+-]*")


def neutralize(value: object) -> str:
    """A cell as text that no spreadsheet evaluates as a formula (OWASP CSV injection).

    `=`, `@`, tab and CR always get a leading quote; `+` and `-` only when
    something other than a plain number follows.
    """
    text = "" if value is None else str(value)
    if not text.startswith(FORMULA_STARTS):
        return text
    if text[0] in "+-" and _PLAIN_NUMBER.fullmatch(text):
        return text
    return "'" + text


class ExportService:
    """Streams exports and records them for the audit trail."""

    def __init__(self, storage: Storage, clock: Clock) -> None:
        self._storage = storage
        self._clock = clock

    def export(
        self,
        principal: Principal,
        list_id: str,
        fmt: Format,
        segment: ColumnElement[bool] | None = None,
        segment_name: str = "",
        *,
        source_ip: str | None = None,
    ) -> Iterator[str]:
        """The list's contacts with their latest consent, as CSV or JSON Lines chunks."""
        principal.require(Capability.CONTACTS_EXPORT)
        factory = self._storage.tenant(principal.tenant_id)
        principal.require_list(list_id)
        principal.require_personal_read()
        with transaction(factory) as session:
            get_or_not_found(session, MailingList, list_id, "list")
            record_entry(
                session,
                self._clock.now(),
                principal,
                "contacts.exported",
                f"list:{list_id}",
                {"format": fmt, "segment": segment_name},
                source_ip,
            )
            names = sorted(load_definitions(session))
        return self._rows(principal, list_id, fmt, segment, names)

    def _rows(
        self,
        principal: Principal,
        list_id: str,
        fmt: Format,
        segment: ColumnElement[bool] | None,
        names: list[str],
    ) -> Iterator[str]:
        header = BASE + CONSENT + [f"property.{n}" for n in names]
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        if fmt == "csv":
            writer.writerow(header)
        latest = (
            select(func.max(ConsentRecord.id).label("id"), ConsentRecord.contact_id)
            .where(
                ConsentRecord.list_id == list_id,
                ConsentRecord.action.in_(
                    [ConsentAction.GIVEN, ConsentAction.CONFIRMED, ConsentAction.RECONFIRMED]
                ),
            )
            .group_by(ConsentRecord.contact_id)
            .subquery()
        )
        statement = (
            select(Contact, Subscription.status, ConsentRecord)
            .join(Subscription, Subscription.contact_id == Contact.id)
            .outerjoin(latest, latest.c.contact_id == Contact.id)
            .outerjoin(ConsentRecord, ConsentRecord.id == latest.c.id)
            .where(
                and_(Subscription.list_id == list_id, *([segment] if segment is not None else []))
            )
            .order_by(Contact.id)
            .execution_options(yield_per=PAGE)
        )
        with self._storage.tenant(principal.tenant_id)() as session:
            for contact, status, record in session.execute(statement):
                values = _values(shown_contact(principal, contact), status.value, record, names)
                if fmt == "json":
                    buffer.write(json.dumps(dict(zip(header, values, strict=True))) + "\n")
                else:
                    writer.writerow([neutralize(v) for v in values])
                if buffer.tell() > 1 << 16:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue()


def _values(
    contact: Contact, status: str, record: ConsentRecord | None, names: list[str]
) -> list[Any]:
    consent: list[Any] = [None] * len(CONSENT)
    if record is not None:
        consent = [
            record.action.value,
            record.occurred_at.isoformat(),
            record.source.value,
            record.ip,
            record.legal_basis,
        ]
    props = contact.properties or {}
    return [
        contact.email,
        contact.first_name,
        contact.last_name,
        contact.language,
        contact.timezone,
        status,
        *consent,
        *(props.get(n) for n in names),
    ]
