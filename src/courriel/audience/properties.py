"""Typed custom contact properties, defined per tenant, and their validation.

A tenant declares each property once (name and type); every value written
to a contact (API, import, sign-up) goes through `check_value`, so a stored
value always has its declared type. Text values are plain text: no line
breaks and no markup, because they end up in headers and HTML.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
import zoneinfo
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from courriel.accounts.principal import Capability, Principal
from courriel.audience.models import PropertyDefinition, PropertyKind
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.errors import ConflictError, InvalidInputError
from courriel.core.ids import new_id
from courriel.core.storage import Storage

NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# The built-in contact fields, reserved so a segment or import column is never ambiguous.
RESERVED = frozenset(
    {"email", "first_name", "last_name", "language", "timezone", "id", "created", "updated"}
)
MAX_TEXT = 2000
MAX_CHOICES = 200
MARKUP = re.compile(r"<\s*[a-zA-Z!/?]")
# One pass over the value for both checks: imports run this on every cell.
_SUSPECT = re.compile(r"[\r\n\x00]|<\s*[a-zA-Z!/?]")

Value = str | int | float | bool | None


def clean_text(value: str, field: str, limit: int = MAX_TEXT) -> str:
    """A single-line plain-text value, or InvalidInputError naming `field`."""
    suspect = _SUSPECT.search(value)
    if suspect is not None and suspect.group(0) in "\r\n\x00":
        raise InvalidInputError(field, "must not contain line breaks or NUL")
    if suspect is not None:
        raise InvalidInputError(field, "must be plain text, not HTML markup")
    if len(value) > limit:
        raise InvalidInputError(field, f"must be at most {limit} characters")
    return value.strip()


# RFC 5646 language tags, simplified: a primary language and subtags.
LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_language(value: str | None, field: str = "language") -> str | None:
    """A language tag such as ``fr`` or ``pt-BR``."""
    if value is None or not value.strip():
        return None
    if len(value) > 35 or not LANGUAGE.match(value.strip()):
        raise InvalidInputError(field, "must be a language tag such as fr or pt-BR")
    return value.strip()


def check_timezone(value: str | None, field: str = "timezone") -> str | None:
    """An IANA time zone name such as ``Europe/Paris``."""
    if value is None or not value.strip():
        return None
    if value.strip() not in _zones():
        raise InvalidInputError(field, "must be an IANA time zone such as Europe/Paris")
    return value.strip()


def check_value(definition: PropertyDefinition, raw: object, field: str) -> Value:
    """The value converted to the property's type, or InvalidInputError naming `field`."""
    if raw is None or raw == "":
        return None
    kind = definition.kind
    if kind is PropertyKind.BOOLEAN:
        return _boolean(raw, field)
    if kind is PropertyKind.NUMBER:
        return _number(raw, field)
    if not isinstance(raw, str):
        raise InvalidInputError(field, f"must be a {kind.value} given as text")
    text = clean_text(raw, field)
    if kind is PropertyKind.DATE:
        try:
            return dt.date.fromisoformat(text).isoformat()
        except ValueError:
            raise InvalidInputError(field, "must be a date like 2026-01-31") from None
    if kind is PropertyKind.DATETIME:
        return _datetime(text, field)
    if kind is PropertyKind.CHOICE and text not in definition.choices:
        raise InvalidInputError(field, f"must be one of {', '.join(definition.choices)}")
    return text


def _boolean(raw: object, field: str) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("true", "yes", "1"):
        return True
    if isinstance(raw, str) and raw.strip().lower() in ("false", "no", "0"):
        return False
    raise InvalidInputError(field, "must be true or false")


def _number(raw: object, field: str) -> float | int:
    if isinstance(raw, bool):
        raise InvalidInputError(field, "must be a number")
    if isinstance(raw, int | float):
        number: float | int = raw
    elif isinstance(raw, str):
        try:
            number = int(raw.strip()) if raw.strip().lstrip("-").isdigit() else float(raw)
        except ValueError:
            raise InvalidInputError(field, "must be a number") from None
    else:
        raise InvalidInputError(field, "must be a number")
    if isinstance(number, float) and not math.isfinite(number):
        raise InvalidInputError(field, "must be a finite number")
    return number


def _datetime(text: str, field: str) -> str:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(field, "must be a date and time like 2026-01-31T09:30Z") from None
    if value.tzinfo is None:
        raise InvalidInputError(field, "must say its time zone (e.g. Z or +01:00)")
    # Stored in UTC so that text order is time order in segments.
    return value.astimezone(dt.UTC).isoformat(timespec="seconds")


def check_properties(
    definitions: Mapping[str, PropertyDefinition], values: Mapping[str, object], prefix: str
) -> dict[str, Value]:
    """Every value checked against its definition; an undeclared name is an error."""
    checked: dict[str, Value] = {}
    for name, raw in values.items():
        definition = definitions.get(name)
        if definition is None:
            raise InvalidInputError(f"{prefix}.{name}", "no such property (define it first)")
        checked[name] = check_value(definition, raw, f"{prefix}.{name}")
    return checked


class PropertyService:
    """Define and list a tenant's custom properties."""

    def __init__(self, storage: Storage, clock: Clock) -> None:
        self._storage = storage
        self._clock = clock

    def define(
        self,
        principal: Principal,
        name: str,
        kind: PropertyKind,
        choices: list[str] | None = None,
    ) -> PropertyDefinition:
        """Declare a property; its name is a lower-case identifier not already taken."""
        principal.require(Capability.LISTS_WRITE)
        if not NAME.match(name):
            raise InvalidInputError(
                "name", "must start with a-z and hold only a-z, 0-9 and _ (64 at most)"
            )
        if name in RESERVED:
            raise InvalidInputError("name", f"{name!r} is a built-in contact field")
        options = [clean_text(c, f"choices.{i}", 200) for i, c in enumerate(choices or [])]
        if kind is PropertyKind.CHOICE and not options:
            raise InvalidInputError("choices", "a choice property needs its choices")
        if len(options) > MAX_CHOICES:
            raise InvalidInputError("choices", f"at most {MAX_CHOICES} choices")
        definition = PropertyDefinition(
            id=new_id("prop"),
            name=name,
            kind=kind,
            choices=options if kind is PropertyKind.CHOICE else [],
            created_at=self._clock.now(),
        )
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            taken = session.scalar(
                select(PropertyDefinition.id).where(PropertyDefinition.name == name)
            )
            if taken is not None:
                raise ConflictError(f"a property named {name!r} already exists")
            session.add(definition)
        return definition

    def list(self, principal: Principal) -> list[PropertyDefinition]:
        """The tenant's properties, by name."""
        principal.require(Capability.LISTS_READ)
        with self._storage.tenant(principal.tenant_id)() as session:
            return list(
                session.scalars(select(PropertyDefinition).order_by(PropertyDefinition.name))
            )


def load_definitions(session: Any) -> dict[str, PropertyDefinition]:
    """All definitions of the tenant whose session this is, by name."""
    return {d.name: d for d in session.scalars(select(PropertyDefinition))}
