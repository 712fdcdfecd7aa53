"""Rectification (GDPR Art. 16): checking and applying changes to a contact.

Changes are checked when the request is recorded (so a malformed address is
refused at once, naming the field) and again when it is fulfilled, inside
the transaction that applies them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from courriel.audience.models import Contact
from courriel.audience.properties import (
    check_language,
    check_properties,
    check_timezone,
    load_definitions,
)
from courriel.core.addresses import address_key, domain_of, normalize_address
from courriel.core.errors import ConflictError, InvalidInputError

FIELDS = ("email", "first_name", "last_name", "language", "timezone", "properties")
MAX_NAME = 200


def _name(value: object, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInputError(field, "must be a string or null")
    if any(ch in value for ch in "\r\n\x00"):
        raise InvalidInputError(field, "must not contain line breaks or NUL")
    if len(value) > MAX_NAME:
        raise InvalidInputError(field, f"must be at most {MAX_NAME} characters")
    return value.strip() or None


def check_changes(session: Session, changes: Mapping[str, Any]) -> dict[str, Any]:
    """The changes normalized, or InvalidInputError naming `changes.<field>`."""
    if not isinstance(changes, Mapping) or not changes:
        raise InvalidInputError("changes", "name at least one field to rectify")
    unknown = sorted(set(changes) - set(FIELDS))
    if unknown:
        raise InvalidInputError(
            f"changes.{unknown[0]}", f"cannot be rectified; one of {', '.join(FIELDS)}"
        )
    checked: dict[str, Any] = {}
    if "email" in changes:
        raw = changes["email"]
        if not isinstance(raw, str):
            raise InvalidInputError("changes.email", "must be an address")
        checked["email"] = normalize_address(raw, "changes.email")
    for name in ("first_name", "last_name", "language", "timezone"):
        if name in changes:
            checked[name] = _text(name, changes[name])
    if "properties" in changes:
        values = changes["properties"]
        if not isinstance(values, Mapping):
            raise InvalidInputError("changes.properties", "must be an object")
        checked["properties"] = check_properties(
            load_definitions(session), values, "changes.properties"
        )
    return checked


def _text(name: str, value: object) -> str | None:
    field = f"changes.{name}"
    if value is not None and not isinstance(value, str):
        raise InvalidInputError(field, "must be a string or null")
    if name == "language":
        return check_language(value, field)
    if name == "timezone":
        return check_timezone(value, field)
    return _name(value, field)


def apply_changes(
    session: Session, contact: Contact, changes: Mapping[str, Any], now: dt.datetime
) -> list[str]:
    """Apply checked changes to the contact; the names of the fields changed."""
    checked = check_changes(session, changes)
    if "email" in checked and checked["email"] != contact.email:
        taken = session.scalar(
            select(Contact.id).where(
                Contact.email_key == address_key(checked["email"]), Contact.id != contact.id
            )
        )
        if taken is not None:
            raise ConflictError("changes.email: another contact already has this address")
        contact.email = checked["email"]
        contact.email_domain = domain_of(checked["email"])
    for name in ("first_name", "last_name", "language", "timezone"):
        if name in checked:
            setattr(contact, name, checked[name])
    if "properties" in checked:
        contact.properties = {**(contact.properties or {}), **checked["properties"]}
    contact.updated_at = now
    return sorted(checked)
