"""Helpers of the transactional tests: a sender domain with DKIM keys, and verifying them."""

from __future__ import annotations

import dkim as dkimpy

from courriel.services import Services
from tests.support.tenants import TenantAccess

DOMAIN = "shop.test"


def dkim_domain(
    services: Services, access: TenantAccess, domain: str = DOMAIN
) -> dict[bytes, bytes]:
    """Rotate DKIM keys for `domain`; the TXT records a verifier would find, by name."""
    records = services.dkim_keys.rotate(access.operator, domain)
    return {f"{r.name.rstrip('.')}.".encode(): r.value.encode() for r in records}


def dkim_verified(message: bytes, published: dict[bytes, bytes]) -> bool:
    """Whether every DKIM signature of `message` verifies with dkimpy."""
    count = message.count(b"DKIM-Signature:")
    if not count:
        return False
    return all(
        dkimpy.DKIM(message).verify(idx=i, dnsfunc=lambda n, timeout=5: published.get(n))
        for i in range(count)
    )
