"""Normalizing and hashing email addresses.

One contact per normalized address per tenant: the domain is compared
case-insensitively and stored in its ASCII (punycode) form, the local part is
kept as typed, because RFC 5321 §2.4 lets the receiving host treat it as
case-sensitive.
"""

from __future__ import annotations

import hashlib
import hmac

from email_validator import EmailNotValidError, validate_email

from courriel.core.errors import InvalidInputError


def normalize_address(address: str, field: str = "email") -> str:
    """Return the normalized form of `address` or raise InvalidInputError naming `field`."""
    if any(ch in address for ch in "\r\n\x00"):
        raise InvalidInputError(field, "an address cannot contain line breaks or NUL")
    try:
        # test_environment admits the reserved .test names (RFC 2606) that the
        # sandbox internet uses; deliverability is the MTA's job, not the form's.
        result = validate_email(address.strip(), check_deliverability=False, test_environment=True)
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
    tenant_key = hmac.new(secret_key, b"tenant-address:" + tenant_id.encode(), hashlib.sha256)
    return hmac.new(tenant_key.digest(), address.encode("utf-8"), hashlib.sha256).hexdigest()
