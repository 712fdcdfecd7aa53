"""Each list's retention rules and the tenant's processing register (GDPR Art. 30).

A list's governance row says how long inactive contacts and old consents are
kept before they are asked again, what happens to those who do not answer,
and what the register must say besides the list's purpose: the legal basis,
the categories of data and who receives them. The register is exported as
JSON, CSV or an escaped HTML page.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
from dataclasses import dataclass, field

from sqlalchemy import select

from courriel.audience.export import neutralize
from courriel.audience.importer import LEGAL_BASES
from courriel.audience.models import MailingList, PropertyDefinition
from courriel.core.audit import record_entry
from courriel.core.clock import Clock
from courriel.core.db import get_or_not_found, transaction
from courriel.core.errors import InvalidInputError
from courriel.core.principal import Capability, Principal
from courriel.core.storage import Storage
from courriel.privacy.models import InactiveOutcome, ListGovernance, RetentionDefaults

MAX_MONTHS = 120  # ten years: any longer is no retention limit at all
MAX_CONFIRM_DAYS = 365
MAX_PENDING_DAYS = 3650
MAX_ENDED_MONTHS = 240
MAX_ITEMS = 50
MAX_ITEM = 200
# What a list's contacts hold, when the tenant has not said otherwise.
DEFAULT_CATEGORIES = ["email address", "name", "consent records", "opens and clicks"]


@dataclass(frozen=True)
class GovernanceInput:
    """A list's retention rules and register entry, as given by the tenant."""

    inactive_months: int | None = None
    consent_months: int | None = None
    confirm_days: int = 30
    inactive_outcome: str = InactiveOutcome.REMOVE.value
    legal_basis: str = "consent"
    data_categories: list[str] = field(default_factory=lambda: list(DEFAULT_CATEGORIES))
    recipients: list[str] = field(default_factory=list)
    notes: str = ""
    pending_days: int | None = None
    ended_months: int | None = None


@dataclass(frozen=True)
class Notice:
    """Who answers for the data and where to complain (Art. 15(1)(f), Art. 30(1)(a))."""

    controller: str = ""
    dpo: str = ""
    complaint: str = "You may lodge a complaint with a supervisory authority (GDPR Art. 77)."


# Art. 30(1)(c), (e), (g): the same for every list Courriel runs.
DATA_SUBJECTS = ["subscribers and prospects of the lists", "recipients of transactional mail"]
TRANSFERS = (
    "none by Courriel itself; mail goes to the recipient's own mailbox provider, wherever it is"
)
SECURITY_MEASURES = [
    "tenants' data in separate databases",
    "API keys and sessions with least-privilege capabilities",
    "tamper-evident audit trail",
    "TLS to mailbox providers when offered, DKIM signing",
    "erasure that overwrites deleted data (secure delete, checkpoint, vacuum)",
    "addresses of erased people kept only as keyed hashes",
]


@dataclass(frozen=True)
class RegisterEntry:
    """One processing activity of the register: one list."""

    list_id: str
    list_name: str
    purpose: str
    legal_basis: str
    data_categories: list[str]
    recipients: list[str]
    retention: str
    notes: str


def _months(value: int | None, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not 1 <= value <= MAX_MONTHS:
        raise InvalidInputError(name, f"must be a whole number of months from 1 to {MAX_MONTHS}")
    return value


def _items(values: list[str], name: str) -> list[str]:
    if len(values) > MAX_ITEMS:
        raise InvalidInputError(name, f"at most {MAX_ITEMS} entries")
    cleaned = []
    for index, value in enumerate(values):
        text = value.strip()
        if not text or len(text) > MAX_ITEM or any(ch in text for ch in "\r\n\x00"):
            raise InvalidInputError(f"{name}.{index}", f"one line of 1 to {MAX_ITEM} characters")
        cleaned.append(text)
    return cleaned


def _limit(value: int | None, name: str, most: int) -> int | None:
    if value is not None and not 1 <= value <= most:
        raise InvalidInputError(name, f"must be between 1 and {most}, or null")
    return value


def check_input(given: GovernanceInput) -> GovernanceInput:
    """The input, or InvalidInputError naming the first wrong field."""
    if isinstance(given.confirm_days, bool) or not 1 <= given.confirm_days <= MAX_CONFIRM_DAYS:
        raise InvalidInputError("confirm_days", f"must be from 1 to {MAX_CONFIRM_DAYS} days")
    try:
        outcome = InactiveOutcome(given.inactive_outcome)
    except ValueError:
        raise InvalidInputError("inactive_outcome", "must be remove or anonymize") from None
    if given.legal_basis not in LEGAL_BASES:
        raise InvalidInputError("legal_basis", f"must be one of {', '.join(sorted(LEGAL_BASES))}")
    if len(given.notes) > 5000:
        raise InvalidInputError("notes", "at most 5000 characters")
    return GovernanceInput(
        inactive_months=_months(given.inactive_months, "inactive_months"),
        consent_months=_months(given.consent_months, "consent_months"),
        confirm_days=given.confirm_days,
        inactive_outcome=outcome.value,
        legal_basis=given.legal_basis,
        data_categories=_items(given.data_categories, "data_categories"),
        recipients=_items(given.recipients, "recipients"),
        pending_days=_limit(given.pending_days, "pending_days", MAX_PENDING_DAYS),
        ended_months=_limit(given.ended_months, "ended_months", MAX_ENDED_MONTHS),
        notes=given.notes.strip(),
    )


def retention_text(row: ListGovernance | None, pending_days: int | None) -> str:
    """The register's "retention" column in words."""
    parts = []
    if row is not None and row.inactive_months:
        parts.append(
            f"inactive {row.inactive_months} months: asked again, then "
            f"{row.inactive_outcome.value}d after {row.confirm_days} days"
        )
    if row is not None and row.consent_months:
        parts.append(
            f"consent older than {row.consent_months} months: asked again, then suppressed "
            f"for marketing after {row.confirm_days} days"
        )
    pending = (row.pending_days if row is not None else None) or pending_days
    if pending:
        parts.append(f"unconfirmed sign-ups kept {pending} days")
    if row is not None and row.ended_months:
        parts.append(
            f"people who left: reduced to the suppression hash and consent records after "
            f"{row.ended_months} months"
        )
    return "; ".join(parts) or "until the person unsubscribes or asks for erasure"


class Governance:
    """Reads and changes lists' governance rows; builds the processing register."""

    def __init__(self, storage: Storage, clock: Clock) -> None:
        self._storage = storage
        self._clock = clock

    def get(self, principal: Principal, list_id: str) -> ListGovernance:
        """A list's governance (defaults when never set); unknown list: NotFoundError."""
        principal.require(Capability.LISTS_READ)
        principal.require_list(list_id)
        with self._storage.tenant(principal.tenant_id)() as session:
            get_or_not_found(session, MailingList, list_id, "list")
            found = session.get(ListGovernance, list_id)
        return found or _default(list_id, self._clock.now())

    def set(self, principal: Principal, list_id: str, given: GovernanceInput) -> ListGovernance:
        """Replace a list's governance; checked before anything is written, and audited."""
        principal.require(Capability.LISTS_WRITE)
        principal.require_list(list_id)
        checked = check_input(given)
        now = self._clock.now()
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            get_or_not_found(session, MailingList, list_id, "list")
            row = session.get(ListGovernance, list_id)
            if row is None:
                row = ListGovernance(list_id=list_id)
                session.add(row)
            row.inactive_months = checked.inactive_months
            row.consent_months = checked.consent_months
            row.confirm_days = checked.confirm_days
            row.inactive_outcome = InactiveOutcome(checked.inactive_outcome)
            row.legal_basis = checked.legal_basis
            row.data_categories = checked.data_categories
            row.recipients = checked.recipients
            row.notes = checked.notes
            row.pending_days = checked.pending_days
            row.ended_months = checked.ended_months
            row.updated_at = now
            record_entry(
                session,
                now,
                principal,
                "list.governance_changed",
                f"list:{list_id}",
                {
                    "inactive_months": checked.inactive_months,
                    "consent_months": checked.consent_months,
                    "confirm_days": checked.confirm_days,
                    "inactive_outcome": checked.inactive_outcome,
                    "legal_basis": checked.legal_basis,
                },
            )
        return row

    def defaults(self, principal: Principal) -> tuple[int | None, int | None]:
        """The tenant's storage limits (pending days, ended months) for lists without their own."""
        principal.require(Capability.LISTS_READ)
        with self._storage.tenant(principal.tenant_id)() as session:
            row = session.get(RetentionDefaults, 1)
        return (row.pending_days, row.ended_months) if row else (None, None)

    def set_defaults(
        self, principal: Principal, pending_days: int | None, ended_months: int | None
    ) -> tuple[int | None, int | None]:
        """Replace the tenant's storage limits; checked first, and audited."""
        principal.require(Capability.LISTS_WRITE)
        pending = _limit(pending_days, "pending_days", MAX_PENDING_DAYS)
        ended = _limit(ended_months, "ended_months", MAX_ENDED_MONTHS)
        now = self._clock.now()
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            row = session.get(RetentionDefaults, 1)
            if row is None:
                row = RetentionDefaults(id=1)
                session.add(row)
            row.pending_days, row.ended_months, row.updated_at = pending, ended, now
            record_entry(
                session,
                now,
                principal,
                "retention.defaults_changed",
                None,
                {"pending_days": pending, "ended_months": ended},
            )
        return pending, ended

    def register(self, principal: Principal) -> list[RegisterEntry]:
        """The tenant's processing register: one entry per list, by name."""
        principal.require(Capability.LISTS_READ)
        statement = (
            select(MailingList, ListGovernance)
            .outerjoin(ListGovernance, ListGovernance.list_id == MailingList.id)
            .order_by(MailingList.name, MailingList.id)
        )
        if principal.lists is not None:
            # A user limited to some lists learns nothing of the others, here either.
            statement = statement.where(MailingList.id.in_(principal.lists))
        with self._storage.tenant(principal.tenant_id)() as session:
            rows = session.execute(statement).all()
            properties = list(
                session.scalars(select(PropertyDefinition.name).order_by(PropertyDefinition.name))
            )
        # Custom properties are data every list's contacts may carry.
        custom = [f"custom property: {p}" for p in properties]
        entries = []
        for mailing_list, row in rows:
            entries.append(
                RegisterEntry(
                    list_id=mailing_list.id,
                    list_name=mailing_list.name,
                    purpose=mailing_list.purpose,
                    legal_basis=row.legal_basis if row else "consent",
                    data_categories=[
                        *(list(row.data_categories) if row else DEFAULT_CATEGORIES),
                        *custom,
                    ],
                    recipients=list(row.recipients) if row else [],
                    retention=retention_text(row, mailing_list.retention_days),
                    notes=row.notes if row else "",
                )
            )
        return entries


def _default(list_id: str, now: dt.datetime) -> ListGovernance:
    return ListGovernance(
        list_id=list_id,
        inactive_months=None,
        consent_months=None,
        confirm_days=30,
        inactive_outcome=InactiveOutcome.REMOVE,
        legal_basis="consent",
        data_categories=list(DEFAULT_CATEGORIES),
        recipients=[],
        notes="",
        updated_at=now,
    )


REGISTER_COLUMNS = [
    "list_id",
    "list_name",
    "purpose",
    "legal_basis",
    "data_categories",
    "recipients",
    "retention",
    "notes",
]


def _row(entry: RegisterEntry) -> dict[str, object]:
    return {
        "list_id": entry.list_id,
        "list_name": entry.list_name,
        "purpose": entry.purpose,
        "legal_basis": entry.legal_basis,
        "data_categories": entry.data_categories,
        "recipients": entry.recipients,
        "retention": entry.retention,
        "notes": entry.notes,
    }


def register_json(
    tenant_name: str, entries: list[RegisterEntry], now: dt.datetime, notice: Notice | None = None
) -> str:
    """The register as one JSON document."""
    notice = notice or Notice()
    document = {
        "controller": tenant_name,
        "controller_contact": notice.controller,
        "dpo": notice.dpo,
        "data_subject_categories": DATA_SUBJECTS,
        "transfers": TRANSFERS,
        "security_measures": SECURITY_MEASURES,
        "generated_at": now.isoformat(),
        "activities": [_row(e) for e in entries],
    }
    return json.dumps(document, ensure_ascii=False, indent=2)


def register_csv(entries: list[RegisterEntry]) -> str:
    """The register as CSV; lists are joined by "; ", formulas neutralized."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(REGISTER_COLUMNS)
    for entry in entries:
        row = _row(entry)
        writer.writerow(
            [
                neutralize("; ".join(v) if isinstance(v, list) else v)
                for v in (row[c] for c in REGISTER_COLUMNS)
            ]
        )
    return buffer.getvalue()


def register_html(
    tenant_name: str, entries: list[RegisterEntry], now: dt.datetime, notice: Notice | None = None
) -> str:
    """The register as a self-contained HTML page; every value escaped."""
    esc = html.escape
    notice = notice or Notice()
    about = (
        f"<p>Controller contact: {esc(notice.controller or tenant_name)}. "
        f"Data-protection officer: {esc(notice.dpo or 'none named')}.</p>"
        f"<p>Categories of data subjects: {esc('; '.join(DATA_SUBJECTS))}. "
        f"Transfers to third countries: {esc(TRANSFERS)}.</p>"
        f"<h2>Security measures</h2><ul>{''.join(f'<li>{esc(m)}</li>' for m in SECURITY_MEASURES)}"
        "</ul>"
    )
    heads = "".join(f"<th>{esc(c.replace('_', ' '))}</th>" for c in REGISTER_COLUMNS[1:])
    body = []
    for entry in entries:
        row = _row(entry)
        cells = "".join(
            "<td>" + esc("; ".join(value) if isinstance(value, list) else str(value)) + "</td>"
            for value in (row[c] for c in REGISTER_COLUMNS[1:])
        )
        body.append(f"<tr>{cells}</tr>")
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Record of processing activities: {esc(tenant_name)}</title>"
        "<style>body{font:14px system-ui,sans-serif;margin:2rem}table{border-collapse:collapse}"
        "th,td{border:1px solid #ccc;padding:.4rem;vertical-align:top;text-align:left}</style>"
        f"</head><body><h1>Record of processing activities (GDPR Art. 30)</h1>"
        f"<p>Controller: {esc(tenant_name)}. Generated {esc(now.isoformat())}.</p>{about}"
        f"<table><thead><tr>{heads}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        "</body></html>\n"
    )
