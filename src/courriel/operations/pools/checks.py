"""What makes a pool name, a source address, an EHLO name or a scope acceptable.

Each check returns the value in its canonical form or raises
`InvalidInputError` naming the field and the problem, before anything is
stored.
"""

from __future__ import annotations

import errno
import ipaddress
import re
import socket

from courriel.core.errors import InvalidInputError

_POOL_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
# RFC 1035 §2.3.1 labels (letters, digits, hyphens; no hyphen at either end),
# at most 63 octets each, 253 in all.
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
MAIL_CLASSES = ("marketing", "transactional")
_CAMPAIGN_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")


def pool_name(name: str) -> str:
    """A pool name: lower-case letters, digits, ``-`` and ``_``, 1 to 64 characters."""
    clean = name.strip()
    if not _POOL_NAME.fullmatch(clean):
        raise InvalidInputError(
            "name",
            f"{name!r} is not a pool name: use 1 to 64 lower-case letters, digits, "
            "'-' or '_', starting with a letter or digit",
        )
    return clean


def source_address(address: str) -> str:
    """A unicast IP address (v4 or v6) in its compressed form."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        raise InvalidInputError("address", f"{address!r} is not an IP address") from None
    if ip.is_multicast or ip.is_unspecified:
        raise InvalidInputError("address", f"{ip} cannot be a source address")
    return str(ip)


def helo_name(name: str) -> str:
    """A fully qualified domain name, as RFC 5321 §4.1.1.1 asks of EHLO.

    It should be the address's reverse DNS (PTR) name, and that name should
    resolve back to the address (forward-confirmed rDNS): receivers check
    both. We cannot check DNS here; docs/operations.md says how to.
    """
    clean = name.strip().lower().rstrip(".")
    labels = clean.split(".")
    if (
        len(clean) > 253
        or len(labels) < 2
        or not all(_LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise InvalidInputError(
            "helo_name",
            f"{name!r} is not a fully qualified host name (e.g. mta1.example.com); "
            "give the address's reverse DNS name",
        )
    return clean


def local(address: str) -> None:
    """Refuse an address this host cannot send from (it is not one of its own)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((address, 0))
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                raise InvalidInputError(
                    "address",
                    f"{address} is not an address of this host: configure it on an "
                    "interface first (docs/operations.md, IP pools)",
                ) from None
            raise InvalidInputError("address", f"cannot send from {address}: {exc}") from None


def scope(mail_class: str | None, campaign_id: str | None) -> str:
    """The scope of an assignment: the tenant's, a mail class's, or a campaign's."""
    if mail_class and campaign_id:
        raise InvalidInputError(
            "scope", "give a mail class or a campaign, not both: a campaign has its own class"
        )
    if mail_class:
        if mail_class not in MAIL_CLASSES:
            raise InvalidInputError(
                "mail_class", f"{mail_class!r} is not a mail class: marketing or transactional"
            )
        return f"class:{mail_class}"
    if campaign_id:
        if not _CAMPAIGN_ID.fullmatch(campaign_id):
            raise InvalidInputError("campaign_id", f"{campaign_id!r} is not a campaign id")
        return f"campaign:{campaign_id}"
    return "tenant"
