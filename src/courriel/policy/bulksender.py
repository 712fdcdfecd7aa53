"""The bulk-sender rules of the big mailbox providers, checked per sender domain.

Gmail and Yahoo (February 2024) and Microsoft (May 2025) require of anyone
sending them thousands of messages a day: SPF and DKIM, DMARC published and
aligned with From, one-click unsubscribe (RFC 8058) honoured within two days,
a spam-complaint rate under 0.3 %, and forward-confirmed reverse DNS of the
sending IPs. Each rule here answers pass, fail or unknown (a lookup failed,
nothing to measure yet), with the reason and, when it does not pass, the fix.

DNS answers come through `ZoneDns` (the sandbox's zone file first, as the MX
resolver does); figures from the tenant's event log (policy/mailfigures.py).
"""

from __future__ import annotations

import datetime as dt
import enum
import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import select

from courriel.config import Settings
from courriel.content import dkim
from courriel.content.models import DkimKey, DkimKeyStatus
from courriel.core.clock import Clock
from courriel.core.principal import Capability, Principal
from courriel.core.storage import Storage
from courriel.policy import dmarc, mailfigures, spf
from courriel.policy.domains import SenderDomainService
from courriel.policy.zonedns import ZoneDns

COMPLAINT_LIMIT = 0.003  # Gmail and Yahoo: never reach 0.3 %; aim under 0.1 %.
COMPLAINT_TARGET = 0.001
WINDOW = dt.timedelta(days=30)
UNSUBSCRIBE_GRACE = dt.timedelta(days=2)


class RuleStatus(enum.StrEnum):
    """What a rule says of a domain."""

    PASS = "pass"  # noqa: S105 (a verdict, not a password)
    FAIL = "fail"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Rule:
    """One bulk-sender rule for one domain: its verdict, why, and what to do."""

    name: str
    status: RuleStatus
    reason: str
    fix: str = ""


def organizational(domain: str) -> str:
    """The organizational domain, approximated as the last two labels.

    RFC 7489 §3.2 uses the Public Suffix List; without it, `shop.example.co.uk`
    reads as `co.uk`. Good enough for relaxed alignment of our own domains.
    """
    return ".".join(domain.lower().rstrip(".").split(".")[-2:])


class BulkSenderRules:
    """The bulk-sender rules of the principal's sender domains."""

    def __init__(
        self,
        storage: Storage,
        settings: Settings,
        clock: Clock,
        sender_domains: SenderDomainService,
        sending_ips: Callable[[], Iterable[str]] | None = None,
    ) -> None:
        self._storage = storage
        self._settings = settings
        self._clock = clock
        self._sender_domains = sender_domains
        self._sending_ips = sending_ips or (lambda: settings.sending_ips)

    def check(self, principal: Principal, domain: str) -> list[Rule]:
        """Every rule for one of the tenant's sender domains, looked up and measured now."""
        principal.require(Capability.KEYS_MANAGE)
        row = self._sender_domains.get(principal, domain)
        name = row.domain
        dns = ZoneDns(self._settings)
        ips = list(dict.fromkeys(self._sending_ips()))
        spf_rule = self._spf(dns, name, ips)
        dkim_rule = self._dkim(dns, principal.tenant_id, name)
        dmarc_rule, record = _dmarc(dns, name)
        return [
            spf_rule,
            dkim_rule,
            self._alignment(dns, name, ips, dkim_rule, record),
            dmarc_rule,
            _one_click(),
            *self._measured(principal, name),
            _reverse_dns(dns, ips),
        ]

    # -- DNS rules ---------------------------------------------------------

    def _spf(self, dns: ZoneDns, domain: str, ips: list[str]) -> Rule:
        fix = (
            f"Publish one TXT record at {domain}: "
            f'"v=spf1 include:{self._settings.spf_include} ~all" (merge it into an existing '
            "v=spf1 record rather than adding a second one)."
        )
        if not ips:
            return Rule(
                "spf",
                RuleStatus.UNKNOWN,
                "no sending IP is configured (setting sending_ips), so none can be checked",
                "An operator sets sending_ips to the addresses mail leaves from.",
            )
        results = [spf.authorizes(dns, domain, ip) for ip in ips]
        failed = [r for r in results if r.verdict == "fail"]
        if failed:
            return Rule("spf", RuleStatus.FAIL, "; ".join(r.detail for r in failed), fix)
        unknown = [r for r in results if r.verdict == "unknown"]
        if unknown:
            return Rule("spf", RuleStatus.UNKNOWN, "; ".join(r.detail for r in unknown), fix)
        return Rule("spf", RuleStatus.PASS, f"the SPF record authorizes {', '.join(ips)}")

    def _dkim(self, dns: ZoneDns, tenant_id: str, domain: str) -> Rule:
        with self._storage.control() as session:
            keys = session.scalars(
                select(DkimKey).where(
                    DkimKey.tenant_id == tenant_id,
                    DkimKey.domain == domain,
                    DkimKey.status == DkimKeyStatus.ACTIVE,
                )
            ).all()
        if not keys:
            return Rule(
                "dkim",
                RuleStatus.FAIL,
                "no DKIM key for this domain",
                "Rotate the domain's keys (Sender domains → the domain) and publish them.",
            )
        missing = []
        for key in keys:
            name = f"{key.selector}._domainkey.{domain}"
            found = dns.records(name, "TXT")
            if found is None:
                return Rule("dkim", RuleStatus.UNKNOWN, f"the DNS lookup of {name} failed")
            expected = "".join(dkim.dns_record(key.algorithm, key.public_key).split())
            if expected not in {"".join(t.split()) for t in found}:
                missing.append((name, dkim.dns_record(key.algorithm, key.public_key)))
        if missing:
            return Rule(
                "dkim",
                RuleStatus.FAIL,
                f"our DKIM key is not published at {', '.join(n for n, _ in missing)}",
                " ".join(f'Publish a TXT record at {n}: "{v}".' for n, v in missing),
            )
        return Rule(
            "dkim",
            RuleStatus.PASS,
            f"our keys are published; messages are signed with d={domain}, aligned with From",
        )

    def _alignment(
        self,
        dns: ZoneDns,
        domain: str,
        ips: list[str],
        dkim_rule: Rule,
        record: dmarc.DmarcRecord | None,
    ) -> Rule:
        # DMARC passes when DKIM or SPF passes *aligned* with the From domain
        # (RFC 7489 §3.1, §4.2). We sign with d=<From domain>, so DKIM aligns
        # under adkim=r and adkim=s alike; SPF is checked on the Return-Path.
        return_path = self._settings.return_path_domain
        strict_spf = record is not None and record.strict_spf
        spf_aligned = (
            return_path == domain
            if strict_spf
            else organizational(return_path) == organizational(domain)
        )
        if spf_aligned and ips:
            spf_aligned = all(spf.authorizes(dns, return_path, ip).verdict == "pass" for ip in ips)
        if dkim_rule.status is RuleStatus.PASS:
            how = "DKIM (d=" + domain + ")"
            if spf_aligned:
                how += " and SPF (Return-Path " + return_path + ")"
            return Rule("alignment", RuleStatus.PASS, f"aligned with From through {how}")
        if spf_aligned:
            return Rule(
                "alignment",
                RuleStatus.PASS,
                f"aligned with From through SPF: the Return-Path {return_path} is in {domain}",
            )
        return Rule(
            "alignment",
            RuleStatus.FAIL if dkim_rule.status is RuleStatus.FAIL else RuleStatus.UNKNOWN,
            f"neither DKIM nor SPF is aligned with {domain}: the Return-Path domain is "
            f"{return_path}, and DKIM does not pass",
            "Publish the DKIM records of the domain: DKIM is what aligns our mail with From.",
        )

    # -- measured rules ----------------------------------------------------

    def _measured(self, principal: Principal, domain: str) -> list[Rule]:
        now = self._clock.now()
        with self._storage.tenant(principal.tenant_id)() as session:
            campaigns = mailfigures.campaigns_from(session, domain)
            unsubscribed, late = mailfigures.late_unsubscribes(
                session, campaigns, now - WINDOW, UNSUBSCRIBE_GRACE
            )
            rates = mailfigures.complaint_rates(session, campaigns, now - WINDOW)
        return [_honoured(unsubscribed, late), _complaints(rates)]


def _dmarc(dns: ZoneDns, domain: str) -> tuple[Rule, dmarc.DmarcRecord | None]:
    fix = (
        f'Publish one TXT record at _dmarc.{domain}: "v=DMARC1; p=none; '
        f'rua=mailto:dmarc@{domain}" (then move to p=quarantine once the reports are clean).'
    )
    # RFC 7489 §6.6.3: no record at the domain, then the organizational domain's.
    names = [f"_dmarc.{domain}"]
    if organizational(domain) != domain:
        names.append(f"_dmarc.{organizational(domain)}")
    for name in names:
        found = dns.records(name, "TXT")
        if found is None:
            return Rule("dmarc", RuleStatus.UNKNOWN, f"the DNS lookup of {name} failed"), None
        try:
            text = dmarc.pick_record(found)
            if text is None:
                continue
            record = dmarc.parse(text)
        except dmarc.DmarcError as bad:
            return Rule("dmarc", RuleStatus.FAIL, f"{name}: {bad}", fix), None
        reason = f"{name}: p={record.policy}"
        if record.assumed_none:
            reason += " (no valid p= tag; counted as p=none because rua= is set)"
        elif record.policy == "none":
            reason += " (monitoring only: enough for the bulk-sender rules)"
        if record.percent < 100:
            reason += f"; applied to {record.percent} % of mail"
        return Rule("dmarc", RuleStatus.PASS, reason), record
    return Rule("dmarc", RuleStatus.FAIL, f"no DMARC record at _dmarc.{domain}", fix), None


def _one_click() -> Rule:
    # content/compose.py adds both headers to every marketing message, and the
    # tracker answers the POST at once (RFC 8058 §3.1, §3.2).
    return Rule(
        "one-click-unsubscribe",
        RuleStatus.PASS,
        "every marketing message carries List-Unsubscribe (https and mailto) and "
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click (RFC 8058)",
    )


def _honoured(unsubscribed: int, late: int) -> Rule:
    if late:
        return Rule(
            "unsubscribes-honoured",
            RuleStatus.FAIL,
            f"{late} of {unsubscribed} people who unsubscribed in the last 30 days were sent "
            "marketing mail of the same list more than two days later",
            "Do not re-import or re-add people who unsubscribed; ask them to subscribe again "
            "through a form instead.",
        )
    if not unsubscribed:
        return Rule(
            "unsubscribes-honoured",
            RuleStatus.PASS,
            "no unsubscribe in the last 30 days; an unsubscribe takes effect at once",
        )
    return Rule(
        "unsubscribes-honoured",
        RuleStatus.PASS,
        f"all {unsubscribed} unsubscribes of the last 30 days were honoured within two days",
    )


def _complaints(rates: list[mailfigures.ProviderRate]) -> Rule:
    if not any(r.delivered for r in rates):
        return Rule(
            "complaint-rate",
            RuleStatus.UNKNOWN,
            "no mail from this domain was delivered in the last 30 days",
        )
    shown = ", ".join(
        f"{r.provider} {r.rate:.2%} ({r.complained}/{r.delivered})" for r in rates if r.delivered
    )
    over = [r for r in rates if r.rate >= COMPLAINT_LIMIT]
    if over:
        return Rule(
            "complaint-rate",
            RuleStatus.FAIL,
            f"spam complaints over 30 days reach 0.3 % at {', '.join(r.provider for r in over)}: "
            + shown,
            "Send only to people who asked for this mail, make the unsubscribe link visible, "
            "and leave out contacts who no longer open (the sunset policy of each list).",
        )
    note = " (above the 0.1 % to aim for)" if any(r.rate >= COMPLAINT_TARGET for r in rates) else ""
    return Rule("complaint-rate", RuleStatus.PASS, f"under 0.3 % at every provider{note}: {shown}")


def _reverse_dns(dns: ZoneDns, ips: list[str]) -> Rule:
    fix = (
        "Ask the provider of each sending IP to set its PTR record to a name whose A (or AAAA) "
        "record is that IP, ideally the HELO name."
    )
    if not ips:
        return Rule(
            "reverse-dns",
            RuleStatus.UNKNOWN,
            "no sending IP is configured (setting sending_ips)",
            "An operator sets sending_ips to the addresses mail leaves from.",
        )
    problems = []
    for ip in ips:
        address = ipaddress.ip_address(ip)
        names = dns.records(address.reverse_pointer, "PTR")
        if names is None:
            return Rule("reverse-dns", RuleStatus.UNKNOWN, f"the PTR lookup of {ip} failed")
        if not names:
            problems.append(f"{ip} has no PTR record")
            continue
        rdtype = "A" if address.version == 4 else "AAAA"
        back = [dns.records(name, rdtype) or [] for name in names]
        if not any(ip in {str(ipaddress.ip_address(v)) for v in found} for found in back):
            problems.append(f"{ip} points to {', '.join(names)}, which does not resolve back to it")
    if problems:
        return Rule("reverse-dns", RuleStatus.FAIL, "; ".join(problems), fix)
    return Rule(
        "reverse-dns",
        RuleStatus.PASS,
        f"{', '.join(ips)}: PTR and address records agree (forward-confirmed)",
    )
