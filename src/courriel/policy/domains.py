"""Sender domains: ownership proven by a DNS TXT token; SPF, DKIM and DMARC checked.

A tenant adds a domain and is given the exact records to publish:

* ``_courriel.<domain> TXT "courriel-verification=<token>"`` proves ownership;
* ``<domain> TXT "v=spf1 include:<spf_include> ~all"`` (RFC 7208) lets our
  servers send for it (SPF alone does not align with DMARC here, since the
  Return-Path is our bounce domain, so DKIM carries the alignment);
* ``<selector>._domainkey.<domain> TXT "v=DKIM1; …"`` (RFC 6376) publishes our
  signing key for it, so signatures carry ``d=<domain>``: aligned with From;
* ``_dmarc.<domain> TXT "v=DMARC1; p=…"`` (RFC 7489).

Only a domain whose token is found, whose DKIM key is published as we sign
with it, and which has a DMARC record may be used in From.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.resolver
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from courriel.config import Settings
from courriel.content import dkim
from courriel.content.dkimkeys import DkimKeyService, DnsRecord
from courriel.content.models import DkimKey, DkimKeyStatus
from courriel.core.clock import Clock
from courriel.core.db import insert_for, transaction
from courriel.core.errors import InvalidInputError, NotFoundError
from courriel.core.ids import new_id
from courriel.core.principal import Capability, Principal
from courriel.core.storage import Storage
from courriel.policy.models import DomainStatus, SenderDomain
from courriel.policy.webmail import webmail_refusal

TOKEN_PREFIX = "courriel-verification="  # noqa: S105 (a DNS tag, not a secret)
SANDBOX_REASON = (
    "sandbox mode: .test is a reserved TLD (RFC 6761) where no one can publish records, "
    "so sandbox domains count as verified"
)


@dataclass(frozen=True)
class Record:
    """A DNS record to publish, and what it is for."""

    purpose: str
    type: str
    name: str
    value: str


def clean_domain(domain: str) -> str:
    """A lower-case domain name, or InvalidInputError naming `domain`."""
    clean = domain.strip().lower().rstrip(".")
    labels = clean.split(".")
    if (
        len(clean) > 253
        or len(labels) < 2
        or not all(
            0 < len(label) <= 63
            and label.isascii()
            and label.replace("-", "").isalnum()
            and not label.startswith("-")
            and not label.endswith("-")
            for label in labels
        )
    ):
        raise InvalidInputError("domain", "must be a domain name such as example.com")
    return clean


def _resolver(settings: Settings) -> dns.resolver.Resolver:
    if not settings.dns_nameservers:
        return dns.resolver.Resolver()
    resolver = dns.resolver.Resolver(configure=False)
    host, _, port = settings.dns_nameservers[0].partition(":")
    resolver.nameservers = [host]
    resolver.port = int(port or 53)
    resolver.lifetime = 3.0
    return resolver


def _txt(resolver: dns.resolver.Resolver, name: str) -> list[str] | None:
    """The TXT strings at `name` (a record's strings joined, RFC 7208 §3.3); None: lookup failed."""
    try:
        answer = resolver.resolve(name, "TXT")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except dns.exception.DNSException:
        return None
    return [b"".join(r.strings).decode("utf-8", "replace") for r in answer]


class SenderDomainService:
    """The principal's tenant's sender domains."""

    def __init__(
        self, storage: Storage, settings: Settings, clock: Clock, dkim_keys: DkimKeyService
    ) -> None:
        self._storage = storage
        self._settings = settings
        self._clock = clock
        self._dkim_keys = dkim_keys

    def add(self, principal: Principal, domain: str) -> SenderDomain:
        """Start verifying a domain: a token is made and DKIM keys generated if none exist."""
        principal.require(Capability.KEYS_MANAGE)
        domain = clean_domain(domain)
        refusal = webmail_refusal(domain)
        if refusal:
            raise InvalidInputError("domain", refusal)
        with transaction(self._storage.control) as session:
            # Checked before anything is written: a refusal stores nothing.
            if _held_by_another(session, principal.tenant_id, domain):
                raise InvalidInputError("domain", "is already verified by another account")
            row = session.scalar(
                select(SenderDomain).where(
                    SenderDomain.tenant_id == principal.tenant_id, SenderDomain.domain == domain
                )
            )
            if row is None:
                row = SenderDomain(
                    id=new_id("dom"),
                    tenant_id=principal.tenant_id,
                    domain=domain,
                    token=secrets.token_urlsafe(24),
                    status=DomainStatus.PENDING,
                    checks={},
                    created_at=self._clock.now(),
                )
                session.add(row)
            has_keys = session.scalar(
                select(DkimKey.id).where(
                    DkimKey.tenant_id == principal.tenant_id,
                    DkimKey.domain == domain,
                    DkimKey.status == DkimKeyStatus.ACTIVE,
                )
            )
            # The first pair is made with the row (one transaction), so the
            # DKIM records can be published together with the token. These
            # keys sign nothing until ownership is proven (check_sender), and
            # another tenant's proof withdraws them (verify).
            if has_keys is None:
                self._dkim_keys.generate(session, principal.tenant_id, domain)
        return row

    def rotate_keys(self, principal: Principal, domain: str) -> list[DnsRecord]:
        """A new DKIM pair for a domain the tenant has added and proven; the old one retired.

        In sandbox mode a `.test` domain counts as proven (reserved TLD, as in
        `check_sender`) for the first tenant to claim it.
        """
        principal.require(Capability.KEYS_MANAGE)
        domain = clean_domain(domain)
        sandbox = self._settings.resolver == "sandbox" and domain.endswith(".test")
        with transaction(self._storage.control) as session:
            if _held_by_another(session, principal.tenant_id, domain):
                raise InvalidInputError("domain", "is already used by another account")
            if sandbox:
                self._insert_sandbox_domain(session, principal.tenant_id, domain)
            row = session.scalar(
                select(SenderDomain).where(
                    SenderDomain.tenant_id == principal.tenant_id, SenderDomain.domain == domain
                )
            )
            if row is None:
                raise InvalidInputError(
                    "domain", "is not a sender domain of this account: add it and prove it first"
                )
            if row.status is not DomainStatus.VERIFIED:
                raise InvalidInputError(
                    "domain", "ownership not verified: publish the _courriel TXT token, then verify"
                )
            self._dkim_keys.generate(session, principal.tenant_id, domain)
        return self._dkim_keys.records(principal, domain)

    def get(self, principal: Principal, domain: str) -> SenderDomain:
        """One of the tenant's sender domains."""
        principal.require(Capability.KEYS_MANAGE)
        domain = clean_domain(domain)
        with self._storage.control() as session:
            row = session.scalar(
                select(SenderDomain).where(
                    SenderDomain.tenant_id == principal.tenant_id, SenderDomain.domain == domain
                )
            )
        if row is None:
            raise NotFoundError(f"no sender domain {domain!r}")
        return row

    def list_domains(self, principal: Principal) -> list[SenderDomain]:
        """The tenant's sender domains."""
        principal.require(Capability.KEYS_MANAGE)
        with self._storage.control() as session:
            return list(
                session.scalars(
                    select(SenderDomain)
                    .where(SenderDomain.tenant_id == principal.tenant_id)
                    .order_by(SenderDomain.domain)
                )
            )

    def verified_names(self, tenant_id: str) -> list[str]:
        """The names of a tenant's verified domains (what its system mail may come from)."""
        with self._storage.control() as session:
            return list(
                session.scalars(
                    select(SenderDomain.domain)
                    .where(
                        SenderDomain.tenant_id == tenant_id,
                        SenderDomain.status == DomainStatus.VERIFIED,
                    )
                    .order_by(SenderDomain.domain)
                )
            )

    def records(self, principal: Principal, domain: str) -> list[Record]:
        """The exact records to publish for a domain."""
        row = self.get(principal, domain)
        records = [
            Record("ownership", "TXT", f"_courriel.{row.domain}", f"{TOKEN_PREFIX}{row.token}"),
            Record("spf", "TXT", row.domain, f"v=spf1 include:{self._settings.spf_include} ~all"),
        ]
        try:
            keys = self._dkim_keys.records(principal, row.domain)
        except NotFoundError:
            # A domain without keys yet (a sandbox domain recorded by a send,
            # or keys withdrawn by the owner's proof) still lists its records.
            keys = []
        records.extend(
            Record("dkim", "TXT", r.name, r.value) for r in keys if r.status is DkimKeyStatus.ACTIVE
        )
        records.append(
            Record(
                "dmarc",
                "TXT",
                f"_dmarc.{row.domain}",
                f"v=DMARC1; p=quarantine; adkim=r; aspf=r; rua=mailto:dmarc@{row.domain}",
            )
        )
        return records

    def verify(self, principal: Principal, domain: str) -> SenderDomain:
        """Look the records up in DNS now and store what was found."""
        row = self.get(principal, domain)
        if self._is_sandbox_domain(row.domain):
            self._record_sandbox_domain(principal.tenant_id, row.domain)
            return self.get(principal, row.domain)
        resolver = _resolver(self._settings)
        with self._storage.control() as session:
            keys = session.scalars(
                select(DkimKey).where(
                    DkimKey.tenant_id == principal.tenant_id,
                    DkimKey.domain == row.domain,
                    DkimKey.status == DkimKeyStatus.ACTIVE,
                )
            ).all()
        checks = {
            "ownership": _ownership(resolver, row),
            "spf": _spf(resolver, row.domain, self._settings.spf_include),
            "dkim": _dkim(resolver, row.domain, keys),
            "dmarc": _dmarc(resolver, row.domain),
        }
        now = self._clock.now()
        with transaction(self._storage.control) as session:
            stored = session.get(SenderDomain, row.id, with_for_update=True)
            assert stored is not None
            stored.checks = checks
            stored.checked_at = now
            if checks["ownership"]["ok"] and stored.status is not DomainStatus.VERIFIED:
                if _held_by_another(session, stored.tenant_id, stored.domain):
                    raise InvalidInputError("domain", "is already verified by another account")
                stored.status = DomainStatus.VERIFIED
                stored.verified_at = now
                stored.reason = "ownership token found in DNS"
                # Proven: keys other tenants got for this domain while their
                # claim was unproven are withdrawn, so none can sign as it.
                self._dkim_keys.withdraw_others(session, stored.tenant_id, stored.domain)
            session.flush()
            session.expunge(stored)
        return stored

    def check_sender(self, principal: Principal, campaign: Any) -> None:
        """A send check: the From domain is not webmail, and is verified and aligned."""
        domain = str(campaign.from_email).rpartition("@")[2].lower()
        refusal = webmail_refusal(domain)
        if refusal:
            raise InvalidInputError("from_email", refusal)
        if self._is_sandbox_domain(domain) or not self._settings.require_verified_sender_domain:
            # A sandbox `.test` domain is proven for the first tenant to claim
            # it (reserved TLD), and an installation may choose to send from
            # unproven domains; either way the domain is listed and its mail
            # signed, and never for a tenant other than the one that signs for it.
            with transaction(self._storage.control) as session:
                if _held_by_another(session, principal.tenant_id, domain) or _claimed_by_another(
                    session, principal.tenant_id, domain
                ):
                    raise InvalidInputError(
                        "from_email", f"{domain}: is already used by another account"
                    )
                if self._is_sandbox_domain(domain):
                    self._insert_sandbox_domain(session, principal.tenant_id, domain)
                self._dkim_keys.ensure(session, principal.tenant_id, domain)
            return
        with self._storage.control() as session:
            row = session.scalar(
                select(SenderDomain).where(
                    SenderDomain.tenant_id == principal.tenant_id, SenderDomain.domain == domain
                )
            )
        problem = sending_problem(row)
        if problem:
            raise InvalidInputError("from_email", f"{domain}: {problem}")

    def sender_problem(self, principal: Principal, from_email: str) -> str | None:
        """Why `check_sender` would refuse this From now, without changing anything.

        For the checks shown before a send; None when the domain may be used.
        """
        principal.require(Capability.CAMPAIGNS_READ)
        domain = from_email.rpartition("@")[2].lower()
        refusal = webmail_refusal(domain)
        if refusal:
            return refusal
        with self._storage.control() as session:
            if self._is_sandbox_domain(domain) or not self._settings.require_verified_sender_domain:
                if _held_by_another(session, principal.tenant_id, domain) or _claimed_by_another(
                    session, principal.tenant_id, domain
                ):
                    return "is already used by another account"
                return None
            row = session.scalar(
                select(SenderDomain).where(
                    SenderDomain.tenant_id == principal.tenant_id, SenderDomain.domain == domain
                )
            )
        return sending_problem(row)

    def _is_sandbox_domain(self, domain: str) -> bool:
        return self._settings.resolver == "sandbox" and domain.endswith(".test")

    def _record_sandbox_domain(self, tenant_id: str, domain: str) -> None:
        with transaction(self._storage.control) as session:
            self._insert_sandbox_domain(session, tenant_id, domain)

    def _insert_sandbox_domain(self, session: Session, tenant_id: str, domain: str) -> None:
        # Recorded once with its reason, so the exemption is visible, not silent.
        # ON CONFLICT: two concurrent sends may both record it; one row wins.
        now = self._clock.now()
        # A row added by hand and not yet proven becomes verified here too.
        session.execute(
            update(SenderDomain)
            .where(
                SenderDomain.tenant_id == tenant_id,
                SenderDomain.domain == domain,
                SenderDomain.status != DomainStatus.VERIFIED,
            )
            .values(status=DomainStatus.VERIFIED, reason=SANDBOX_REASON, verified_at=now)
        )
        session.execute(
            insert_for(session)(SenderDomain)
            .values(
                id=new_id("dom"),
                tenant_id=tenant_id,
                domain=domain,
                token=secrets.token_urlsafe(24),
                status=DomainStatus.VERIFIED,
                checks={},
                reason=SANDBOX_REASON,
                verified_at=now,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["tenant_id", "domain"])
        )


def _held_by_another(session: Session, tenant_id: str, domain: str) -> bool:
    """Whether another tenant proved the domain before this one (it signs for that one).

    One domain signs for one tenant, the first to prove it: by the DNS token,
    or in sandbox mode by the first send from or key for a `.test` domain.
    """
    rows = session.scalars(
        select(SenderDomain).where(
            SenderDomain.domain == domain, SenderDomain.status == DomainStatus.VERIFIED
        )
    ).all()
    mine = next((r for r in rows if r.tenant_id == tenant_id), None)
    return any(
        r.tenant_id != tenant_id
        and (
            mine is None
            or (r.verified_at or r.created_at, r.id)
            < (mine.verified_at or mine.created_at, mine.id)
        )
        for r in rows
    )


def _claimed_by_another(session: Session, tenant_id: str, domain: str) -> bool:
    """Whether another tenant added the domain before this one, or signs for it.

    A sandbox `.test` domain cannot be proven through DNS: the first tenant to
    add it (or send from it) is its owner, and a domain another tenant holds
    DKIM keys for is never signed for this one.
    """
    rows = session.scalars(select(SenderDomain).where(SenderDomain.domain == domain)).all()
    mine = next((r for r in rows if r.tenant_id == tenant_id), None)
    earlier = any(
        r.tenant_id != tenant_id
        and (mine is None or (r.created_at, r.id) < (mine.created_at, mine.id))
        for r in rows
    )
    keyed = session.scalar(
        select(DkimKey.id).where(DkimKey.domain == domain, DkimKey.tenant_id != tenant_id).limit(1)
    )
    return earlier or keyed is not None


def sending_problem(row: SenderDomain | None) -> str | None:
    """Why a domain may not be used in From yet (None: it may)."""
    if row is None:
        return "not a sender domain of this account: add it and publish its records"
    if row.status is not DomainStatus.VERIFIED:
        return "ownership not verified: publish the _courriel TXT token, then verify"
    if row.reason == SANDBOX_REASON:
        return None
    for check in ("dkim", "dmarc"):
        result = row.checks.get(check, {})
        if not result.get("ok"):
            return f"{check} not aligned: {result.get('detail', 'not checked yet')}"
    return None


def _ownership(resolver: dns.resolver.Resolver, row: SenderDomain) -> dict[str, Any]:
    found = _txt(resolver, f"_courriel.{row.domain}")
    if found is None:
        return {"ok": False, "detail": "DNS lookup failed; try again"}
    ok = f"{TOKEN_PREFIX}{row.token}" in found
    return {"ok": ok, "detail": "token found" if ok else "token not found at _courriel"}


def _spf(resolver: dns.resolver.Resolver, domain: str, include: str) -> dict[str, Any]:
    found = _txt(resolver, domain)
    if found is None:
        return {"ok": False, "detail": "DNS lookup failed; try again"}
    spf = [t for t in found if t.lower().startswith("v=spf1")]
    if not spf:
        return {"ok": False, "detail": "no SPF record (v=spf1)"}
    if len(spf) > 1:
        # RFC 7208 §4.5: more than one SPF record is a permanent error.
        return {"ok": False, "detail": "more than one SPF record (RFC 7208 §4.5 permerror)"}
    terms = spf[0].lower().split()
    if "+all" in terms or "all" in terms:
        return {"ok": False, "detail": "SPF ends in +all: anyone may send as this domain"}
    if f"include:{include}" not in terms:
        return {"ok": False, "detail": f"SPF does not include:{include}"}
    return {"ok": True, "detail": spf[0]}


def _dkim(resolver: dns.resolver.Resolver, domain: str, keys: Any) -> dict[str, Any]:
    if not keys:
        return {"ok": False, "detail": "no DKIM key: add the domain again to generate one"}
    missing = []
    for key in keys:
        name = f"{key.selector}._domainkey.{domain}"
        found = _txt(resolver, name)
        if found is None:
            return {"ok": False, "detail": f"DNS lookup of {name} failed; try again"}
        published = {"".join(t.split()) for t in found}
        if "".join(dkim.dns_record(key.algorithm, key.public_key).split()) not in published:
            missing.append(name)
    if missing:
        return {"ok": False, "detail": f"our DKIM key is not published at {', '.join(missing)}"}
    return {"ok": True, "detail": "published; signatures use d=" + domain + " (aligned)"}


def _dmarc(resolver: dns.resolver.Resolver, domain: str) -> dict[str, Any]:
    found = _txt(resolver, f"_dmarc.{domain}")
    if found is None:
        return {"ok": False, "detail": "DNS lookup failed; try again"}
    records = [t for t in found if t.replace(" ", "").upper().startswith("V=DMARC1")]
    if len(records) != 1:
        return {"ok": False, "detail": "no DMARC record at _dmarc (exactly one v=DMARC1)"}
    pairs = (part.split("=", 1) for part in records[0].split(";") if "=" in part)
    tags = {name.strip().lower(): value.strip().lower() for name, value in pairs}
    policy = tags.get("p")
    if policy not in ("none", "quarantine", "reject"):
        return {"ok": False, "detail": "DMARC record has no valid p= tag (RFC 7489 §6.3)"}
    return {"ok": True, "detail": records[0], "policy": policy}
