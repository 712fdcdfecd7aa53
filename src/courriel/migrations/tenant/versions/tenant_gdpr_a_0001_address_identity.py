"""one contact per case-folded address: contacts.email_key, case duplicates merged

Revision ID: tenant_gdpr_a_0001
Revises: the tenant heads of 2026-12
Create Date: 2026-12-03 14:10:00

Contacts whose addresses differ only in case are one person. The earliest
one (its spelling is kept for sending) absorbs the others: every row that
names a duplicate (consent records, events, campaign messages, requests…)
is moved to it, so no consent record is lost; where both were on one list,
the more protective status stays (a withdrawal outranks a subscription); the
survivor's empty fields take the duplicates' values.

Suppression hashes made before this revision hashed the address as typed;
they are not recomputed here (the key that hashes them is not the
migration's to read): `courriel migrate` then calls
`SuppressionService.refold_hashes`, which has the key. Most addresses are
typed in lower case, whose hash is unchanged.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "tenant_gdpr_a_0001"
down_revision: str | Sequence[str] | None = (
    "tenant_campaigns_0003",
    "tenant_content_0003",
    "tenant_privacy_gov_0005",
    "tenant_privacy_rights_0004",
    "tenant_tracking_0003",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Most protective first: where two spellings were on one list, this one stays.
_STATUS_RANK = ("complained", "bounced", "suppressed", "unsubscribed", "pending", "subscribed")
_FIELDS = ("first_name", "last_name", "language", "timezone")


def upgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_key", sa.String(length=320), nullable=True))
    bind = op.get_bind()
    contacts = sa.table(
        "contacts",
        sa.column("id", sa.String()),
        sa.column("email", sa.String()),
        sa.column("email_key", sa.String()),
        sa.column("created_at", sa.DateTime()),
        *(sa.column(f, sa.String()) for f in _FIELDS),
        sa.column("properties", sa.JSON()),
    )
    groups: dict[str, list[Any]] = defaultdict(list)
    for row in bind.execute(
        sa.select(contacts).order_by(contacts.c.created_at, contacts.c.id)
    ).mappings():
        groups[row["email"].casefold()].append(row)
    for key, rows in groups.items():
        keeper, duplicates = rows[0], rows[1:]
        if duplicates:
            _merge(bind, contacts, keeper, duplicates)
        bind.execute(
            sa.update(contacts).where(contacts.c.id == keeper["id"]).values(email_key=key)
        )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.alter_column("email_key", existing_type=sa.String(length=320), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_contacts_email_key"), ["email_key"])


def _merge(bind: Any, contacts: sa.TableClause, keeper: Any, duplicates: list[Any]) -> None:
    keep_id = keeper["id"]
    gone = [d["id"] for d in duplicates]
    filled: dict[str, Any] = {}
    properties = dict(keeper["properties"] or {})
    for row in duplicates:
        for name in _FIELDS:
            if keeper[name] is None and filled.get(name) is None and row[name] is not None:
                filled[name] = row[name]
        properties = {**(row["properties"] or {}), **properties}
    _merge_subscriptions(bind, keep_id, gone)
    # Every other row naming a duplicate now names the survivor. Tables with
    # a (…, contact_id) unique key keep the survivor's row where both exist.
    inspector = sa.inspect(bind)
    for name in inspector.get_table_names():
        if name in ("contacts", "subscriptions"):
            continue
        if "contact_id" not in {c["name"] for c in inspector.get_columns(name)}:
            continue
        target = sa.table(name, sa.column("contact_id", sa.String()))
        for old in gone:
            try:
                with bind.begin_nested():
                    bind.execute(
                        sa.update(target)
                        .where(target.c.contact_id == old)
                        .values(contact_id=keep_id)
                    )
            except sa.exc.IntegrityError:
                # Both spellings have a row there (one message each of one
                # campaign): the duplicate's row stays, no longer naming anyone,
                # as an erased person's does; where a person is required, it goes.
                _detach(bind, target, old)
    bind.execute(sa.delete(contacts).where(contacts.c.id.in_(gone)))
    bind.execute(
        sa.update(contacts)
        .where(contacts.c.id == keep_id)
        .values(properties=properties, **filled)
    )


def _detach(bind: Any, target: sa.TableClause, old: str) -> None:
    try:
        with bind.begin_nested():
            bind.execute(
                sa.update(target).where(target.c.contact_id == old).values(contact_id=None)
            )
    except sa.exc.IntegrityError:
        bind.execute(sa.delete(target).where(target.c.contact_id == old))


def _merge_subscriptions(bind: Any, keep_id: str, gone: list[str]) -> None:
    subs = sa.table(
        "subscriptions",
        sa.column("id", sa.Integer()),
        sa.column("list_id", sa.String()),
        sa.column("contact_id", sa.String()),
        sa.column("status", sa.String()),
    )
    rows = bind.execute(
        sa.select(subs.c.id, subs.c.list_id, subs.c.contact_id, subs.c.status).where(
            subs.c.contact_id.in_([keep_id, *gone])
        )
    ).all()
    by_list: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        by_list[row.list_id].append(row)
    for entries in by_list.values():
        entries.sort(key=lambda r: _rank(r.status))
        best, rest = entries[0], entries[1:]
        if rest:
            bind.execute(sa.delete(subs).where(subs.c.id.in_([r.id for r in rest])))
        bind.execute(
            sa.update(subs).where(subs.c.id == best.id).values(contact_id=keep_id)
        )


def _rank(status: str) -> int:
    return _STATUS_RANK.index(status) if status in _STATUS_RANK else len(_STATUS_RANK)


def downgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_contacts_email_key"), type_="unique")
        batch_op.drop_column("email_key")
