"""Checking the rows of an import file: addresses, contact fields and typed properties.

Needs no database (and does not load SQLAlchemy), so a large file can be
checked in a process of its own while another writes (`import_reader`). A
checked row is a plain tuple, ready for the writer: the normalized address,
its domain, the contact fields, the properties already as JSON text, and the
address's keyed hash for the suppression check.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii
from typing import Any

from courriel.audience.tabular import BadRow
from courriel.audience.values import (
    PropertyKind,
    check_language,
    check_timezone,
    check_value,
    clean_text,
)
from courriel.core.addresses import address_key, normalize_address
from courriel.core.errors import InvalidInputError

# Contact fields an import may fill, with their length limits.
LIMITS = {"first_name": 200, "last_name": 200, "language": 35, "timezone": 64}
FIELDS = ("first_name", "last_name", "language", "timezone")

# (line, email, email_domain, first_name, last_name, language, timezone,
#  properties as JSON text, keyed hash of the email)
CheckedRow = tuple[int, str, str, str | None, str | None, str | None, str | None, str, str]


@dataclass(frozen=True)
class PropertySpec:
    """A property definition as plain data (kind and choices), for checking values."""

    kind: PropertyKind
    choices: Sequence[str] = ()


@dataclass
class CheckedBatch:
    """The valid rows of a batch and the lines rejected with their reasons."""

    rows: list[CheckedRow] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    read: int = 0
    # Role addresses among `rows`, taken with their flag (list hygiene counts them).
    flagged: int = 0


Check = Callable[[str], Any]


def keyed_hash(key: bytes) -> Callable[[bytes], str]:
    """HMAC-SHA-256 (RFC 2104) with `key`, hex: `hmac.new(key, m, sha256).hexdigest()`.

    The padded key is hashed once and the two states copied per message,
    which is twice as fast as `hmac.new` on short messages.
    """
    block = hashlib.sha256().block_size
    padded = (hashlib.sha256(key).digest() if len(key) > block else key).ljust(block, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))

    def digest(message: bytes) -> str:
        state = inner.copy()
        state.update(message)
        result = outer.copy()
        result.update(state.digest())
        return result.hexdigest()

    return digest


def properties_json(properties: dict[str, Any]) -> str:
    """`json.dumps(properties)` for checked values (text, numbers, booleans), what the
    JSON column stores, without json.dumps's per-call set-up."""
    parts = []
    for name, value in properties.items():
        if isinstance(value, str):
            text = encode_basestring_ascii(value)
        elif value is True or value is False:
            text = "true" if value else "false"
        else:
            text = repr(value)  # int and finite float, as json.dumps writes them
        parts.append(f"{encode_basestring_ascii(name)}: {text}")
    return "{" + ", ".join(parts) + "}"


def _field_check(name: str) -> Check:
    if name == "language":
        return check_language
    if name == "timezone":
        return check_timezone
    limit = LIMITS[name]
    return lambda value: clean_text(value, name, limit) or None


def _property_check(name: str, spec: PropertySpec) -> Check:
    if spec.kind is PropertyKind.CHOICE:
        # The choices were cleaned when defined (plain, stripped, short): a
        # cell equal to one passes `check_value` unchanged, so a set answers.
        allowed = frozenset(spec.choices)

        def choice(value: str) -> Any:
            return value if value in allowed else check_value(spec, value, name)

        return choice
    return lambda value: check_value(spec, value, name)


class RowChecker:
    """Checks rows against the column mapping and the tenant's property types."""

    def __init__(
        self,
        columns: Mapping[int, str],
        properties: Mapping[str, PropertySpec],
        hash_key: bytes,
    ) -> None:
        self._email = next(index for index, name in columns.items() if name == "email")
        # In column order, so a row's first bad cell is the one reported.
        self._checks = [
            (
                index,
                name,
                _field_check(name) if name in LIMITS else _property_check(name, properties[name]),
                name not in LIMITS,
            )
            for index, name in columns.items()
            if name != "email"
        ]
        self._hash = keyed_hash(hash_key)

    def check(self, batch: Iterable[tuple[int, list[str]]]) -> CheckedBatch:
        """Check each row; a bad one is rejected with its line number and the reason."""
        checked = CheckedBatch()
        rows, rejected = checked.rows, checked.rejected
        for line, cells in batch:
            checked.read += 1
            if isinstance(cells, BadRow):
                rejected.append((line, cells.reason))
                continue
            try:
                rows.append(self._row(line, cells))
            except InvalidInputError as exc:
                rejected.append((line, exc.detail))
        return checked

    def _row(self, line: int, cells: list[str]) -> CheckedRow:
        width = len(cells)
        raw_email = cells[self._email].strip() if self._email < width else ""
        if not raw_email:
            raise InvalidInputError("email", "is empty")
        email = normalize_address(raw_email)
        values: dict[str, str | None] = {}
        properties: dict[str, Any] = {}
        for index, name, check, is_property in self._checks:
            value = check(cells[index].strip() if index < width else "")
            if not is_property:
                values[name] = value
            elif value is not None:
                properties[name] = value
        digest = self._hash(address_key(email).encode("utf-8"))
        return (
            line,
            email,
            email.rpartition("@")[2],
            values.get("first_name"),
            values.get("last_name"),
            values.get("language"),
            values.get("timezone"),
            properties_json(properties),
            digest,
        )
