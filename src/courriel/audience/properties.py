"""Typed custom contact properties, defined per tenant, and their validation.

A tenant declares each property once (name and type); every value written
to a contact (API, import, sign-up) goes through `check_value`, so a stored
value always has its declared type. Text values are plain text: no line
breaks and no markup, because they end up in headers and HTML.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from courriel.audience.models import PropertyDefinition, PropertyKind
from courriel.audience.values import (
    Value,
    check_language,
    check_timezone,
    check_value,
    clean_text,
)
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.errors import ConflictError, InvalidInputError
from courriel.core.ids import new_id
from courriel.core.principal import Capability, Principal
from courriel.core.storage import Storage

# The value checks live in `values` (free of the database layer); they are
# imported from here by the rest of the application.
__all__ = [
    "RESERVED",
    "PropertyService",
    "check_language",
    "check_properties",
    "check_timezone",
    "check_value",
    "clean_text",
    "load_definitions",
]

NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# The built-in contact fields, reserved so a segment or import column is never ambiguous.
RESERVED = frozenset(
    {"email", "first_name", "last_name", "language", "timezone", "id", "created", "updated"}
)
MAX_CHOICES = 200


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
