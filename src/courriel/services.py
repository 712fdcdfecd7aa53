"""Wiring: builds every service of one process from the settings, explicitly.

There are no globals or service locators; edges (HTTP, CLI) receive a
`Services` and call the use cases on it.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from courriel.accounts.service import ApiKeyService
from courriel.audience.service import AudienceService
from courriel.campaigns.abtest import AbTestService
from courriel.campaigns.control import CampaignControl
from courriel.campaigns.fanout import Fanout
from courriel.campaigns.scheduler import Scheduler
from courriel.campaigns.service import CampaignService
from courriel.config import Settings
from courriel.content.dkimkeys import DkimKeyService
from courriel.content.service import TemplateService
from courriel.core.clock import Clock, SystemClock
from courriel.core.secrets import load_secret_key
from courriel.core.storage import Storage
from courriel.core.tenancy import TenantService
from courriel.delivery.mx import DnsMxResolver, MxResolver, StaticMxResolver
from courriel.delivery.reporting import OutcomeReporter
from courriel.delivery.spool import Spool
from courriel.delivery.worker import DeliveryWorker
from courriel.policy.checks import ContentChecks
from courriel.policy.domains import SenderDomainService
from courriel.policy.gate import send_checks as policy_send_checks
from courriel.policy.service import PolicyService
from courriel.privacy.audit import AuditTrail
from courriel.privacy.governance import Governance
from courriel.privacy.repermission import Repermissions
from courriel.privacy.repermission_mail import RepermissionMailer
from courriel.privacy.rights import DataSubjectRights
from courriel.sandbox.zone import zone_path
from courriel.tracking.events import EventService
from courriel.tracking.service import StatsService
from courriel.tracking.tracker import Tracker
from courriel.tracking.webhooks.deliverer import WebhookDeliverer
from courriel.tracking.webhooks.endpoints import WebhookService
from courriel.tracking.webhooks.ssrf import parse_networks


@dataclass
class Services:
    """Everything the edges can call."""

    settings: Settings
    clock: Clock
    storage: Storage
    secret_key: bytes
    tenants: TenantService
    api_keys: ApiKeyService
    audience: AudienceService
    templates: TemplateService
    dkim_keys: DkimKeyService
    campaigns: CampaignService
    stats: StatsService
    spool: Spool
    fanout: Fanout
    reporter: OutcomeReporter
    tracker: Tracker
    events: EventService
    webhooks: WebhookService

    @classmethod
    def build(cls, settings: Settings, clock: Clock | None = None) -> Services:
        """Open the databases named by the settings and build the services on them."""
        clock = clock or SystemClock()
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
        storage = Storage(settings)
        key = load_secret_key(settings)
        spool = Spool(storage.spool)
        return cls(
            settings=settings,
            clock=clock,
            storage=storage,
            secret_key=key,
            tenants=TenantService(storage, clock),
            api_keys=ApiKeyService(storage, clock, key),
            audience=AudienceService(storage, clock, key),
            templates=TemplateService(
                storage, clock, settings=settings, spool=spool, secret_key=key
            ),
            dkim_keys=DkimKeyService(storage, clock, key),
            campaigns=CampaignService(
                storage, clock, policy_send_checks(storage, settings, clock, key)
            ),
            stats=StatsService(storage),
            spool=spool,
            fanout=Fanout(storage, spool, settings, clock, key),
            reporter=OutcomeReporter(storage, spool, clock, key),
            tracker=Tracker(storage, settings, clock, key),
            events=EventService(storage),
            webhooks=WebhookService(
                storage, clock, parse_networks(settings.webhook_allowed_networks)
            ),
        )

    @cached_property
    def audit(self) -> AuditTrail:
        """The tenants' tamper-evident audit trails (issue 8)."""
        return AuditTrail(self.storage, self.clock)

    @cached_property
    def governance(self) -> Governance:
        """Lists' retention rules and the processing register (issue 8)."""
        return Governance(self.storage, self.clock)

    @cached_property
    def repermissions(self) -> Repermissions:
        """Retention and consent expiry: re-permission emails and their deadlines (issue 8)."""
        mailer = RepermissionMailer(self.settings, self.spool, self.dkim_keys, self.secret_key)
        return Repermissions(self.storage, self.clock, self.secret_key, self.settings, mailer)

    @cached_property
    def privacy_rights(self) -> DataSubjectRights:
        """Data-subject requests: access, portability, rectification, erasure, … (issue 8)."""
        return DataSubjectRights(self.storage, self.clock, self.secret_key, self.spool)

    @cached_property
    def campaign_control(self) -> CampaignControl:
        """Schedule, pause, resume, cancel and progress of campaigns (issue 6)."""
        return CampaignControl(self.storage, self.clock, self.campaigns, self.fanout, self.spool)

    @cached_property
    def ab_tests(self) -> AbTestService:
        """A/B/n tests of campaigns (issue 6)."""
        return AbTestService(self.storage, self.clock, self.campaigns, self.campaign_control)

    @cached_property
    def policy(self) -> PolicyService:
        """The sending policy: evaluation, state, operator lifts (issue 6)."""
        return PolicyService(self.storage, self.settings, self.clock, self.spool)

    @cached_property
    def sender_domains(self) -> SenderDomainService:
        """Sender domains: ownership token, SPF / DKIM / DMARC checks (issue 6)."""
        return SenderDomainService(self.storage, self.settings, self.clock, self.dkim_keys)

    @cached_property
    def content_checks(self) -> ContentChecks:
        """The content checklist of campaigns (issue 6)."""
        return ContentChecks(self.storage)

    def scheduler(self) -> Scheduler:
        """A scheduler owned by this process."""
        return Scheduler(self.storage, self.fanout, self.clock, owner=_owner("scheduler"))

    def resolver(self) -> MxResolver:
        """Real DNS, or the sandbox internet's zone file in front of it."""
        dns = DnsMxResolver()
        if self.settings.resolver == "sandbox":
            return StaticMxResolver.from_zone_file(zone_path(self.settings.data_dir), fallback=dns)
        return dns

    def worker(self, resolver: MxResolver | None = None) -> DeliveryWorker:
        """A delivery worker owned by this process."""
        return DeliveryWorker(
            spool=self.spool,
            reporter=self.reporter,
            resolver=resolver or self.resolver(),
            settings=self.settings,
            clock=self.clock,
            owner=_owner("worker"),
        )

    def webhook_deliverer(self) -> WebhookDeliverer:
        """Sends the webhook outbox of every tenant."""
        return WebhookDeliverer(
            self.storage,
            self.settings,
            self.clock,
            allowed=parse_networks(self.settings.webhook_allowed_networks),
        )

    def close(self) -> None:
        """Release database connections."""
        self.storage.dispose()


def _owner(role: str) -> str:
    # Unique per process and per object, readable in the spool for operators.
    return f"{role}@{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"
