"""Tenant offboarding: suspended at once, deleted after a grace period, certified.

`request` stops the tenant now: its API keys and sign-ins are refused (the
tenant is no longer active), its campaigns are no longer fanned out, and its
queued messages leave the spool. The data stays for the grace period
(`tenant_deletion_grace_days`, 20 by default: MailUp deletes within 20 days
of the end of a contract), so a mistaken request can be cancelled. Then
`run_due`, run by the engine, deletes the tenant's database, every row naming
it in the control and spool databases, and its files in every backup set,
and keeps a certificate saying what went and when.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, delete, select, text

from courriel.config import Settings
from courriel.core.clock import Clock
from courriel.core.db import ControlBase, SpoolBase, transaction
from courriel.core.errors import ConflictError, NotFoundError
from courriel.core.models import Tenant, TenantStatus
from courriel.core.storage import Storage
from courriel.operations.backup.service import BackupService
from courriel.operations.models import TenantOffboarding


@dataclass(frozen=True)
class Pending:
    """A requested deletion."""

    tenant_id: str
    requested_at: dt.datetime
    delete_after: dt.datetime
    deleted_at: dt.datetime | None
    certificate: dict[str, Any] | None


def _pending(row: TenantOffboarding) -> Pending:
    return Pending(
        row.tenant_id, row.requested_at, row.delete_after, row.deleted_at, row.certificate
    )


class Offboarding:
    """Request, cancel and carry out tenant deletions."""

    def __init__(
        self, storage: Storage, settings: Settings, clock: Clock, backups: BackupService
    ) -> None:
        self._storage = storage
        self._settings = settings
        self._clock = clock
        self._backups = backups

    def request(self, tenant_id: str, actor: str) -> Pending:
        """Suspend the tenant now and schedule its deletion."""
        now = self._clock.now()
        grace = dt.timedelta(days=self._settings.tenant_deletion_grace_days)
        with transaction(self._storage.control) as session:
            tenant = session.get(Tenant, tenant_id)
            if tenant is None:
                raise NotFoundError(f"unknown tenant {tenant_id!r}")
            if session.get(TenantOffboarding, tenant_id) is not None:
                raise ConflictError(f"the deletion of {tenant_id!r} is already requested")
            tenant.status = TenantStatus.DISABLED
            row = TenantOffboarding(
                tenant_id=tenant_id, requested_at=now, requested_by=actor, delete_after=now + grace
            )
            session.add(row)
            pending = _pending(row)
        # Nothing more goes out for it: queued messages leave the spool.
        _delete_tenant_rows(self._storage.spool_engine, SpoolBase.metadata, tenant_id)
        return pending

    def cancel(self, tenant_id: str) -> None:
        """Undo a request during the grace period (queued messages are not restored)."""
        with transaction(self._storage.control) as session:
            row = session.get(TenantOffboarding, tenant_id)
            if row is None:
                raise NotFoundError(f"no deletion of {tenant_id!r} is pending")
            if row.deleted_at is not None:
                raise ConflictError(f"{tenant_id!r} was deleted on {row.deleted_at:%Y-%m-%d}")
            tenant = session.get(Tenant, tenant_id)
            if tenant is not None:
                tenant.status = TenantStatus.ACTIVE
            session.delete(row)

    def get(self, tenant_id: str) -> Pending:
        """A pending or carried-out deletion, with its certificate once done."""
        with self._storage.control() as session:
            row = session.get(TenantOffboarding, tenant_id)
            if row is None:
                raise NotFoundError(f"no deletion of {tenant_id!r} was requested")
            return _pending(row)

    def run_due(self) -> list[Pending]:
        """Delete every tenant whose grace period is over; returns their certificates."""
        now = self._clock.now()
        with self._storage.control() as session:
            due = list(
                session.scalars(
                    select(TenantOffboarding.tenant_id).where(
                        TenantOffboarding.deleted_at.is_(None),
                        TenantOffboarding.delete_after <= now,
                    )
                )
            )
        return [self._delete(tenant_id) for tenant_id in due]

    def _delete(self, tenant_id: str) -> Pending:
        with self._storage.control() as session:
            tenant = session.get(Tenant, tenant_id)
            url = tenant.database_url if tenant is not None else None
            name = tenant.name if tenant is not None else ""
        self._storage.drop_tenant_database(tenant_id, url)
        database = "postgresql" if url else "sqlite"
        if url is None:
            for suffix in ("-wal", "-shm", "-journal"):
                Path(f"{self._storage.tenant_sqlite_path(tenant_id)}{suffix}").unlink(
                    missing_ok=True
                )
        rows = _delete_tenant_rows(self._storage.spool_engine, SpoolBase.metadata, tenant_id)
        rows |= _delete_tenant_rows(
            self._storage.control_engine,
            ControlBase.metadata,
            tenant_id,
            keep={"tenant_offboarding"},
        )
        with self._storage.control_engine.begin() as conn:
            rows["tenants"] = conn.execute(delete(Tenant).where(Tenant.id == tenant_id)).rowcount
        backup_files = self._backups.forget_tenant(tenant_id)
        for engine in (self._storage.control_engine, self._storage.spool_engine):
            _compact(engine)
        now = self._clock.now()
        certificate = {
            "tenant_id": tenant_id,
            "deleted_at": now.isoformat(),
            "database": database,
            "rows_deleted": {k: v for k, v in sorted(rows.items()) if v},
            "backup_files_deleted": backup_files,
            "traces_found": self._traces(name),
        }
        with transaction(self._storage.control) as session:
            row = session.get(TenantOffboarding, tenant_id)
            assert row is not None
            row.deleted_at = now
            row.certificate = certificate
            return _pending(row)

    def _traces(self, name: str) -> list[str]:
        """Embedded files that still hold the tenant's name (none, when all went well)."""
        if self._settings.database_url or len(name) < 4:
            return []
        needle = name.encode()
        root = Path(self._settings.data_dir)
        return [
            str(path.relative_to(root))
            for path in sorted(root.rglob("*"))
            if path.is_file() and needle in path.read_bytes()
        ]


def _delete_tenant_rows(
    engine: Engine,
    metadata: MetaData,
    tenant_id: str,
    keep: frozenset[str] | set[str] = frozenset(),
) -> dict[str, int]:
    """Delete the rows naming `tenant_id` from every table of a family that has the column."""
    counts: dict[str, int] = {}
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            if table.name in keep or "tenant_id" not in table.c:
                continue
            result = conn.execute(delete(table).where(table.c.tenant_id == tenant_id))
            counts[table.name] = result.rowcount
    return counts


def _compact(engine: Engine) -> None:
    """Make SQLite forget the deleted rows' bytes: zero freed pages, then rebuild the file."""
    if engine.dialect.name != "sqlite":
        return
    database = engine.url.database
    assert database is not None
    engine.dispose()
    with contextlib.closing(sqlite3.connect(database)) as db:
        db.execute("PRAGMA secure_delete=ON")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("VACUUM")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
