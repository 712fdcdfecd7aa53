"""Normalizing and hashing email addresses.

One contact per address per tenant, compared case-insensitively: the domain
is stored lower-case in its ASCII (punycode) form; the local part is kept as
first typed, because RFC 5321 §2.4 lets the receiving host treat it as
case-sensitive, but RFC 5321 also advises against relying on that, and no
mailbox provider does: `ZOE@x` and `zoe@x` are one person. Identity and
suppression hashes therefore use `address_key`, the case-folded address.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable

from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES

from courriel.core.errors import InvalidInputError

# The common case, plain ASCII dot-atoms (RFC 5322 §3.2.3) on an alphabetic
# TLD, is recognized here without email-validator: imports of a million rows
# spend most of their time on addresses. The fast path answers only when
# email-validator would accept the address and normalize it the same way
# (tests/audience/test_addresses.py checks the two against each other);
# anything else (quoted local parts, IDN and Punycode, "--" in a label,
# special-use names, role mailboxes it lower-cases, every error) goes to
# email-validator.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"(?:{_LABEL}\.)+[A-Za-z]{{2,63}}")
_SPECIAL_USE = frozenset({"arpa", "invalid", "local", "localhost", "onion", "test", "example"})
# email-validator lower-cases these role mailboxes (RFC 2142), whatever the case typed.
_ROLE_MAILBOXES = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)
MAX_LOCAL = 64  # RFC 5321 §4.5.3.1.1
MAX_ADDRESS = 254  # RFC 5321 §4.5.3.1.3 path limit less the angle brackets
# A list has few distinct domains (a million addresses, a few thousand
# domains): each is checked once and its normalized form remembered.
_DOMAINS_KEPT = 4096
_domains: dict[str, str | None] = {}


def _plain_domain(domain: str) -> str | None:
    # RFC 5891 §4.2.3.1 reserves "--" in the third and fourth positions of a
    # label (Punycode is "xn--"); email-validator checks those, so they go there.
    if "--" in domain or _DOMAIN.fullmatch(domain) is None:
        return None
    lowered = domain.lower()
    if lowered.rpartition(".")[2] in _SPECIAL_USE:
        return None
    return lowered


def plain_address(address: str) -> str | None:
    """The normalized form of a plain ASCII address, or None to ask email-validator."""
    local, _, domain = address.rpartition("@")
    if (
        len(address) > MAX_ADDRESS
        or len(local) > MAX_LOCAL
        or _LOCAL.fullmatch(local) is None
        or local.lower() in _ROLE_MAILBOXES
    ):
        return None
    try:
        normal = _domains[domain]
    except KeyError:
        normal = _plain_domain(domain)
        if len(_domains) >= _DOMAINS_KEPT:
            _domains.clear()
        _domains[domain] = normal
    return None if normal is None else f"{local}@{normal}"


def validated_address(address: str, field: str = "email") -> str:
    """The normalized form of `address` as email-validator gives it, or InvalidInputError."""
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


def normalize_address(address: str, field: str = "email") -> str:
    """Return the normalized form of `address` or raise InvalidInputError naming `field`."""
    plain = plain_address(address)
    return plain if plain is not None else validated_address(address, field)


def address_key(address: str) -> str:
    """The identity of a normalized address: case-folded, so one person has one key."""
    return address.casefold()


def domain_of(address: str) -> str:
    """The domain of a normalized address."""
    return address.rpartition("@")[2]


def tenant_address_hash(secret_key: bytes, tenant_id: str, address: str) -> str:
    """Keyed hash of a normalized address (its `address_key`), with a key of this tenant's own.

    The tenant key is derived from the installation key, so two tenants'
    hashes of one address differ and cannot be joined.
    """
    return address_hasher(secret_key, tenant_id)(address)


def address_hasher(secret_key: bytes, tenant_id: str) -> Callable[[str], str]:
    """`tenant_address_hash` for one tenant, its key derived once (for imports)."""
    tenant_key = tenant_hash_key(secret_key, tenant_id)

    def digest(address: str) -> str:
        folded = address_key(address).encode("utf-8")
        return hmac.new(tenant_key, folded, hashlib.sha256).hexdigest()

    return digest


def tenant_hash_key(secret_key: bytes, tenant_id: str) -> bytes:
    """The key of a tenant's address hashes, derived from the installation key."""
    return hmac.new(secret_key, b"tenant-address:" + tenant_id.encode(), hashlib.sha256).digest()


# Mailboxes of a function, not a person (RFC 2142 and the usual automated
# senders): nobody there gave consent as a person, several people may read
# them, and they complain and bounce more than personal addresses.
ROLE_LOCAL_PARTS = frozenset(
    {
        "abuse",
        "admin",
        "administrator",
        "billing",
        "contact",
        "do-not-reply",
        "donotreply",
        "hostmaster",
        "info",
        "mailer-daemon",
        "marketing",
        "no-reply",
        "noc",
        "noreply",
        "postmaster",
        "root",
        "sales",
        "security",
        "support",
        "usenet",
        "uucp",
        "webmaster",
        "www",
    }
)


def is_role_address(address: str) -> bool:
    """Whether a normalized address is a role mailbox (`postmaster@`, `noreply@`, …).

    A tag after "+" is ignored (`noreply+news@x` is still `noreply@x`).
    """
    local = address.rpartition("@")[0].casefold().partition("+")[0]
    return local in ROLE_LOCAL_PARTS
