"""Identifiers that cannot be guessed.

Every id a customer or recipient can see is random (128 bits from the OS
CSPRNG) and carries a short prefix naming its kind, so a mistyped id in an
API call says what it was meant to be (``lst_…`` is a list) and one tenant can
never enumerate another's rows by counting.
"""

from __future__ import annotations

import base64
import secrets


def new_id(prefix: str) -> str:
    """Return a new random id such as ``lst_4bq7x…`` (26 base32 characters)."""
    raw = base64.b32encode(secrets.token_bytes(16)).decode("ascii").rstrip("=").lower()
    return f"{prefix}_{raw}"


def is_id(value: str, prefix: str) -> bool:
    """Whether `value` has the shape of an id of this kind (not whether it exists)."""
    head, sep, tail = value.partition("_")
    return sep == "_" and head == prefix and len(tail) == 26 and tail.isalnum()
