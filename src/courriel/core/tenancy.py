"""Tenants: provisioning their databases and migrating every database."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select

from courriel.core import migrate
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.errors import InvalidInputError, NotFoundError
from courriel.core.ids import new_id
from courriel.core.models import Tenant
from courriel.core.storage import Storage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MigrationReport:
    """What `migrate_all` touched: database name → revision reached."""

    revisions: dict[str, str | None]


class TenantProvisioner(Protocol):
    """How a new tenant gets its database."""

    def __call__(self, storage: Storage, tenant_id: str) -> str | None:
        """Create the database of tenant `tenant_id`, at the newest schema of the
        tenant family, and return its URL (None = the embedded file).

        Courriel provisions with `migrated_database`; a test suite may copy a
        database it migrated once instead. If this raises, `TenantService.create`
        removes whatever it left behind.
        """


def migrated_database(storage: Storage, tenant_id: str) -> str | None:
    """See `TenantProvisioner`: an empty database, brought to the newest schema by Alembic."""
    url = storage.new_tenant_database_url(tenant_id)
    migrate.upgrade(storage.tenant_engine_for(tenant_id, url), "tenant")
    return url


class TenantService:
    """Creates tenants and keeps every database at the newest schema."""

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        provision: TenantProvisioner | None = None,
        on_created: Callable[[str], object] | None = None,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._provision = provision or migrated_database
        # Told each new tenant's id (the composition root anchors its audit chain).
        self._on_created = on_created

    def migrate_shared(self) -> None:
        """Upgrade the control and spool databases."""
        migrate.upgrade(self._storage.control_engine, "control")
        migrate.upgrade(self._storage.spool_engine, "spool")

    def migrate_all(self) -> MigrationReport:
        """Upgrade control, spool and every tenant database; idempotent."""
        self.migrate_shared()
        revisions: dict[str, str | None] = {
            "control": migrate.current_revision(self._storage.control_engine),
            "spool": migrate.current_revision(self._storage.spool_engine),
        }
        for tenant in self.list():
            engine = self._storage.tenant_engine_for(tenant.id, tenant.database_url)
            migrate.upgrade(engine, "tenant")
            revisions[tenant.id] = migrate.current_revision(engine)
        return MigrationReport(revisions=revisions)

    def create(self, name: str) -> Tenant:
        """Provision a tenant: its own database, migrated, then recorded in control."""
        name = name.strip()
        if not name or len(name) > 200:
            raise InvalidInputError("name", "must be 1 to 200 characters")
        tenant_id = new_id("ten")
        try:
            url = self._provision(self._storage, tenant_id)
            tenant = Tenant(id=tenant_id, name=name, database_url=url, created_at=self._clock.now())
            with transaction(self._storage.control) as session:
                session.add(tenant)
        except BaseException:
            # A tenant exists only once its database is ready and recorded;
            # a half-made database is removed so nothing is left behind.
            self._storage.drop_tenant_database(
                tenant_id, self._storage.tenant_database_url(tenant_id)
            )
            raise
        log.info("tenant provisioned", extra={"tenant_id": tenant_id})
        if self._on_created is not None:
            self._on_created(tenant_id)
        return tenant

    def get(self, tenant_id: str) -> Tenant:
        """One tenant, or NotFoundError."""
        with self._storage.control() as session:
            tenant = session.get(Tenant, tenant_id)
        if tenant is None:
            raise NotFoundError(f"unknown tenant {tenant_id!r}")
        return tenant

    def list(self) -> list[Tenant]:
        """All tenants, oldest first."""
        with self._storage.control() as session:
            return list(session.scalars(select(Tenant).order_by(Tenant.created_at, Tenant.id)))
