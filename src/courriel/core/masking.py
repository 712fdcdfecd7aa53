"""How personal data looks to someone not allowed to see it.

An address keeps its first letter, the first letter of its domain and the
top-level domain (`anna@gmail.com` → `a***@g***.com`): enough to tell a
Gmail reader from an Outlook one in a statistic, not enough to name anyone.
Any other value keeps its first character (`Jean` → `J***`). A masked value
never depends on the length of the original.
"""

from __future__ import annotations

import re

MASK = "***"


def mask_email(address: str) -> str:
    """`a***@g***.com` for `anna@gmail.com`."""
    local, at, domain = address.rpartition("@")
    if not at:
        return mask_text(address)
    host, dot, tld = domain.rpartition(".")
    if not dot:
        return f"{local[:1]}{MASK}@{domain[:1]}{MASK}"
    return f"{local[:1]}{MASK}@{host[:1]}{MASK}.{tld}"


def mask_text(value: str) -> str:
    """`J***` for `Jean`; an empty value stays empty."""
    return f"{value[:1]}{MASK}" if value else value


def mask_value(name: str, value: object) -> object:
    """`value` of personal field `name`, masked; non-text values become the mask."""
    if isinstance(value, str):
        return mask_email(value) if name == "email" or "@" in value else mask_text(value)
    if isinstance(value, bool) or value is None:
        return value
    return MASK


_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def mask_addresses(text: str) -> str:
    """`text` with every email address in it masked (SMTP replies, free text)."""
    return _ADDRESS.sub(lambda m: mask_email(m.group(0)), text)


def mask_addresses_in(value: object) -> object:
    """`value` (text, or a JSON-like structure of it) with every address masked."""
    if isinstance(value, str):
        return mask_addresses(value)
    if isinstance(value, dict):
        return {k: mask_addresses_in(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_addresses_in(v) for v in value]
    return value
