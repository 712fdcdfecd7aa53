"""The composition root: builds every service of one process from the settings.

This is the one module that builds services; a service receives the services
it uses (and the implementations of the ports it declares) here, never
builds them itself. There are no globals or service locators; the edges
(HTTP, SMTP, engine, CLI) receive a `Services` and call the use cases on it.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from courriel.accounts.credentials import Credentials
from courriel.accounts.invitations import InvitationService
from courriel.accounts.passkeys import PasskeyService, forget_passkeys
from courriel.accounts.reset import PasswordResets
from courriel.accounts.roles import RoleService, capabilities_for
from courriel.accounts.service import ApiKeyService
from courriel.accounts.sessions import SessionService
from courriel.accounts.signin import SignIn
from courriel.accounts.totp import TotpService, forget_recovery_codes
from courriel.accounts.users import UserService
from courriel.audience.branding import BrandingService
from courriel.audience.export import ExportService
from courriel.audience.hygiene.maildomains import MailDomains
from courriel.audience.hygiene.screen import ListHygiene
from courriel.audience.importer import ImportService
from courriel.audience.personalization import AudienceDirectory
from courriel.audience.properties import PropertyService
from courriel.audience.retention import RetentionService
from courriel.audience.segments.service import SegmentService
from courriel.audience.service import AudienceService
from courriel.audience.signup import SignupService
from courriel.audience.sunset_policy import SunsetService
from courriel.audience.suppressions import SuppressionService
from courriel.automation.catalogue_service import WorkflowCatalogue
from courriel.automation.engine import AutomationEngine
from courriel.automation.events import CustomEvents
from courriel.automation.runner import StepRunner
from courriel.automation.sending import StepSender
from courriel.automation.service import WorkflowService
from courriel.campaigns.abtest import AbTestService
from courriel.campaigns.control import CampaignControl
from courriel.campaigns.fanout import Fanout
from courriel.campaigns.scheduler import Scheduler
from courriel.campaigns.service import CampaignService
from courriel.campaigns.viewonline import ViewOnline
from courriel.config import Settings
from courriel.config.profiles import provider_name
from courriel.content.dkimkeys import DkimKeyService
from courriel.content.mailer import Mailer
from courriel.content.service import TemplateService
from courriel.core.attempts import FailureThrottle
from courriel.core.audit import AuditTrail
from courriel.core.clock import Clock, SystemClock
from courriel.core.files import private_directory
from courriel.core.secrets import load_secret_key
from courriel.core.storage import Storage
from courriel.core.tenancy import TenantService
from courriel.delivery.mx import DnsMxResolver, MxResolver, StaticMxResolver
from courriel.delivery.reporting import OutcomeReporter
from courriel.delivery.spool import Spool
from courriel.delivery.warmup import WarmupPlans
from courriel.delivery.worker import DeliveryWorker
from courriel.events.service import EventService
from courriel.events.webhooks.deliverer import WebhookDeliverer
from courriel.events.webhooks.endpoints import WebhookService
from courriel.events.webhooks.ssrf import parse_networks
from courriel.messages.events import MessageEventStyles
from courriel.messages.idempotency import IdempotencyKeys
from courriel.messages.relayed import RelayedMail
from courriel.messages.service import TransactionalService
from courriel.operations.backup.service import BackupService
from courriel.operations.offboarding import Offboarding
from courriel.operations.pools.service import PoolService
from courriel.policy.blocklists import BlocklistWatch
from courriel.policy.bulksender import BulkSenderRules
from courriel.policy.checks import ContentChecks
from courriel.policy.domains import SenderDomainService
from courriel.policy.enforcement import PolicyAllowance
from courriel.policy.gate import send_checks
from courriel.policy.links.preferences import LinkCheckPreferences
from courriel.policy.links.service import LinkChecker
from courriel.policy.service import PolicyService
from courriel.policy.spamassassin import SpamAssassin, spamd_address_file
from courriel.privacy.center import PrivacyCenter
from courriel.privacy.governance import Governance, Notice
from courriel.privacy.repermission import Repermissions
from courriel.privacy.repermission_mail import RepermissionMailer
from courriel.privacy.rights import DataSubjectRights
from courriel.sandbox.zone import zone_path
from courriel.tracking.bounces import ReturnProcessor
from courriel.tracking.mailto import MailtoUnsubscribes
from courriel.tracking.outcomes import TenantOutcomes
from courriel.tracking.service import StatsService
from courriel.tracking.tracker import Tracker


@dataclass
class Services:
    """Everything the edges can call."""

    settings: Settings
    clock: Clock
    storage: Storage
    secret_key: bytes
    tenants: TenantService
    audit: AuditTrail
    api_keys: ApiKeyService
    mailer: Mailer
    audience: AudienceService
    signups: SignupService
    branding: BrandingService
    templates: TemplateService
    dkim_keys: DkimKeyService
    campaigns: CampaignService
    campaign_control: CampaignControl
    ab_tests: AbTestService
    stats: StatsService
    spool: Spool
    fanout: Fanout
    reporter: OutcomeReporter
    returns: ReturnProcessor
    tracker: Tracker
    events: EventService
    webhooks: WebhookService
    policy: PolicyService
    sender_domains: SenderDomainService
    content_checks: ContentChecks
    link_checker: LinkChecker
    link_check_preferences: LinkCheckPreferences
    spamassassin: SpamAssassin
    hygiene: ListHygiene
    blocklists: BlocklistWatch
    bulk_sender: BulkSenderRules
    sunset: SunsetService
    governance: Governance
    repermissions: Repermissions
    privacy_rights: DataSubjectRights
    privacy_center: PrivacyCenter
    backups: BackupService
    offboarding: Offboarding
    pools: PoolService
    view_online: ViewOnline
    mailto_unsubscribes: MailtoUnsubscribes
    messages: TransactionalService
    idempotency: IdempotencyKeys
    users: UserService
    sessions: SessionService
    sign_in: SignIn
    credentials: Credentials
    totp: TotpService
    passkeys: PasskeyService
    invitations: InvitationService
    roles: RoleService
    password_resets: PasswordResets
    workflows: WorkflowService
    custom_events: CustomEvents
    workflow_templates: WorkflowCatalogue

    @classmethod
    def build(cls, settings: Settings, clock: Clock | None = None) -> Services:
        """Open the databases named by the settings and build the services on them."""
        clock = clock or SystemClock()
        private_directory(Path(settings.data_dir))
        storage = Storage(settings)
        key = load_secret_key(settings)
        # The audit chain is keyed by the installation secret (core.audit).
        storage.audit_key = key
        pools = PoolService(
            storage, settings, clock, WarmupPlans(storage.spool, settings.warmup_timezone)
        )
        spool = Spool(storage.spool, pools=pools.snapshots)

        def sending_ips() -> list[str]:
            # Blocklists and bulk-sender rules watch every address mail leaves
            # from: the configured ones and every IP pool's.
            return [*settings.sending_ips, *pools.sending_addresses()]

        mailer = Mailer(settings, spool, key)
        audit = AuditTrail(storage, clock)
        roles = RoleService(storage, clock, audit)
        dkim_keys = DkimKeyService(storage, clock, key)
        policy = PolicyService(storage, settings, clock, mailer)
        sender_domains = SenderDomainService(storage, settings, clock, dkim_keys)
        templates = TemplateService(
            storage,
            clock,
            settings=settings,
            mailer=mailer,
            secret_key=key,
            dkim_keys=dkim_keys,
            contacts=AudienceDirectory(storage, clock),
        )
        spamassassin = SpamAssassin(
            settings.spamd_address,
            settings.spamd_timeout_seconds,
            spamd_address_file(settings) if settings.spamd_start else None,
        )
        hygiene = list_hygiene(settings)
        link_checker = _link_checker(storage, settings, clock)
        link_check_preferences = LinkCheckPreferences(storage, settings, clock, audit)
        content_checks = ContentChecks(
            storage,
            clock,
            link_checker,
            link_check_preferences,
            templates=templates,
            scorer=spamassassin,
        )
        branding = BrandingService(storage, clock, sender_domains.verified_names)
        campaigns = CampaignService(
            storage, clock, send_checks(policy, sender_domains, content_checks)
        )
        fanout = Fanout(
            storage,
            spool,
            settings,
            clock,
            key,
            dkim_keys=dkim_keys,
            allowance=PolicyAllowance(storage.control),
        )
        campaign_control = CampaignControl(storage, clock, campaigns, fanout, spool)
        privacy_rights = DataSubjectRights(
            storage,
            clock,
            key,
            spool,
            Notice(settings.privacy_controller, settings.privacy_dpo, settings.privacy_complaint),
        )
        backups = BackupService(storage, settings, clock)
        tracker = Tracker(storage, settings, clock, key)
        users = UserService(storage, clock, audit)
        users.on_second_factor_reset(forget_recovery_codes)
        users.on_second_factor_reset(forget_passkeys)
        sessions = SessionService(
            storage,
            clock,
            idle=dt.timedelta(minutes=settings.session_idle_minutes),
            absolute=dt.timedelta(hours=settings.session_absolute_hours),
            capabilities=capabilities_for,
            principal_of=roles.principal_of,
        )
        credentials = Credentials(storage, clock, audit)
        # One throttle for every way of guessing or flooding an account.
        throttle = FailureThrottle(clock)
        workflows = WorkflowService(
            storage, clock, send_checks(policy, sender_domains, content_checks)
        )
        return cls(
            settings=settings,
            clock=clock,
            storage=storage,
            secret_key=key,
            tenants=TenantService(storage, clock, on_created=audit.anchor),
            audit=audit,
            api_keys=ApiKeyService(storage, clock, key, audit, roles),
            mailer=mailer,
            audience=AudienceService(
                storage,
                clock,
                key,
                properties=PropertyService(storage, clock),
                suppressions=SuppressionService(storage, clock, key),
                imports=ImportService(storage, clock, key, hygiene=hygiene),
                exports=ExportService(storage, clock),
                segments=SegmentService(storage, clock),
                retention=RetentionService(storage, clock),
            ),
            signups=SignupService(
                storage,
                clock,
                key,
                settings,
                mailer,
                branding=branding,
                dkim_keys=dkim_keys,
                hygiene=hygiene,
            ),
            branding=branding,
            templates=templates,
            dkim_keys=dkim_keys,
            campaigns=campaigns,
            campaign_control=campaign_control,
            ab_tests=AbTestService(storage, clock, campaigns, campaign_control),
            stats=StatsService(storage),
            spool=spool,
            fanout=fanout,
            reporter=OutcomeReporter(
                spool,
                TenantOutcomes(storage, clock, key),
                provider_of=lambda lane: provider_name(lane, settings.throttle_profiles),
                now=clock.now,
            ),
            returns=ReturnProcessor(storage, clock, key),
            tracker=tracker,
            events=EventService(storage, clock),
            webhooks=WebhookService(
                storage, clock, parse_networks(settings.webhook_allowed_networks)
            ),
            policy=policy,
            sender_domains=sender_domains,
            content_checks=content_checks,
            link_checker=link_checker,
            link_check_preferences=link_check_preferences,
            spamassassin=spamassassin,
            hygiene=hygiene,
            blocklists=BlocklistWatch(storage, settings, clock, sending_ips=sending_ips),
            bulk_sender=BulkSenderRules(
                storage, settings, clock, sender_domains, sending_ips=sending_ips
            ),
            sunset=SunsetService(storage, clock, SegmentService(storage, clock)),
            governance=Governance(storage, clock),
            repermissions=Repermissions(
                storage,
                clock,
                key,
                settings,
                RepermissionMailer(settings, mailer, dkim_keys, key),
            ),
            privacy_rights=privacy_rights,
            privacy_center=PrivacyCenter(storage, clock, key, privacy_rights),
            backups=backups,
            offboarding=Offboarding(storage, settings, clock, backups),
            pools=pools,
            view_online=ViewOnline(storage, settings, key),
            mailto_unsubscribes=MailtoUnsubscribes(tracker, settings.return_path_domain),
            messages=TransactionalService(
                storage,
                settings,
                clock,
                key,
                spool=spool,
                templates=templates,
                dkim_keys=dkim_keys,
                sender_domains=sender_domains,
                policy=policy,
                links=link_checker,
                link_preferences=link_check_preferences,
            ),
            idempotency=IdempotencyKeys(storage, clock),
            users=users,
            sessions=sessions,
            sign_in=SignIn(storage, clock, audit, sessions, throttle),
            credentials=credentials,
            totp=TotpService(storage, clock, key, audit),
            passkeys=PasskeyService(storage, clock, settings.public_url, audit),
            invitations=InvitationService(
                storage,
                clock,
                settings,
                key,
                users=users,
                credentials=credentials,
                mailer=mailer,
                audit=audit,
            ),
            roles=roles,
            password_resets=PasswordResets(
                storage,
                clock,
                settings,
                key,
                credentials=credentials,
                mailer=mailer,
                audit=audit,
                throttle=throttle,
            ),
            workflows=workflows,
            custom_events=CustomEvents(storage, clock),
            workflow_templates=WorkflowCatalogue(
                storage,
                workflows,
                lambda p, name, subject, html: templates.create(p, name, subject, html)[0].id,
            ),
        )

    def scheduler(self) -> Scheduler:
        """A scheduler owned by this process."""
        return Scheduler(self.storage, self.fanout, self.clock, owner=_owner("scheduler"))

    def blocklist_owner(self) -> str:
        """The lease owner name of this process's blocklist watch."""
        return _owner("blocklists")

    def automation(self) -> AutomationEngine:
        """An automation engine owned by this process (workflows' triggers and steps)."""
        sender = StepSender(
            self.storage,
            self.spool,
            self.settings,
            self.clock,
            self.secret_key,
            dkim_keys=self.dkim_keys,
            allowance=PolicyAllowance(self.storage.control),
        )
        runner = StepRunner(self.storage, self.clock, self.secret_key, sender)
        return AutomationEngine(
            self.storage,
            self.clock,
            runner,
            owner=_owner("automation"),
            batch=self.settings.automation_batch_size,
            lease=dt.timedelta(seconds=self.settings.automation_lease_seconds),
        )

    def resolver(self) -> MxResolver:
        """Real DNS, or the sandbox internet's zone file in front of it."""
        return mx_resolver(self.settings)

    def worker(self, resolver: MxResolver | None = None) -> DeliveryWorker:
        """A delivery worker owned by this process."""
        return DeliveryWorker(
            spool=self.spool,
            reporter=self.reporter,
            resolver=resolver or self.resolver(),
            settings=self.settings,
            clock=self.clock,
            owner=_owner("worker"),
            sources=self.pools.snapshots,
        )

    def webhook_deliverer(self) -> WebhookDeliverer:
        """Sends the webhook outbox of every tenant."""
        return WebhookDeliverer(
            self.storage,
            self.settings,
            self.clock,
            allowed=parse_networks(self.settings.webhook_allowed_networks),
            styles=MessageEventStyles(self.storage),
        )

    def relayed_mail(self) -> RelayedMail:
        """Relayed (SMTP-submitted) mail, for a relay of this process."""
        return RelayedMail(
            storage=self.storage,
            settings=self.settings,
            clock=self.clock,
            secret_key=self.secret_key,
            api_keys=self.api_keys,
            sender_domains=self.sender_domains,
            dkim_keys=self.dkim_keys,
            spool=self.spool,
            transactional=self.messages,
            policy=self.policy,
        )

    def close(self) -> None:
        """Release database connections."""
        self.storage.dispose()


def _link_checker(storage: Storage, settings: Settings, clock: Clock) -> LinkChecker:
    """The link checker; in sandbox mode the zone file pins the simulated hosts."""
    if settings.resolver != "sandbox":
        return LinkChecker(storage, settings, clock)
    zone = StaticMxResolver.from_zone_file(zone_path(settings.data_dir))
    return LinkChecker(storage, settings, clock, pinned=zone.address_of, records=zone.records)


def _owner(role: str) -> str:
    # Unique per process and per object, readable in the spool for operators.
    return f"{role}@{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


def mx_resolver(settings: Settings) -> MxResolver:
    """Real DNS, or the sandbox internet's zone file in front of it."""
    dns = DnsMxResolver()
    if settings.resolver == "sandbox":
        return StaticMxResolver.from_zone_file(zone_path(settings.data_dir), fallback=dns)
    return dns


def list_hygiene(settings: Settings) -> ListHygiene:
    """The hygiene rules of imports and sign-ups, asking DNS as delivery does."""
    domains = MailDomains(
        mx_resolver(settings),
        enabled=settings.hygiene_dns_check,
        concurrency=settings.hygiene_dns_concurrency,
        timeout=settings.hygiene_dns_timeout_seconds,
        probe=settings.hygiene_dns_probe,
    )
    return ListHygiene(Path(settings.data_dir), domains)
