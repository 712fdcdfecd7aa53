"""One batch of an import, written in one transaction.

The batch arrives checked (`import_rows`). Writing looks its addresses up
with one query each for the suppression list, the contacts, their
subscriptions to the list and the consent this import already recorded,
then inserts what is new in bulk. A batch is written whole or not at all,
with the import's counters, so progress never runs ahead of data.

Duplicates in the file are found without remembering the file: inside a
batch by the address, across batches by the ledger, since every address
this import subscribed has a consent record naming the import. Memory stays
at one batch whatever the file size.
"""

from __future__ import annotations

import json
import operator
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Integer,
    String,
    Table,
    Text,
    any_,
    bindparam,
    column,
    func,
    insert,
    literal,
    select,
    table,
    update,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.selectable import TableValuedAlias

from courriel.audience.import_rows import CheckedBatch, CheckedRow
from courriel.audience.models import (
    ConsentAction,
    ConsentRecord,
    ConsentSource,
    Contact,
    ContactImport,
    ImportRejection,
    MailingList,
    Subscription,
    Suppression,
)
from courriel.audience.models import SubscriptionStatus as S
from courriel.core.addresses import address_key
from courriel.core.clock import Clock
from courriel.core.db import TenantBase, transaction

# A person's own choice, or a hard fact about the address, that an import never undoes.
STOPPED = frozenset({S.UNSUBSCRIBED, S.BOUNCED, S.COMPLAINED, S.SUPPRESSED})
DUPLICATE = "email: duplicate of an address earlier in the file"

# Contact ids of an import are time-ordered: ten characters of the time in
# milliseconds, in an alphabet whose character order is its value order,
# then 80 random bits. New ids then land at the end of every index keyed by
# contact id (contacts, subscriptions, ledger) instead of all over them,
# which halves SQLite's work per row. The shape is `new_id("con")`'s.
_ORDERED = "234567abcdefghijklmnopqrstuvwxyz"
# Random bytes reduced to one of 32 letters (256 is a multiple of 32, so
# every letter is equally likely), translated in C.
_BASE32 = bytes(b"abcdefghijklmnopqrstuvwxyz234567"[i % 32] for i in range(256))


def ordered_contact_ids(count: int) -> list[str]:
    """`count` new contact ids, ascending, all greater than the ids of earlier batches."""
    millis = time.time_ns() // 1_000_000
    prefix = "con_" + "".join(_ORDERED[(millis >> shift) & 31] for shift in range(45, -5, -5))
    letters = secrets.token_bytes(16 * count).translate(_BASE32).decode("ascii")
    return sorted(prefix + letters[i : i + 16] for i in range(0, 16 * count, 16))


@dataclass(frozen=True)
class ImportContext:
    """What every batch of one import needs to know."""

    tenant_id: str
    actor: str
    job_id: str
    mailing_list: MailingList
    legal_basis: str
    confirmed: bool


@dataclass
class Sorted:
    """A batch's rows sorted by what becomes of them."""

    new_contacts: list[CheckedRow]
    # Contacts already stored that join the list.
    joining: list[str]
    unchanged: int
    rejected: list[tuple[int, str]]


@dataclass
class Known:
    """What the database already knows about a batch's addresses."""

    # Keyed hash → reason, for suppressed addresses.
    suppressed: dict[str, str]
    # Address → contact id, for stored contacts.
    contacts: dict[str, str]
    # Contact id → status on the list, for those on it.
    statuses: dict[str, S] = field(default_factory=dict)
    # Contacts this import already subscribed (in an earlier batch).
    earlier: set[str] = field(default_factory=set)


class BulkInsert:
    """An INSERT of whole batches of already-converted values, through the DB-API.

    A million rows through the typed columns would run each value's bind
    conversion (time zones, enums, JSON) once per row: here the values shared
    by a batch are converted once with the columns' own converters, the JSON
    comes already serialized, and the rows go to the driver's executemany as
    they are. The statement is compiled by SQLAlchemy (no SQL text is built
    by hand), once per import. Columns the caller does not give take their
    model default, so a column added later is still filled.
    """

    def __init__(self, model: type[TenantBase], names: Sequence[str], dialect: Dialect) -> None:
        mapped = cast("Table", model.__table__)
        processors = {
            c.name: c.type.dialect_impl(dialect).bind_processor(dialect) for c in mapped.columns
        }
        self._processors = processors
        given = set(names)
        self._defaults: dict[str, object] = {}
        for col in mapped.columns:
            default = col.default
            if col.name in given or col.primary_key:
                continue
            if default is None and col.server_default is not None:
                continue  # the database fills it
            if default is not None and not default.is_scalar:
                raise TypeError(f"{mapped.name}.{col.name}: give its value, computed per row")
            value = default.arg if default is not None else None  # type: ignore[attr-defined]
            self._defaults[col.name] = self.value(col.name, value)
        self.names = [*names, *self._defaults]
        untyped = table(mapped.name, *(column(n) for n in self.names))
        compiled = (
            insert(untyped).values({n: bindparam(n) for n in self.names}).compile(dialect=dialect)
        )
        self._sql = compiled.string
        self._order = (
            [self.names.index(n) for n in compiled.positiontup or []]
            if compiled.positional
            else None
        )

    def value(self, name: str, python_value: object) -> object:
        """`python_value` as the typed column would send it to the database."""
        processor = self._processors[name]
        return processor(python_value) if processor is not None else python_value

    def run(self, session: Session, rows: list[tuple[Any, ...]]) -> None:
        """Insert rows (tuples in the order of the names given) in one executemany."""
        if not rows:
            return
        tail = tuple(self._defaults.values())
        params: list[Any]
        if self._order is not None:
            if self._order == list(range(len(self.names))):
                params = [row + tail for row in rows] if tail else rows
            else:
                pick = operator.itemgetter(*self._order)
                params = [pick(row + tail) for row in rows]
        else:
            params = [dict(zip(self.names, row + tail, strict=True)) for row in rows]
        session.connection().exec_driver_sql(self._sql, params)


def _each(values: list[str], dialect: str) -> TableValuedAlias:
    # The values as a table of one column, "value", from one bound parameter.
    if dialect == "sqlite":
        return func.json_each(bindparam("each", json.dumps(values))).table_valued("value")
    return (
        func.unnest(bindparam("each", values, type_=ARRAY(String)))
        .table_valued("value")
        .render_derived()
    )


def _col(attribute: Any) -> ColumnElement[str]:
    return cast("ColumnElement[str]", attribute)


def _among(col: ColumnElement[str], values: list[str], dialect: str) -> ColumnElement[bool]:
    # One bound parameter for the whole batch rather than one per value: a
    # JSON array read by json_each on SQLite (whose statements take at most
    # 32,766 parameters), an array on PostgreSQL.
    if dialect == "sqlite":
        each = func.json_each(bindparam("values", json.dumps(values))).table_valued("value")
        return col.in_(select(each.c.value))
    return col == any_(bindparam("values", values, type_=ARRAY(String)))


class BatchWriter:
    """Writes checked batches of one import."""

    def __init__(
        self, context: ImportContext, factory: sessionmaker[Session], clock: Clock
    ) -> None:
        self._context = context
        self._factory = factory
        self._clock = clock
        self._inserts: dict[str, BulkInsert] = {}
        self.rows_read = 0

    def write(self, checked: CheckedBatch) -> None:
        """Store the batch and the import's counters in one transaction."""
        ctx = self._context
        with transaction(self._factory) as session:
            dialect = session.get_bind().dialect
            if dialect.name == "sqlite":
                # SQLite's default page cache (2 MB) is smaller than the indexes
                # of a large audience; every batch would then reread index pages.
                # And a checkpoint (WAL pages copied into the database, then
                # fsync) every 64 MB of WAL rather than every 4 MB: an index page
                # rewritten by several batches is copied once, with fewer fsyncs.
                # Both pragmas last for this pooled connection only.
                connection = session.connection()
                connection.exec_driver_sql("PRAGMA cache_size = -65536")
                connection.exec_driver_sql("PRAGMA wal_autocheckpoint = 16384")
            outcome = self._sort(session, checked, dialect.name)
            self._insert(session, dialect, outcome)
            session.execute(
                update(ContactImport)
                .where(ContactImport.id == ctx.job_id)
                .values(
                    rows_read=ContactImport.rows_read + checked.read,
                    imported=ContactImport.imported
                    + len(outcome.new_contacts)
                    + len(outcome.joining),
                    unchanged=ContactImport.unchanged + outcome.unchanged,
                    rejected=ContactImport.rejected + len(outcome.rejected),
                    flagged=ContactImport.flagged + checked.flagged,
                )
            )
        self.rows_read += checked.read

    def _sort(self, session: Session, checked: CheckedBatch, dialect: str) -> Sorted:
        rejected = list(checked.rejected)
        first: dict[str, CheckedRow] = {}
        for row in checked.rows:
            # `Zoe@x` and `zoe@x` in one file are one person: the first line wins.
            key = address_key(row[1])
            if key in first:
                rejected.append((row[0], DUPLICATE))
            else:
                first[key] = row
        rows = list(first.values())
        outcome = Sorted(new_contacts=[], joining=[], unchanged=0, rejected=rejected)
        if not rows:
            return outcome
        known = self._lookup(session, rows, dialect)
        for row in rows:
            line, email, digest = row[0], row[1], row[8]
            if digest in known.suppressed:
                rejected.append((line, f"email: suppressed ({known.suppressed[digest]})"))
                continue
            contact_id = known.contacts.get(address_key(email))
            if contact_id is None:
                outcome.new_contacts.append(row)
                continue
            status = known.statuses.get(contact_id)
            if contact_id in known.earlier:
                rejected.append((line, DUPLICATE))
            elif status in STOPPED:
                assert status is not None
                rejected.append((line, f"email: {status.value}, not re-subscribed"))
            elif status is not None:
                outcome.unchanged += 1
            else:
                outcome.joining.append(contact_id)
        return outcome

    def _lookup(self, session: Session, rows: list[CheckedRow], dialect: str) -> Known:
        lst = self._context.mailing_list
        known = Known(
            suppressed={
                digest: reason.value
                for digest, reason in session.execute(
                    select(Suppression.address_hash, Suppression.reason).where(
                        _among(_col(Suppression.address_hash), [r[8] for r in rows], dialect)
                    )
                )
            },
            contacts=dict(
                session.execute(
                    select(Contact.email_key, Contact.id).where(
                        _among(_col(Contact.email_key), [address_key(r[1]) for r in rows], dialect)
                    )
                ).all()
            ),
        )
        if known.contacts:
            known.statuses = dict(
                session.execute(
                    select(Subscription.contact_id, Subscription.status).where(
                        Subscription.list_id == lst.id,
                        _among(
                            _col(Subscription.contact_id), list(known.contacts.values()), dialect
                        ),
                    )
                ).all()
            )
        if known.statuses:
            # Subscribed by an earlier batch of this very import: a duplicate in the file.
            known.earlier = set(
                session.scalars(
                    select(ConsentRecord.contact_id).where(
                        ConsentRecord.form_id == self._context.job_id,
                        ConsentRecord.list_id == lst.id,
                        _among(_col(ConsentRecord.contact_id), list(known.statuses), dialect),
                    )
                )
            )
        return known

    def _prepared(self, dialect: Dialect) -> dict[str, BulkInsert]:
        if not self._inserts:
            self._inserts = {
                "contacts": BulkInsert(
                    Contact,
                    (
                        "id",
                        "email",
                        "email_key",
                        "email_domain",
                        "first_name",
                        "last_name",
                        "language",
                        "timezone",
                        "properties",
                        "created_at",
                        "updated_at",
                    ),
                    dialect,
                ),
                "rejections": BulkInsert(ImportRejection, ("import_id", "line", "reason"), dialect),
            }
        return self._inserts

    def _insert(self, session: Session, dialect: Dialect, outcome: Sorted) -> None:
        ctx = self._context
        lst = ctx.mailing_list
        inserts = self._prepared(dialect)
        people = inserts["contacts"]
        now = self._clock.now()
        stamp = people.value("created_at", now)
        # In address order with ascending ids, so the unique indexes of
        # contacts (id, address, its key) are each filled front to back within the batch.
        fresh = sorted(outcome.new_contacts, key=operator.itemgetter(1))
        ids = ordered_contact_ids(len(fresh))
        people.run(
            session,
            [
                (cid, row[1], address_key(row[1]), *row[2:8], stamp, stamp)
                for cid, row in zip(ids, fresh, strict=True)
            ],
        )
        inserts["rejections"].run(
            session, [(ctx.job_id, line, reason) for line, reason in outcome.rejected]
        )
        subscribed = [*ids, *outcome.joining]
        if not subscribed:
            return
        confirmed = ctx.confirmed or not lst.double_opt_in
        # A subscription and a ledger entry per contact, each set made by one
        # INSERT … SELECT over the batch's contact ids: only the id differs
        # from row to row, so nothing is bound per row.
        contact_id = _each(subscribed, dialect.name).c.value
        session.execute(
            insert(Subscription).from_select(
                ["list_id", "contact_id", "status", "created_at", "updated_at"],
                select(
                    literal(lst.id, String()),
                    contact_id,
                    literal(S.SUBSCRIBED if confirmed else S.PENDING, Subscription.status.type),
                    literal(now, Subscription.created_at.type),
                    literal(now, Subscription.updated_at.type),
                ),
            )
        )
        # The import the consent came through stands where a form id would.
        session.execute(
            insert(ConsentRecord).from_select(
                [
                    "contact_id",
                    "list_id",
                    "action",
                    "source",
                    "legal_basis",
                    "purpose_text",
                    "purpose_version",
                    "form_id",
                    "principal",
                    "occurred_at",
                ],
                select(
                    contact_id,
                    literal(lst.id, String()),
                    literal(
                        ConsentAction.CONFIRMED if confirmed else ConsentAction.GIVEN,
                        ConsentRecord.action.type,
                    ),
                    literal(ConsentSource.IMPORT, ConsentRecord.source.type),
                    literal(ctx.legal_basis, String()),
                    literal(lst.purpose, Text()),
                    literal(lst.purpose_version, Integer()),
                    literal(ctx.job_id, String()),
                    literal(ctx.actor, String()),
                    literal(now, ConsentRecord.occurred_at.type),
                ),
            )
        )
