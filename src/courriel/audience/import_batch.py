"""One batch of an import: rows parsed and checked, then written in one transaction.

Parsing needs no database; writing looks the batch's addresses up in the
suppression list, the contacts and the list's subscriptions with three
queries, then inserts what is new in bulk. A batch is written whole or not
at all, with the import's counters, so progress never runs ahead of data.
"""

from __future__ import annotations

import hashlib
import operator
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam, column, insert, select, table, update
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, sessionmaker

from courriel.audience.addresses import address_hasher, domain_of, normalize_address
from courriel.audience.models import (
    ConsentAction,
    ConsentRecord,
    ConsentSource,
    Contact,
    ContactImport,
    ImportRejection,
    MailingList,
    PropertyDefinition,
    Subscription,
    Suppression,
)
from courriel.audience.models import SubscriptionStatus as S
from courriel.audience.properties import (
    check_language,
    check_timezone,
    check_value,
    clean_text,
)
from courriel.core.clock import Clock
from courriel.core.db import TenantBase, transaction
from courriel.core.errors import InvalidInputError

# 26 random bytes, each reduced to one of 32 letters (256 is a multiple of 32,
# so every letter is equally likely): the shape and 130 bits of entropy of
# `courriel.core.ids.new_id`, made in C rather than by base32-encoding in Python.
_BASE32 = bytes(b"abcdefghijklmnopqrstuvwxyz234567"[i % 32] for i in range(256))


def contact_id_() -> str:
    """A new contact id, as `new_id("con")` makes them."""
    return "con_" + secrets.token_bytes(26).translate(_BASE32).decode("ascii")


# A person's own choice, or a hard fact about the address, that an import never undoes.
STOPPED = frozenset({S.UNSUBSCRIBED, S.BOUNCED, S.COMPLAINED, S.SUPPRESSED})
LIMITS = {"first_name": 200, "last_name": 200, "language": 35, "timezone": 64}


@dataclass(frozen=True)
class ImportContext:
    """What every batch of one import needs to know."""

    tenant_id: str
    actor: str
    job_id: str
    mailing_list: MailingList
    legal_basis: str
    confirmed: bool
    secret_key: bytes


@dataclass(frozen=True)
class ParsedRow:
    """A row that passed validation."""

    line: int
    email: str
    fields: dict[str, str | None]
    properties: dict[str, Any]


@dataclass
class ParsedBatch:
    """The valid rows of a batch and the lines rejected with their reasons."""

    rows: list[ParsedRow] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    read: int = 0


class RowParser:
    """Validates rows against the column mapping; remembers addresses seen in the file."""

    def __init__(
        self, columns: Mapping[int, str], definitions: Mapping[str, PropertyDefinition]
    ) -> None:
        self._columns = columns
        self._definitions = definitions
        # 12-byte digests rather than the addresses: a million rows stay small.
        self._seen: set[bytes] = set()

    def parse(self, batch: list[tuple[int, list[str]]]) -> ParsedBatch:
        """Check each row; a bad one is rejected with its line number and the reason."""
        parsed = ParsedBatch(read=len(batch))
        for line, cells in batch:
            try:
                row = self._row(line, cells)
            except InvalidInputError as exc:
                parsed.rejected.append((line, exc.detail))
                continue
            digest = hashlib.blake2b(row.email.encode(), digest_size=12).digest()
            if digest in self._seen:
                parsed.rejected.append((line, "email: duplicate of an address earlier in the file"))
                continue
            self._seen.add(digest)
            parsed.rows.append(row)
        return parsed

    def _row(self, line: int, cells: list[str]) -> ParsedRow:
        values: dict[str, str] = {}
        for index, target in self._columns.items():
            values[target] = cells[index].strip() if index < len(cells) else ""
        raw_email = values.pop("email", "")
        if not raw_email:
            raise InvalidInputError("email", "is empty")
        email = normalize_address(raw_email)
        fields: dict[str, str | None] = {}
        properties: dict[str, Any] = {}
        for name, value in values.items():
            if name == "language":
                fields[name] = check_language(value)
            elif name == "timezone":
                fields[name] = check_timezone(value)
            elif name in LIMITS:
                fields[name] = clean_text(value, name, LIMITS[name]) or None
            else:
                checked = check_value(self._definitions[name], value, name)
                if checked is not None:
                    properties[name] = checked
        return ParsedRow(line=line, email=email, fields=fields, properties=properties)


class BulkTable:
    """A mapped table for bulk inserts of already-converted values.

    A million rows through the typed columns would run each value's bind
    conversion (time zones, enums) once per row; the values that are the same
    for a whole batch (its time, its statuses) are converted once with the
    columns' own converters, and the rows go through an untyped copy of the
    table. Still SQLAlchemy Core: no SQL text is built by hand.
    """

    def __init__(self, model: type[TenantBase], dialect: Dialect) -> None:
        mapped = cast("Table", model.__table__)
        self.table = table(mapped.name, *(column(c.name) for c in mapped.columns))
        self._processors = {
            c.name: c.type.dialect_impl(dialect).bind_processor(dialect) for c in mapped.columns
        }
        self._dialect = dialect

    def value(self, name: str, python_value: object) -> object:
        """`python_value` as the typed column would send it to the database."""
        processor = self._processors[name]
        return processor(python_value) if processor is not None else python_value

    def insert(self, session: Session, rows: list[dict[str, Any]]) -> None:
        """Insert rows (every dict with the same keys) in one DB-API executemany.

        The statement is compiled by SQLAlchemy for this dialect; the rows go
        to the driver as they are, skipping per-row parameter processing.
        """
        if not rows:
            return
        names = list(rows[0])
        compiled = (
            insert(self.table)
            .values({n: bindparam(n) for n in names})
            .compile(dialect=self._dialect)
        )
        if compiled.positional:
            pick = operator.itemgetter(*(compiled.positiontup or []))
            params: list[Any] = [pick(row) for row in rows]
        else:
            params = rows
        session.connection().exec_driver_sql(compiled.string, params)


def _widen_cache(session: Session) -> None:
    # SQLite's default page cache (2 MB) is smaller than the indexes of a
    # large audience; every batch would then reread index pages. The pragma
    # is a constant and lasts for this pooled connection only.
    if session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql("PRAGMA cache_size = -65536")


def _bulk(session: Session, model: type[TenantBase]) -> BulkTable:
    return BulkTable(model, session.get_bind().dialect)


class BatchWriter:
    """Writes parsed batches of one import."""

    def __init__(
        self, context: ImportContext, factory: sessionmaker[Session], clock: Clock
    ) -> None:
        self._context = context
        self._factory = factory
        self._clock = clock
        self._hash = address_hasher(context.secret_key, context.tenant_id)
        self.rows_read = 0

    def write(self, parsed: ParsedBatch) -> None:
        """Store the batch and the import's counters in one transaction."""
        ctx = self._context
        rejected = list(parsed.rejected)
        new_contacts: list[dict[str, Any]] = []
        new_subscriptions: list[str] = []
        unchanged = 0
        with transaction(self._factory) as session:
            _widen_cache(session)
            hashes = [self._hash(r.email) for r in parsed.rows]
            suppressed, existing, statuses = self._lookup(session, parsed.rows, hashes)
            for row, digest in zip(parsed.rows, hashes, strict=True):
                if digest in suppressed:
                    rejected.append((row.line, f"email: suppressed ({suppressed[digest]})"))
                    continue
                contact_id = existing.get(row.email)
                status = statuses.get(contact_id) if contact_id is not None else None
                if status in STOPPED:
                    assert status is not None
                    rejected.append((row.line, f"email: {status.value}, not re-subscribed"))
                    continue
                if status is not None:
                    unchanged += 1
                    continue
                if contact_id is None:
                    contact_id = contact_id_()
                    new_contacts.append(self._contact(contact_id, row))
                new_subscriptions.append(contact_id)
            self._insert(session, new_contacts, new_subscriptions, rejected)
            session.execute(
                update(ContactImport)
                .where(ContactImport.id == ctx.job_id)
                .values(
                    rows_read=ContactImport.rows_read + parsed.read,
                    imported=ContactImport.imported + len(new_subscriptions),
                    unchanged=ContactImport.unchanged + unchanged,
                    rejected=ContactImport.rejected + len(rejected),
                )
            )
        self.rows_read += parsed.read

    def _lookup(
        self, session: Session, rows: list[ParsedRow], hashes: list[str]
    ) -> tuple[dict[str, str], dict[str, str], dict[str, S]]:
        ctx = self._context
        if not rows:
            return {}, {}, {}
        suppressed = {
            h: reason.value
            for h, reason in session.execute(
                select(Suppression.address_hash, Suppression.reason).where(
                    Suppression.address_hash.in_(hashes)
                )
            )
        }
        emails = [r.email for r in rows]
        existing = dict(
            session.execute(
                select(Contact.email, Contact.id).where(Contact.email.in_(emails))
            ).all()
        )
        statuses: dict[str, S] = {}
        if existing:
            statuses = dict(
                session.execute(
                    select(Subscription.contact_id, Subscription.status).where(
                        Subscription.list_id == ctx.mailing_list.id,
                        Subscription.contact_id.in_(list(existing.values())),
                    )
                ).all()
            )
        return suppressed, existing, statuses

    @staticmethod
    def _contact(contact_id: str, row: ParsedRow) -> dict[str, Any]:
        return {
            "id": contact_id,
            "email": row.email,
            "email_domain": domain_of(row.email),
            "first_name": row.fields.get("first_name"),
            "last_name": row.fields.get("last_name"),
            "language": row.fields.get("language"),
            "timezone": row.fields.get("timezone"),
            "properties": row.properties,
        }

    def _insert(
        self,
        session: Session,
        contacts: list[dict[str, Any]],
        subscriptions: list[str],
        rejected: list[tuple[int, str]],
    ) -> None:
        ctx = self._context
        lst = ctx.mailing_list
        now = self._clock.now()
        confirmed = ctx.confirmed or not lst.double_opt_in
        people = _bulk(session, Contact)
        stamp = people.value("created_at", now)
        people.insert(
            session,
            [
                {
                    **c,
                    "properties": people.value("properties", c["properties"]),
                    "no_tracking": people.value("no_tracking", python_value=False),
                    "created_at": stamp,
                    "updated_at": stamp,
                }
                for c in contacts
            ],
        )
        subs = _bulk(session, Subscription)
        status = subs.value("status", S.SUBSCRIBED if confirmed else S.PENDING)
        subs.insert(
            session,
            [
                {
                    "list_id": lst.id,
                    "contact_id": contact_id,
                    "status": status,
                    "created_at": stamp,
                    "updated_at": stamp,
                }
                for contact_id in subscriptions
            ],
        )
        ledger = _bulk(session, ConsentRecord)
        record = {
            "list_id": lst.id,
            "action": ledger.value(
                "action", ConsentAction.CONFIRMED if confirmed else ConsentAction.GIVEN
            ),
            "source": ledger.value("source", ConsentSource.IMPORT),
            "legal_basis": ctx.legal_basis,
            "purpose_text": lst.purpose,
            "purpose_version": lst.purpose_version,
            # The import the consent came through stands where a form id would.
            "form_id": ctx.job_id,
            "ip": None,
            "user_agent": None,
            "principal": ctx.actor,
            "occurred_at": stamp,
        }
        ledger.insert(session, [{**record, "contact_id": cid} for cid in subscriptions])
        if rejected:
            session.execute(
                insert(ImportRejection),
                [{"import_id": ctx.job_id, "line": ln, "reason": why} for ln, why in rejected],
            )
