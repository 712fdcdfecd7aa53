"""Where each database lives, and the engines to reach them.

The embedded default is SQLite files under the data directory (control.db,
spool.db, tenants/<id>.db). With `database_url` set, the same databases are
PostgreSQL databases on that server, created on demand. The control database
records each tenant's database URL, so tenants can later live on any number
of clusters.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
from pathlib import Path

from sqlalchemy import Engine, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from courriel.config import Settings
from courriel.core.db import create_db_engine, make_session_factory
from courriel.core.errors import NotFoundError
from courriel.core.files import private_directory
from courriel.core.models import Tenant

# What a database name we create or copy may look like (lower-case, digits, "_").
DATABASE_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")


def tenant_audit_key(secret: bytes | None, tenant_id: str) -> bytes | None:
    """The key of one tenant's audit chain, derived from the installation secret."""
    if secret is None:
        return None
    return hmac.new(secret, f"audit-chain:{tenant_id}".encode(), hashlib.sha256).digest()


class Storage:
    """The engines of one process: control, spool and a cache of tenant engines."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._server: URL | None = (
            make_url(settings.database_url) if settings.database_url else None
        )
        if self._server is None:
            private_directory(Path(settings.data_dir))
            private_directory(Path(settings.data_dir, "tenants"))
        self.control_engine = self._engine(self._url_for("control"))
        self.spool_engine = self._engine(self._url_for("spool"))
        self.control: sessionmaker[Session] = make_session_factory(self.control_engine)
        self.spool: sessionmaker[Session] = make_session_factory(self.spool_engine)
        self._tenant_engines: dict[str, Engine] = {}
        self._tenant_sessions: dict[str, sessionmaker[Session]] = {}
        self._lock = threading.Lock()
        # The installation secret the audit chain is keyed with (core.audit);
        # set by the composition root before any tenant session is opened.
        self.audit_key: bytes | None = None

    def _engine(self, url: str | URL) -> Engine:
        # The pool of each database this process uses, sized by the settings.
        return create_db_engine(
            url, self.settings.database_pool_size, self.settings.database_max_overflow
        )

    @property
    def is_postgres(self) -> bool:
        """Whether the databases live on a PostgreSQL server."""
        return self._server is not None

    def _url_for(self, name: str) -> URL:
        if self._server is None:
            return make_url(f"sqlite:///{Path(self.settings.data_dir) / f'{name}.db'}")
        database = f"{self.settings.database_prefix}_{name}"
        self._ensure_database(database)
        return self._server.set(database=database)

    def tenant_database_url(self, tenant_id: str) -> str | None:
        """Where a tenant's database lives by default (None = embedded file); creates nothing."""
        if self._server is None:
            return None
        database = f"{self.settings.database_prefix}_t_{tenant_id.removeprefix('ten_')}"
        return self._server.set(database=database).render_as_string(hide_password=False)

    def new_tenant_database_url(self, tenant_id: str, template: str | None = None) -> str | None:
        """Create the database of a new tenant and return its URL (None = embedded file).

        With `template`, the PostgreSQL database is a copy of that database
        (CREATE DATABASE … TEMPLATE) instead of an empty one; the embedded
        default has no server to copy on, so it refuses a template.
        """
        url = self.tenant_database_url(tenant_id)
        if url is None:
            if template is not None:
                raise ValueError("a template database needs a PostgreSQL server")
            return None
        database = make_url(url).database
        assert database is not None
        self._ensure_database(database, template)
        return url

    def _ensure_database(self, database: str, template: str | None = None) -> None:
        assert self._server is not None
        # CREATE DATABASE cannot run inside a transaction, hence AUTOCOMMIT.
        # The name is built from our own prefix and a random id (checked by the
        # settings pattern and `new_id`), never from user input; a template
        # name comes from the caller's code and must be as plain.
        if template is not None and not DATABASE_NAME.fullmatch(template):
            raise ValueError(f"not a plain database name: {template!r}")
        copy = f' TEMPLATE "{template}"' if template else ""
        admin = create_db_engine(self._server).execution_options(isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                exists = conn.execute(
                    text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": database}
                ).first()
                if exists is None:
                    conn.exec_driver_sql(f'CREATE DATABASE "{database}"{copy}')
        finally:
            admin.dispose()

    def drop_tenant_database(self, tenant_id: str, url: str | None) -> None:
        """Destroy a tenant's database (used when provisioning fails half-way)."""
        self.forget_tenant(tenant_id)
        if url is None:
            Path(self.tenant_sqlite_path(tenant_id)).unlink(missing_ok=True)
            return
        assert self._server is not None
        database = make_url(url).database
        admin = create_db_engine(self._server).execution_options(isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}"')
        finally:
            admin.dispose()

    def tenant_sqlite_path(self, tenant_id: str) -> Path:
        """The embedded file of a tenant's database."""
        return Path(self.settings.data_dir) / "tenants" / f"{tenant_id}.db"

    def tenant_engine_for(self, tenant_id: str, url: str | None) -> Engine:
        """The engine of a tenant whose database location is already known."""
        with self._lock:
            engine = self._tenant_engines.get(tenant_id)
            if engine is None:
                target = url or f"sqlite:///{self.tenant_sqlite_path(tenant_id)}"
                engine = self._engine(target)
                self._tenant_engines[tenant_id] = engine
                # Each session knows its tenant's audit key, so every writer of
                # the trail (core.audit.record_entry) keys the chain alike.
                info = {"audit_key": tenant_audit_key(self.audit_key, tenant_id)}
                self._tenant_sessions[tenant_id] = make_session_factory(engine, info)
            return engine

    def tenant(self, tenant_id: str) -> sessionmaker[Session]:
        """Session factory of one tenant's database; unknown tenants raise NotFoundError."""
        with self._lock:
            factory = self._tenant_sessions.get(tenant_id)
        if factory is not None:
            return factory
        with self.control() as session:
            row = session.execute(select(Tenant.database_url).where(Tenant.id == tenant_id)).first()
        if row is None:
            raise NotFoundError(f"unknown tenant {tenant_id!r}")
        self.tenant_engine_for(tenant_id, row[0])
        return self._tenant_sessions[tenant_id]

    def forget_tenant(self, tenant_id: str) -> None:
        """Close and drop the cached engine of a tenant."""
        with self._lock:
            engine = self._tenant_engines.pop(tenant_id, None)
            self._tenant_sessions.pop(tenant_id, None)
        if engine is not None:
            engine.dispose()

    def dispose(self) -> None:
        """Close every connection pool of this process."""
        for tenant_id in list(self._tenant_engines):
            self.forget_tenant(tenant_id)
        self.control_engine.dispose()
        self.spool_engine.dispose()
