"""Does a domain's SPF record authorize an IP? A small evaluator of RFC 7208.

Enough to tell a sender whether its record lets our sending IPs send:
``ip4``, ``ip6``, ``a``, ``mx``, ``include``, ``all`` and the ``redirect``
modifier, with the ten-lookup limit (RFC 7208 §4.6.4). ``exists`` and ``ptr``
(macros, the PTR walk) are not evaluated: a record that needs them to decide
gives "unknown" rather than a guess.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal, Protocol

Verdict = Literal["pass", "fail", "unknown"]
MAX_LOOKUPS = 10  # RFC 7208 §4.6.4: more DNS-querying terms is a permanent error.


class Records(Protocol):
    """DNS values at a name; None when the lookup failed (`ZoneDns` fits)."""

    def records(self, name: str, rdtype: str) -> list[str] | None: ...


@dataclass(frozen=True)
class SpfResult:
    """Whether `ip` may send for the domain, and why in words."""

    verdict: Verdict
    detail: str


class _LookupFailedError(Exception):
    pass


class _PermError(Exception):
    pass


def spf_record(dns: Records, domain: str) -> str | None:
    """The one SPF record of `domain`; raises `_LookupFailedError` with the reason otherwise."""
    found = dns.records(domain, "TXT")
    if found is None:
        raise _LookupFailedError(f"the DNS lookup of {domain} failed; try again")
    spf = [t for t in found if t.lower() == "v=spf1" or t.lower().startswith("v=spf1 ")]
    if len(spf) > 1:
        raise _PermError(f"{domain} has more than one SPF record (RFC 7208 §4.5 permerror)")
    return spf[0] if spf else None


def authorizes(dns: Records, domain: str, ip: str) -> SpfResult:
    """Whether `domain`'s SPF policy gives `ip` a "pass" (RFC 7208 §2.6)."""
    budget = [MAX_LOOKUPS]
    try:
        record = spf_record(dns, domain)
        if record is None:
            return SpfResult("fail", f"{domain} publishes no SPF record (v=spf1)")
        matched = _evaluate(dns, domain, record, ipaddress.ip_address(ip), budget)
    except _LookupFailedError as unknown:
        return SpfResult("unknown", str(unknown))
    except _PermError as error:
        return SpfResult("fail", str(error))
    if matched == "+":
        return SpfResult("pass", f"{domain}'s SPF record authorizes {ip}")
    return SpfResult("fail", f"{domain}'s SPF record does not authorize {ip}")


def _spend(budget: list[int]) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        raise _PermError("the SPF record needs more than 10 DNS lookups (RFC 7208 §4.6.4)")


def _evaluate(
    dns: Records,
    domain: str,
    record: str,
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
    budget: list[int],
) -> str | None:
    """The qualifier of the first mechanism matching `ip`, or None."""
    redirect = None
    for term in record.split()[1:]:
        lowered = term.lower()
        if lowered.startswith("redirect="):
            redirect = lowered.partition("=")[2]
            continue
        if "=" in lowered.split(":")[0]:
            continue  # Another modifier (exp=…): no bearing on the result.
        qualifier = lowered[0] if lowered[0] in "+-~?" else "+"
        mechanism = lowered.lstrip("+-~?")
        if _matches(dns, domain, mechanism, ip, budget):
            return qualifier
    if redirect is not None:
        _spend(budget)
        target = spf_record(dns, redirect)
        if target is None:
            raise _PermError(f"redirect={redirect} has no SPF record (RFC 7208 §6.1 permerror)")
        return _evaluate(dns, redirect, target, ip, budget)
    return None


def _matches(
    dns: Records,
    domain: str,
    mechanism: str,
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
    budget: list[int],
) -> bool:
    name, _, argument = mechanism.partition(":")
    if name == "all":
        return True
    if name in ("ip4", "ip6"):
        try:
            return ip in ipaddress.ip_network(argument, strict=False)
        except ValueError:
            raise _PermError(f"{mechanism!r} is not a network (RFC 7208 §5.6)") from None
    if name.split("/")[0] in ("a", "mx"):
        _spend(budget)
        target = (argument or domain).split("/")[0]
        hosts = [target]
        if name.startswith("mx"):
            found = dns.records(target, "MX")
            if found is None:
                raise _LookupFailedError(f"the DNS lookup of {target} MX failed; try again")
            hosts = found
        return any(str(ip) in _addresses(dns, host) for host in hosts)
    if name == "include":
        _spend(budget)
        record = spf_record(dns, argument)
        if record is None:
            raise _PermError(f"include:{argument} has no SPF record (RFC 7208 §5.2 permerror)")
        return _evaluate(dns, argument, record, ip, budget) == "+"
    if name in ("exists", "ptr"):
        raise _LookupFailedError(f"the record uses {name}, which this check does not evaluate")
    raise _PermError(f"unknown SPF mechanism {mechanism!r} (RFC 7208 §5 permerror)")


def _addresses(dns: Records, host: str) -> set[str]:
    found: set[str] = set()
    for rdtype in ("A", "AAAA"):
        values = dns.records(host, rdtype)
        if values is None:
            raise _LookupFailedError(f"the DNS lookup of {host} failed; try again")
        found.update(str(ipaddress.ip_address(v)) for v in values)
    return found
