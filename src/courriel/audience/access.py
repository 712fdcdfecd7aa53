"""What of the audience a principal may reach and see.

Per-list access: a principal limited to some lists reaches only the contacts
subscribed to one of them (in any status), and an object of another list is
"not found", exactly as another tenant's would be. Field rights: a personal
field the principal may not see leaves the service masked. Both are applied
here, in the capability layer, so every edge (API, pages, CLI, exports)
gets the same answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from courriel.audience.models import Contact, Subscription
from courriel.core.db import get_or_not_found
from courriel.core.errors import NotFoundError
from courriel.core.masking import mask_addresses_in
from courriel.core.principal import FieldAccess, Principal

S = TypeVar("S", bound=Select[Any])
# The contact's own personal fields (the rest, such as language, is not identifying).
CONTACT_FIELDS = ("email", "first_name", "last_name")


def reachable(statement: S, principal: Principal, contact_id_column: Any) -> S:
    """`statement` narrowed to contacts on the principal's lists (unchanged for all lists)."""
    if principal.lists is None:
        return statement
    on_lists = select(Subscription.contact_id).where(
        Subscription.list_id.in_(sorted(principal.lists))
    )
    return statement.where(contact_id_column.in_(on_lists))


def contact_in_reach(session: Session, principal: Principal, contact_id: str) -> Contact:
    """The contact, or NotFoundError when it is missing or on none of the principal's lists."""
    contact = get_or_not_found(session, Contact, contact_id, "contact")
    if principal.lists is not None:
        found = session.scalar(
            select(Subscription.contact_id)
            .where(
                Subscription.contact_id == contact_id,
                Subscription.list_id.in_(sorted(principal.lists)),
            )
            .limit(1)
        )
        if found is None:
            raise NotFoundError(f"no contact {contact_id!r}")
    return contact


def shown_contact(principal: Principal, contact: Contact) -> Contact:
    """The contact as the principal may see it: a detached, masked copy when needed.

    The copy is never added to a session, so masking can never be written back.
    """
    if not principal.masks:
        return contact
    copy = Contact(**{c.key: getattr(contact, c.key) for c in Contact.__table__.columns})
    for name in CONTACT_FIELDS:
        setattr(copy, name, principal.shown(name, getattr(contact, name)))
    copy.properties = shown_properties(principal, contact.properties or {})
    return copy


def shown_properties(principal: Principal, properties: Mapping[str, Any]) -> dict[str, Any]:
    """Custom properties as the principal may see them (each counts as personal)."""
    return {k: principal.shown(f"properties.{k}", v) for k, v in properties.items()}


def shown_fields(principal: Principal, fields: Mapping[str, Any]) -> dict[str, Any]:
    """A flat mapping of contact fields (a row of an export, a personalization
    record, a privacy export section) as the principal may see it."""
    if not principal.masks:
        return dict(fields)
    shown: dict[str, Any] = {}
    for key, value in fields.items():
        if key in CONTACT_FIELDS:
            shown[key] = principal.shown(key, value)
        elif key == "properties" and isinstance(value, Mapping):
            shown[key] = shown_properties(principal, value)
        elif key.startswith("properties."):
            shown[key] = principal.shown(key, value)
        else:
            shown[key] = shown_text(principal, value)
    return shown


def shown_text(principal: Principal, value: object) -> object:
    """Free text (an SMTP reply, a rejected import row) with addresses masked
    when the principal may not see addresses."""
    if principal.access("email") is not FieldAccess.HIDDEN:
        return value
    return mask_addresses_in(value)
