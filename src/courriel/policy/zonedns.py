"""DNS answers for the policy's checks, with the sandbox internet's zone file first.

The delivery engine's MX resolver (delivery/mx.py) reads the sandbox's zone
file before asking DNS; the blocklist watch and the bulk-sender rules do the
same here, so a test (or a demo) publishes a blocklist entry, an SPF record
or a PTR record in the sandbox and every check sees it. Names the file does
not hold go to DNS (the `dns_nameservers` setting, else the system's).
"""

from __future__ import annotations

from pathlib import Path

import dns.exception
import dns.resolver

from courriel.config import Settings
from courriel.delivery.mx import StaticMxResolver
from courriel.sandbox.zone import zone_path

LIFETIME_S = 3.0


class ZoneDns:
    """TXT, A, AAAA, PTR and MX values at a name: the sandbox's table, else DNS."""

    def __init__(self, settings: Settings) -> None:
        self._resolver = _resolver(settings)
        self._table: StaticMxResolver | None = None
        if settings.resolver == "sandbox":
            self._table = StaticMxResolver.from_zone_file(zone_path(Path(settings.data_dir)))

    def records(self, name: str, rdtype: str) -> list[str] | None:
        """The values of `rdtype` at `name` ([] for none); None when the lookup failed.

        TXT values are a record's strings joined (RFC 7208 §3.3); names come
        without their final dot.
        """
        if self._table is not None:
            found = self._table.records(name, rdtype)
            if found is not None:
                return [v.rstrip(".") if rdtype in ("PTR", "CNAME") else v for v in found[0]]
            if name.lower().rstrip(".").endswith(".test"):
                # RFC 6761 §6.2: no real name server answers for .test; asking
                # one would only wait for its timeout.
                return []
        return self._ask_dns(name, rdtype)

    def _ask_dns(self, name: str, rdtype: str) -> list[str] | None:
        try:
            answer = self._resolver.resolve(name, rdtype)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.exception.DNSException:
            return None
        if rdtype == "TXT":
            return [b"".join(r.strings).decode("utf-8", "replace") for r in answer]
        if rdtype == "MX":
            return [r.exchange.to_text(omit_final_dot=True) for r in answer]
        return [r.to_text().rstrip(".") for r in answer]


def _resolver(settings: Settings) -> dns.resolver.Resolver:
    if not settings.dns_nameservers:
        resolver = dns.resolver.Resolver()
    else:
        resolver = dns.resolver.Resolver(configure=False)
        host, _, port = settings.dns_nameservers[0].partition(":")
        resolver.nameservers = [host]
        resolver.port = int(port or 53)
    resolver.lifetime = LIFETIME_S
    return resolver
