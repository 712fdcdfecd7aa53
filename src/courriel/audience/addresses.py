"""Normalizing and hashing email addresses.

One contact per normalized address per tenant: the domain is compared
case-insensitively and stored in its ASCII (punycode) form, the local part is
kept as typed, because RFC 5321 §2.4 lets the receiving host treat it as
case-sensitive.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable

from email_validator import EmailNotValidError, validate_email

from courriel.core.errors import InvalidInputError

# The common case, plain ASCII dot-atoms (RFC 5322 §3.2.3) on an alphabetic
# TLD, is recognized by one regular expression: imports of a million rows
# spend most of their time here. Anything else (quoted local parts, IDN,
# special-use names, every error message) goes to email-validator.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PLAIN = re.compile(rf"({_ATEXT}(?:\.{_ATEXT})*)@((?:{_LABEL}\.)+[A-Za-z]{{2,63}})")
_SPECIAL_USE = frozenset({"arpa", "invalid", "local", "localhost", "onion", "test", "example"})
MAX_LOCAL = 64  # RFC 5321 §4.5.3.1.1
MAX_ADDRESS = 254  # RFC 5321 §4.5.3.1.3 path limit less the angle brackets


def _plain(address: str) -> str | None:
    match = _PLAIN.fullmatch(address)
    if match is None or len(address) > MAX_ADDRESS or len(match.group(1)) > MAX_LOCAL:
        return None
    domain = match.group(2).lower()
    if domain.rpartition(".")[2] in _SPECIAL_USE:
        return None
    return f"{match.group(1)}@{domain}"


def normalize_address(address: str, field: str = "email") -> str:
    """Return the normalized form of `address` or raise InvalidInputError naming `field`."""
    plain = _plain(address)
    if plain is not None:
        return plain
    if any(ch in address for ch in "\r\n\x00"):
        raise InvalidInputError(field, "an address cannot contain line breaks or NUL")
    try:
        # test_environment admits the reserved .test names (RFC 2606) that the
        # sandbox internet uses; deliverability is the MTA's job, not the form's.
        # strict: RFC 5321 §4.5.3.1.1 caps the local part at 64 octets.
        result = validate_email(
            address.strip(), check_deliverability=False, test_environment=True, strict=True
        )
    except EmailNotValidError as exc:
        raise InvalidInputError(field, str(exc)) from None
    domain = (result.ascii_domain or result.domain).lower()
    return f"{result.local_part}@{domain}"


def domain_of(address: str) -> str:
    """The domain of a normalized address."""
    return address.rpartition("@")[2]


def tenant_address_hash(secret_key: bytes, tenant_id: str, address: str) -> str:
    """Keyed hash of a normalized address, with a key of this tenant's own.

    The tenant key is derived from the installation key, so two tenants'
    hashes of one address differ and cannot be joined.
    """
    return address_hasher(secret_key, tenant_id)(address)


def address_hasher(secret_key: bytes, tenant_id: str) -> Callable[[str], str]:
    """`tenant_address_hash` for one tenant, its key derived once (for imports)."""
    tenant_key = hmac.new(
        secret_key, b"tenant-address:" + tenant_id.encode(), hashlib.sha256
    ).digest()

    def digest(address: str) -> str:
        return hmac.new(tenant_key, address.encode("utf-8"), hashlib.sha256).hexdigest()

    return digest
