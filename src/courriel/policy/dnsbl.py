"""Looking a name up in a DNS blocklist zone (RFC 5782).

A DNSBL answers a query for ``<reversed IP>.<zone>`` (or ``<domain>.<zone>``)
with an A record in 127.0.0.0/8 when the subject is listed, and NXDOMAIN when
it is not; most lists add a TXT record saying why (RFC 5782 §2.1). The
sandbox internet's zone file answers first for the names it holds, as it does
for the MX resolver (delivery/mx.py), so tests publish a blocklist there.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from courriel.config import Settings
from courriel.policy.zonedns import ZoneDns


@dataclass(frozen=True)
class BlocklistAnswer:
    """What a blocklist said about one name: listed or not, its code and reason."""

    listed: bool
    code: str = ""
    reason: str = ""


class DnsblLookup:
    """Ask a blocklist zone about a name (through `ZoneDns`: sandbox first, then DNS)."""

    def __init__(self, settings: Settings) -> None:
        self._dns = ZoneDns(settings)

    def lookup(self, name: str) -> BlocklistAnswer | None:
        """The answer at `name` (e.g. ``2.0.0.127.zen.example``); None when DNS failed.

        A failed lookup is not "not listed": the watch keeps what it knew.
        """
        codes = self._dns.records(name, "A")
        if codes is None:
            return None
        # RFC 5782 §2.1: listed means an A record in 127.0.0.0/8. Some lists
        # answer 127.255.255.x to refuse a query (too many from one resolver,
        # or from a public resolver): that says nothing about the subject.
        listed = [c for c in codes if _loopback(c)]
        if not listed:
            return BlocklistAnswer(listed=False) if not codes else None
        if any(c.startswith("127.255.255.") for c in listed):
            return None
        reasons = self._dns.records(name, "TXT") or []
        return BlocklistAnswer(listed=True, code=listed[0], reason=" ".join(reasons)[:1000])


def _loopback(code: str) -> bool:
    try:
        return ipaddress.ip_address(code) in ipaddress.ip_network("127.0.0.0/8")
    except ValueError:
        return False
