"""Wiring: builds every service of one process from the settings, explicitly.

There are no globals or service locators; edges (HTTP, CLI) receive a
`Services` and call the use cases on it.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from courriel.accounts.service import ApiKeyService
from courriel.audience.service import AudienceService
from courriel.campaigns.fanout import Fanout
from courriel.campaigns.scheduler import Scheduler
from courriel.campaigns.service import CampaignService
from courriel.config import Settings
from courriel.content.service import TemplateService
from courriel.core.clock import Clock, SystemClock
from courriel.core.secrets import load_secret_key
from courriel.core.storage import Storage
from courriel.core.tenancy import TenantService
from courriel.delivery.mx import DnsMxResolver, MxResolver, StaticMxResolver
from courriel.delivery.reporting import OutcomeReporter
from courriel.delivery.spool import Spool
from courriel.delivery.worker import DeliveryWorker
from courriel.sandbox.zone import zone_path
from courriel.tracking.service import StatsService


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
    campaigns: CampaignService
    stats: StatsService
    spool: Spool
    fanout: Fanout
    reporter: OutcomeReporter

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
            templates=TemplateService(storage, clock),
            campaigns=CampaignService(storage, clock),
            stats=StatsService(storage),
            spool=spool,
            fanout=Fanout(storage, spool, settings, clock, key),
            reporter=OutcomeReporter(storage, spool, clock, key),
        )

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

    def close(self) -> None:
        """Release database connections."""
        self.storage.dispose()


def _owner(role: str) -> str:
    # Unique per process and per object, readable in the spool for operators.
    return f"{role}@{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"
