"""Finding contacts: by address (exact or prefix), by name, by a property's value.

Every criterion is optional and they combine with AND. Addresses compare
case-insensitively (RFC 5321 §2.4 leaves the local part to the receiving
system, and people type their address in any case), through their
case-folded key as the contacts' identity is; a name matches when
the text appears in the first name, the last name or both together;
a property compares as its definition's kind says (a number as a number).
Text goes into LIKE patterns escaped, so `%` and `_` are only themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, or_
from sqlalchemy.orm import Session

from courriel.audience.models import Contact, PropertyKind
from courriel.audience.properties import load_definitions
from courriel.core.addresses import address_key
from courriel.core.errors import InvalidInputError

MAX_TEXT = 320
# Sorts after every character: key >= prefix and key < prefix + _LAST is a prefix range.
_LAST = "\U0010ffff"
_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}


@dataclass(frozen=True)
class ContactSearch:
    """What to look for; None means any."""

    email: str | None = None
    email_prefix: str | None = None
    name: str | None = None
    # (property name, value as text)
    property_value: tuple[str, str] | None = None


def parse_property(text: str | None) -> tuple[str, str] | None:
    """``name:value`` → (name, value); None for None; InvalidInputError otherwise."""
    if text is None:
        return None
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise InvalidInputError("property", "write name:value, e.g. city:Paris")
    return name.strip(), value


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _text(field: str, value: str) -> str:
    value = value.strip()
    if not value or len(value) > MAX_TEXT or any(ch in value for ch in "\r\n\x00"):
        raise InvalidInputError(field, f"one line of 1 to {MAX_TEXT} characters")
    return value


def search_conditions(session: Session, search: ContactSearch) -> list[ColumnElement[bool]]:
    """The conditions on `Contact` for `search`, in this tenant's session."""
    conditions: list[ColumnElement[bool]] = []
    # Addresses are compared by their identity (`email_key`, the case-folded
    # address, unique and indexed): an exact address is one index lookup and
    # a prefix one index range, never a scan of a million lower(email) values.
    if search.email is not None:
        conditions.append(Contact.email_key == address_key(_text("email", search.email)))
    if search.email_prefix is not None:
        folded = address_key(_text("email_prefix", search.email_prefix))
        if session.get_bind().dialect.name == "sqlite":
            # SQLite's LIKE never uses an index on a case-sensitive column, but
            # its binary collation orders every key with the prefix in this
            # range (a locale collation need not: elsewhere LIKE alone).
            conditions.append(Contact.email_key >= folded)
            conditions.append(Contact.email_key < folded + _LAST)
        conditions.append(Contact.email_key.like(f"{_like(folded)}%", escape="\\"))
    if search.name is not None:
        pattern = f"%{_like(_text('name', search.name).lower())}%"
        first = func.lower(func.coalesce(Contact.first_name, ""))
        last = func.lower(func.coalesce(Contact.last_name, ""))
        conditions.append(
            or_(
                first.like(pattern, escape="\\"),
                last.like(pattern, escape="\\"),
                (first + " " + last).like(pattern, escape="\\"),
            )
        )
    if search.property_value is not None:
        conditions.append(_property(session, *search.property_value))
    return conditions


def _property(session: Session, name: str, value: str) -> ColumnElement[bool]:
    definition = load_definitions(session).get(name)
    if definition is None:
        raise InvalidInputError("property", f"no property {name!r}")
    element: Any = Contact.properties[name]
    condition: ColumnElement[bool]
    if definition.kind is PropertyKind.NUMBER:
        try:
            number = float(value)
        except ValueError:
            raise InvalidInputError("property", f"{name} is a number") from None
        condition = element.as_float() == number
        return condition
    if definition.kind is PropertyKind.BOOLEAN:
        lowered = value.strip().lower()
        if lowered not in _TRUE | _FALSE:
            raise InvalidInputError("property", f"{name} is true or false")
        condition = element.as_boolean().is_(lowered in _TRUE)
        return condition
    condition = element.as_string() == value
    return condition
