"""DNS-based URI blocklists (Spamhaus DBL, SURBL): is a link's domain listed?

A domain ``d`` is looked up as the A record of ``d.<zone>``; an answer in
127.0.0.0/8 means listed, no record (NXDOMAIN) means not. The 127.255.255.x
answers are the lists' error codes (the query came through a public
resolver, or over the quota), not listings, and count as "unknown". A host
is looked up with its parent domains (``a.b.example.com``, ``b.example.com``,
``example.com``): the lists hold registered domains and some hostnames.
Names the sandbox's zone file owns are answered from it (`records`); any
other goes to DNS, where a failure is "unknown", never a listing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence

import dns.asyncresolver
import dns.exception

from courriel.delivery.mx import MxError, normalize_domain

# name, rdtype → (values, signed), or None when the name is not the override's.
Records = Callable[[str, str], "tuple[list[str], bool] | None"]

_LISTED = ipaddress.ip_network("127.0.0.0/8")
_ERRORS = ipaddress.ip_network("127.255.255.0/24")
MAX_PARENTS = 4


def candidates(host: str) -> list[str]:
    """The host and its parents of two labels or more, most specific first."""
    labels = host.split(".")
    found = [".".join(labels[i:]) for i in range(len(labels) - 1)]
    return found[:MAX_PARENTS]


class Blocklists:
    """Looks domains up in the configured URI blocklist zones."""

    def __init__(
        self,
        zones: Sequence[str],
        *,
        records: Records | None = None,
        timeout_s: float = 3.0,
        resolver: dns.asyncresolver.Resolver | None = None,
    ) -> None:
        self._zones = tuple(z.strip().strip(".").lower() for z in zones if z.strip())
        self._records = records
        self._timeout_s = timeout_s
        self._resolver = resolver

    async def listings(self, host: str) -> list[str]:
        """``"<domain> is listed on <zone> (<answer>)"`` for each listing of `host`."""
        if not self._zones:
            return []
        try:
            name = normalize_domain(host)
        except MxError:
            return []
        found = []
        for domain in candidates(name):
            for zone in self._zones:
                answer = await self._listed(f"{domain}.{zone}")
                if answer is not None:
                    found.append(f"{domain} is listed on {zone} ({answer})")
        return found

    async def _listed(self, name: str) -> str | None:
        for value in await self._addresses(name):
            try:
                address = ipaddress.ip_address(value)
            except ValueError:
                continue
            if address in _LISTED and address not in _ERRORS:
                return value
        return None

    async def _addresses(self, name: str) -> list[str]:
        if self._records is not None:
            known = self._records(name, "A")
            if known is not None:
                return known[0]
        if self._resolver is None:
            self._resolver = dns.asyncresolver.Resolver()
        try:
            answer = await self._resolver.resolve(
                name, "A", raise_on_no_answer=False, lifetime=self._timeout_s
            )
        except dns.exception.DNSException:
            # NXDOMAIN is "not listed"; a timeout or SERVFAIL is "unknown",
            # which never refuses a send either.
            return []
        return [r.to_text() for r in answer]
