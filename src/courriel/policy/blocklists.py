"""The blocklist watch: our sending IPs and the tenants' sender domains, looked up
in DNS blocklists on a schedule.

`run_due` is what the engine calls: it runs `check_all` only when it holds the
`blocklists` lease (policy/periodic.py), so with several engines the zones are
asked once per interval. `check_all` walks the recipe:

1. the subjects: each sending IP (settings `sending_ips`) in each IP zone, as
   reversed octets (RFC 5782 §2.1), and each sender domain of any tenant in
   each domain zone (RFC 5782 §2.3);
2. each looked up (`DnsblLookup`); a failed lookup changes nothing, since a
   resolver outage must neither raise nor clear a warning;
3. a new listing is stored and announced, a `blocklist-listed` event (so a
   webhook) in the database of each tenant it concerns: every tenant for a
   shared sending IP, the tenants sending from a domain for a domain;
4. a listing no longer answered is cleared and announced `blocklist-cleared`.

Tenants read the listings that concern them (`listings`) on the dashboard's
policy section and in GET /v1/policy.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from courriel.config import Settings
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.ids import new_id
from courriel.core.models import Tenant, TenantStatus
from courriel.core.principal import Capability, Principal
from courriel.core.storage import Storage
from courriel.events.models import EventType
from courriel.events.recorder import NewEvent, record_events
from courriel.policy import periodic
from courriel.policy.dnsbl import BlocklistAnswer, DnsblLookup
from courriel.policy.models import BlocklistListing, ListingKind, SenderDomain
from courriel.sandbox.zone import blocklist_name

log = logging.getLogger(__name__)

JOB = "blocklists"


@dataclass(frozen=True)
class WatchRun:
    """What one run found: names looked up, new listings, clearings, failed lookups."""

    checked: int = 0
    listed: int = 0
    cleared: int = 0
    failed: int = 0


class BlocklistWatch:
    """Looks the sending IPs and sender domains up in blocklists; tells the tenants."""

    def __init__(
        self,
        storage: Storage,
        settings: Settings,
        clock: Clock,
        sending_ips: Callable[[], Iterable[str]] | None = None,
        lookup: DnsblLookup | None = None,
    ) -> None:
        self._storage = storage
        self._settings = settings
        self._clock = clock
        # The addresses mail leaves from (services.py adds every IP pool's).
        self._sending_ips = sending_ips or (lambda: settings.sending_ips)
        self._lookup = lookup

    def run_due(self, owner: str) -> WatchRun | None:
        """Run `check_all` if this engine holds the lease and a run is due; else None."""
        if not periodic.claim(self._storage, self._clock, JOB, owner):
            return None
        try:
            return self.check_all()
        finally:
            interval = dt.timedelta(seconds=self._settings.blocklist_interval_seconds)
            periodic.finish(self._storage, self._clock, JOB, owner, interval)

    def check_all(self) -> WatchRun:
        """Look every subject up in every zone now; store and announce what changed."""
        lookup = self._lookup or DnsblLookup(self._settings)
        subjects = [
            (ListingKind.IP, ip, zone)
            for ip in dict.fromkeys(self._sending_ips())
            for zone in self._settings.blocklist_ip_zones
        ]
        if self._settings.blocklist_domain_zones:
            subjects += [
                (ListingKind.DOMAIN, domain, zone)
                for domain in self._sender_domains()
                for zone in self._settings.blocklist_domain_zones
            ]
        listed = cleared = failed = 0
        for kind, subject, zone in subjects:
            answer = lookup.lookup(blocklist_name(subject, zone))
            if answer is None:
                failed += 1
                log.warning("blocklist lookup of %s in %s failed; kept as it was", subject, zone)
                continue
            change = self._store(kind, subject, zone, answer)
            if change is not None:
                self._announce(change, answer.listed)
                listed += answer.listed
                cleared += not answer.listed
        return WatchRun(checked=len(subjects), listed=listed, cleared=cleared, failed=failed)

    def listings(self, principal: Principal) -> list[BlocklistListing]:
        """The current listings that concern the principal's tenant, newest first."""
        principal.require(Capability.STATS_READ)
        with self._storage.control() as session:
            domains = _tenant_domains(session, principal.tenant_id)
            rows = session.scalars(
                select(BlocklistListing)
                .where(BlocklistListing.cleared_at.is_(None))
                .order_by(BlocklistListing.listed_at.desc(), BlocklistListing.subject)
            ).all()
        return [r for r in rows if r.kind is ListingKind.IP or r.subject in domains]

    # -- steps -------------------------------------------------------------

    def _sender_domains(self) -> list[str]:
        with self._storage.control() as session:
            return list(
                session.scalars(
                    select(SenderDomain.domain)
                    .join(Tenant, Tenant.id == SenderDomain.tenant_id)
                    .where(Tenant.status == TenantStatus.ACTIVE)
                    .distinct()
                    .order_by(SenderDomain.domain)
                )
            )

    def _store(
        self, kind: ListingKind, subject: str, zone: str, answer: BlocklistAnswer
    ) -> BlocklistListing | None:
        """Record the answer; the row when it is news (a listing or a clearing)."""
        now = self._clock.now()
        with transaction(self._storage.control) as session:
            row = session.scalar(
                select(BlocklistListing)
                .where(
                    BlocklistListing.kind == kind,
                    BlocklistListing.subject == subject,
                    BlocklistListing.zone == zone,
                )
                .with_for_update()
            )
            active = row is not None and row.cleared_at is None
            if answer.listed:
                if row is None:
                    row = BlocklistListing(
                        id=new_id("bll"), kind=kind, subject=subject, zone=zone, listed_at=now
                    )
                    session.add(row)
                elif not active:
                    row.listed_at = now
                    row.cleared_at = None
                row.code = answer.code
                row.reason = answer.reason
                row.checked_at = now
                news = not active
            else:
                if row is None:
                    return None
                row.checked_at = now
                if active:
                    row.cleared_at = now
                news = active
            session.flush()
            session.expunge(row)
        return row if news else None

    def _announce(self, row: BlocklistListing, listed: bool) -> None:
        kind = EventType.BLOCKLIST_LISTED if listed else EventType.BLOCKLIST_CLEARED
        at = row.listed_at if listed else row.cleared_at
        assert at is not None
        detail = {
            "kind": row.kind.value,
            "subject": row.subject,
            "zone": row.zone,
            "code": row.code,
            "reason": row.reason,
            "listed_at": row.listed_at.isoformat(),
        }
        for tenant_id in self._concerned(row):
            with transaction(self._storage.tenant(tenant_id)) as session:
                record_events(
                    session,
                    [
                        NewEvent(
                            type=kind,
                            occurred_at=at,
                            detail=detail,
                            # Once per listing period, however many runs see it.
                            dedupe_key=f"blocklist:{row.id}:{row.listed_at.isoformat()}:{kind}",
                        )
                    ],
                )

    def _concerned(self, row: BlocklistListing) -> list[str]:
        with self._storage.control() as session:
            query = select(Tenant.id).where(Tenant.status == TenantStatus.ACTIVE)
            if row.kind is ListingKind.DOMAIN:
                query = query.join(SenderDomain, SenderDomain.tenant_id == Tenant.id).where(
                    SenderDomain.domain == row.subject
                )
            return list(session.scalars(query.distinct().order_by(Tenant.id)))


def _tenant_domains(session: Session, tenant_id: str) -> set[str]:
    return set(
        session.scalars(select(SenderDomain.domain).where(SenderDomain.tenant_id == tenant_id))
    )
