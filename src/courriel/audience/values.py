"""Checking the values written to a contact: plain text, language, time zone, typed properties.

Kept free of the database layer so that the process that parses a large
import (`import_reader`) can validate rows without loading SQLAlchemy; the
property service, the API, sign-up and imports all check values here, so a
stored value always has its declared type.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import math
import re
import zoneinfo
from collections.abc import Sequence
from typing import Protocol

from courriel.core.errors import InvalidInputError

MAX_TEXT = 2000
MARKUP = re.compile(r"<\s*[a-zA-Z!/?]")
# One pass over the value for both checks: imports run this on every cell.
_SUSPECT = re.compile(r"[\r\n\x00]|<\s*[a-zA-Z!/?]")
# RFC 5646 language tags, simplified: a primary language and subtags.
LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")

Value = str | int | float | bool | None


class PropertyKind(enum.StrEnum):
    """The type of a tenant-defined contact property."""

    TEXT = "text"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    CHOICE = "choice"


class Typed(Protocol):
    """What a value is checked against: a property's kind and, for a choice, its choices."""

    @property
    def kind(self) -> PropertyKind: ...

    @property
    def choices(self) -> Sequence[str]: ...


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


def check_value(definition: Typed, raw: object, field: str) -> Value:
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
