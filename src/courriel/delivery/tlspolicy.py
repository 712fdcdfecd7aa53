"""Which MX hosts to use and how strictly to check their TLS: MTA-STS and DANE.

Opportunistic TLS (RFC 7435) is the default towards MX hosts: encrypt when
offered, deliver anyway when not. A recipient domain can demand more:
- DANE (RFC 7672): DNSSEC-validated TLSA records for an MX host make TLS
  required to it, its certificate checked against the records;
- MTA-STS (RFC 8461): an ``enforce`` policy limits delivery to the MX hosts it
  names, over TLS with a certificate valid for the host name (PKIX).
Where both are published, DANE decides for the hosts that have TLSA records
(RFC 8461 §2). A host that cannot be reached as its policy demands is not
tried in cleartext; if no host remains, the message is deferred.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import dns.asyncresolver
import dns.exception
import dns.flags
import dns.rdatatype
import dns.resolver
import httpx

from courriel.delivery.dane import TlsaRecord
from courriel.delivery.mtasts import MAX_POLICY_BYTES, MtaStsPolicy, PolicyError, parse_policy
from courriel.delivery.mtasts import parse_record as parse_sts_record
from courriel.delivery.mx import MxHost, MxResult, StaticMxResolver

log = logging.getLogger(__name__)

HTTPS_PORT = 443
FETCH_TIMEOUT_S = 10.0
# How long a TXT answer (policy id) is trusted before asking again.
RECHECK_S = 300.0


class LookupFailed(Exception):  # noqa: N818 (a DNS outcome, named as the RFCs do)
    """A DNS answer could not be obtained (SERVFAIL, timeout): not the same as none."""


@runtime_checkable
class PolicySource(Protocol):
    """Where the records MTA-STS and DANE need come from (DNS, or the sandbox's zone)."""

    async def txt(self, name: str) -> list[str]:
        """The TXT strings at `name` ([] when there are none); LookupFailed on failure."""
        ...

    async def tlsa(self, name: str) -> tuple[list[TlsaRecord], bool]:
        """The TLSA records at `name` and whether the answer was DNSSEC-validated."""
        ...

    async def https_address(self, host: str) -> tuple[str, int]:
        """Where to reach `host` over HTTPS: its address and port (443 on the internet)."""
        ...


class DnsPolicySource:
    """The records from DNS. DANE needs a validating resolver (a local one):
    only its AD bit (RFC 4035 §3.2.3) tells an answer was DNSSEC-validated."""

    def __init__(self, resolver: dns.asyncresolver.Resolver | None = None) -> None:
        self._resolver = resolver

    def _get(self) -> dns.asyncresolver.Resolver:
        if self._resolver is None:
            self._resolver = dns.asyncresolver.Resolver()
            # Ask for DNSSEC data and for the AD bit (RFC 6840 §5.7).
            self._resolver.use_edns(0, dns.flags.DO, 1232)
            self._resolver.flags = dns.flags.RD | dns.flags.AD
        return self._resolver

    async def _query(self, name: str, rdtype: str) -> dns.resolver.Answer | None:
        try:
            return await self._get().resolve(name, rdtype, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return None
        except dns.exception.DNSException as exc:
            raise LookupFailed(f"{rdtype} {name}: {exc}") from exc

    async def txt(self, name: str) -> list[str]:
        answer = await self._query(name, "TXT")
        if answer is None or answer.rrset is None:
            return []
        return [b"".join(r.strings).decode("utf-8", "replace") for r in answer.rrset]

    async def tlsa(self, name: str) -> tuple[list[TlsaRecord], bool]:
        answer = await self._query(name, "TLSA")
        if answer is None or answer.rrset is None:
            return [], False
        validated = bool(answer.response.flags & dns.flags.AD)
        records = [TlsaRecord(r.usage, r.selector, r.mtype, r.cert) for r in answer.rrset]
        return records, validated

    async def https_address(self, host: str) -> tuple[str, int]:
        for rdtype in ("A", "AAAA"):
            answer = await self._query(host, rdtype)
            if answer is not None and answer.rrset is not None:
                return str(answer.rrset[0]), HTTPS_PORT
        raise LookupFailed(f"{host} has no address")


class ZonePolicySource:
    """The records of a static table (the sandbox internet's zone file) for the
    names it holds, DNS (`fallback`) for the rest, as `StaticMxResolver` does for MX."""

    def __init__(self, table: StaticMxResolver, fallback: PolicySource) -> None:
        self._table = table
        self._fallback = fallback

    async def txt(self, name: str) -> list[str]:
        found = self._table.records(name, "TXT")
        return found[0] if found is not None else await self._fallback.txt(name)

    async def tlsa(self, name: str) -> tuple[list[TlsaRecord], bool]:
        found = self._table.records(name, "TLSA")
        if found is None:
            return await self._fallback.tlsa(name)
        values, signed = found
        try:
            return [TlsaRecord.parse(v) for v in values], signed
        except ValueError as exc:
            raise LookupFailed(f"TLSA {name}: {exc}") from exc

    async def https_address(self, host: str) -> tuple[str, int]:
        found = self._table.address_of(host)
        return found if found is not None else await self._fallback.https_address(host)


def policy_source(resolver: object) -> PolicySource:
    """The policy records beside `resolver`'s MX: its table first when it has one."""
    if isinstance(resolver, StaticMxResolver):
        return ZonePolicySource(resolver, DnsPolicySource())
    return DnsPolicySource()


HostMode = Literal["opportunistic", "mta-sts", "dane"]


@dataclass(frozen=True)
class HostPlan:
    """One MX host and how its TLS must be checked."""

    host: MxHost
    mode: HostMode
    tlsa: tuple[TlsaRecord, ...] = ()


class TransportSecurityError(Exception):
    """No MX host may be used as the domain's policy demands: defer."""


@dataclass
class _Cached:
    policy: MtaStsPolicy
    expires_at: float
    checked_at: float


@dataclass
class TransportSecurity:
    """Plans each connection from the domain's MTA-STS policy and its hosts' TLSA records.

    Policies are cached in memory for their max_age (RFC 8461 §5.1); a TXT
    record that disappears or a policy host that does not answer keeps a
    cached policy in force until it expires, so an attacker who blocks the
    fetch cannot downgrade a domain that was seen enforcing.
    """

    source: PolicySource
    ca_file: Path | None = None
    clock: Callable[[], float] = time.monotonic
    _policies: dict[str, _Cached] = field(default_factory=dict)

    async def plan(self, mx: MxResult) -> list[HostPlan]:
        """The hosts of `mx` to try, in order, each with its TLS demands."""
        policy = await self.mta_sts(mx.domain)
        plans: list[HostPlan] = []
        refused: list[str] = []
        for host in mx.hosts:
            try:
                records, validated = await self.source.tlsa(f"_25._tcp.{host.name}")
            except LookupFailed as exc:
                # RFC 7672 §2.2.2: a TLSA lookup that fails (not "none") makes
                # the host unusable: it may be an attack on the records.
                refused.append(f"{host.name} (TLSA lookup failed: {exc})")
                continue
            usable = tuple(r for r in records if r.usable) if validated else ()
            if usable:
                plans.append(HostPlan(host, "dane", usable))
            elif policy is not None and policy.mode == "enforce":
                if policy.allows(host.name):
                    plans.append(HostPlan(host, "mta-sts"))
                else:
                    refused.append(f"{host.name} (not named by the MTA-STS policy)")
            else:
                if policy is not None and policy.mode == "testing" and not policy.allows(host.name):
                    log.warning("MTA-STS testing: %s is not named by the policy", host.name)
                plans.append(HostPlan(host, "opportunistic"))
        if not plans:
            raise TransportSecurityError(f"no usable MX host for {mx.domain}: {'; '.join(refused)}")
        return plans

    async def mta_sts(self, domain: str) -> MtaStsPolicy | None:
        """The domain's MTA-STS policy in force, if any (cached, refreshed on a new id)."""
        now = self.clock()
        cached = self._policies.get(domain)
        if cached is not None and cached.expires_at <= now:
            del self._policies[domain]
            cached = None
        if cached is not None and now - cached.checked_at < RECHECK_S:
            return cached.policy
        try:
            policy_id = parse_sts_record(await self.source.txt(f"_mta-sts.{domain}"))
        except LookupFailed:
            policy_id = None
        if policy_id is None or (cached is not None and cached.policy.id == policy_id):
            if cached is not None:
                cached.checked_at = now
            return cached.policy if cached is not None else None
        try:
            policy = await self._fetch(domain, policy_id)
        except (PolicyError, LookupFailed, httpx.HTTPError, ssl.SSLError, OSError) as exc:
            log.warning("MTA-STS policy of %s could not be fetched: %s", domain, exc)
            return cached.policy if cached is not None else None
        if policy.mode == "none":
            self._policies.pop(domain, None)
            return None
        self._policies[domain] = _Cached(policy, now + policy.max_age, now)
        return policy

    async def _fetch(self, domain: str, policy_id: str) -> MtaStsPolicy:
        """GET the policy over HTTPS, the certificate checked for mta-sts.<domain> (§3.3)."""
        host = f"mta-sts.{domain}"
        address, port = await self.source.https_address(host)
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        netloc = f"[{address}]" if ":" in address else address
        authority = host if port == HTTPS_PORT else f"{host}:{port}"
        client = httpx.AsyncClient(
            verify=context, timeout=FETCH_TIMEOUT_S, follow_redirects=False, trust_env=False
        )
        # §3.3: no redirects; the answer must be a 200 of text/plain, at most 64 KiB.
        async with (
            client,
            client.stream(
                "GET",
                f"https://{netloc}:{port}/.well-known/mta-sts.txt",
                headers={"host": authority},
                extensions={"sni_hostname": host},
            ) as response,
        ):
            if response.status_code != httpx.codes.OK:
                raise PolicyError(f"the policy host answered {response.status_code}")
            if not response.headers.get("content-type", "").startswith("text/plain"):
                raise PolicyError("the policy is not text/plain")
            body = b""
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_POLICY_BYTES:
                    raise PolicyError("the policy is larger than 64 KiB")
        return parse_policy(body.decode("utf-8", "replace"), policy_id)
