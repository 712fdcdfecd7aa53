"""Databases for tests: migrated once per pytest process, copied for each test.

Every test has databases of its own (DESIGN.md, "Storage": control, spool and
one per tenant). Running every Alembic migration of each family for each of
them was a large share of the suite's time, so each pytest process (each
xdist worker) migrates one set of template databases per backend, the first
time a test needs it, checks that each is at its family's head revision, and
tests work on copies:

- SQLite: the template files are copied into the test's data directory
  (control.db, spool.db) and to tenants/<id>.db for each new tenant;
- PostgreSQL: CREATE DATABASE … TEMPLATE, for the same three.

Tests about the migrations themselves use `migrated_services`, which runs them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from courriel.config import Settings
from courriel.core import migrate
from courriel.core.clock import Clock
from courriel.core.db import create_db_engine
from courriel.core.storage import Storage
from courriel.core.tenancy import TenantService
from courriel.services import Services

POSTGRES_URL = os.environ.get("COURRIEL_TEST_POSTGRES_URL")
FAMILIES = ("control", "spool", "tenant")
SHARED = ("control", "spool")  # one each per installation; tenants come later


def _migrate_to_head(engine: Engine, family: str) -> None:
    migrate.upgrade(engine, family)
    reached, head = migrate.current_revision(engine), migrate.head_revision(family)
    # A copy of a template that is not at head would hide a migration bug
    # behind a test failure somewhere else.
    assert reached == head, f"the {family} template is at {reached}, not at head {head}"


def _admin(server_url: str) -> Engine:
    # CREATE and DROP DATABASE cannot run inside a transaction.
    return create_engine(server_url, isolation_level="AUTOCOMMIT")


def drop_databases(server_url: str, prefix: str) -> None:
    """Drop every PostgreSQL database named `<prefix>_…`.

    PostgreSQL (15 at least) makes each DROP DATABASE wait for a checkpoint,
    seconds while other tests write. The drops run side by side, on a
    connection each, so that one checkpoint serves them all.
    """
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            names = list(
                conn.execute(
                    text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                    {"p": f"{prefix}\\_%"},
                ).scalars()
            )

        def drop(name: str) -> None:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        with ThreadPoolExecutor(max(len(names), 1)) as pool:
            list(pool.map(drop, names))
    finally:
        admin.dispose()


class Templates:
    """The migrated template databases of this pytest process, made on first use."""

    def __init__(self, directory: Path, postgres_url: str | None) -> None:
        self._directory = directory
        self._postgres_url = postgres_url
        # Not a test prefix (those are "ct" and eight hex digits), so no
        # test's clean-up can drop a template.
        self._prefix = f"ctemplate{secrets.token_hex(4)}"
        self._lock = threading.Lock()
        self._sqlite_made = False
        self._postgres_made = False

    def sqlite_file(self, family: str) -> Path:
        """The migrated SQLite file of `family`."""
        with self._lock:
            if not self._sqlite_made:
                for each in FAMILIES:
                    self._make_sqlite(each)
                self._sqlite_made = True
        return self._directory / f"{family}.db"

    def _make_sqlite(self, family: str) -> None:
        scratch = self._directory / f"{family}.migrating.db"
        engine = create_db_engine(f"sqlite:///{scratch}")
        try:
            _migrate_to_head(engine, family)
        finally:
            engine.dispose()
        # One self-contained file (no -wal beside it) that a plain copy reproduces.
        with contextlib.closing(sqlite3.connect(scratch)) as db:
            db.execute("VACUUM INTO ?", (str(self._directory / f"{family}.db"),))

    def postgres_name(self, family: str) -> str:
        """The migrated PostgreSQL template database of `family`."""
        with self._lock:
            if not self._postgres_made:
                for each in FAMILIES:
                    self._make_postgres(each)
                self._postgres_made = True
        return f"{self._prefix}_{family}"

    def _make_postgres(self, family: str) -> None:
        assert self._postgres_url is not None, "COURRIEL_TEST_POSTGRES_URL is not set"
        name = f"{self._prefix}_{family}"
        admin = _admin(self._postgres_url)
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            engine = create_db_engine(make_url(self._postgres_url).set(database=name))
            try:
                _migrate_to_head(engine, family)
            finally:
                engine.dispose()
            # A template is copied only while nobody is connected to it: no
            # test, and no autovacuum worker, may connect from now on.
            with admin.connect() as conn:
                conn.exec_driver_sql(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        finally:
            admin.dispose()

    def lay_down(self, settings: Settings) -> None:
        """Put copies of the control and spool templates where `settings` points, unless
        databases are there already (as `Storage` creates them only when missing)."""
        if settings.database_url is None:
            data_dir = Path(settings.data_dir)
            data_dir.mkdir(parents=True, exist_ok=True)
            for family in SHARED:
                target = data_dir / f"{family}.db"
                if not target.exists():
                    shutil.copyfile(self.sqlite_file(family), target)
            return
        assert settings.database_url == self._postgres_url, "templates live on one server"
        templates = {family: self.postgres_name(family) for family in SHARED}
        admin = _admin(settings.database_url)
        try:
            with admin.connect() as conn:
                for family, template in templates.items():
                    name = f"{settings.database_prefix}_{family}"
                    exists = conn.execute(
                        text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
                    ).first()
                    if exists is None:
                        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        finally:
            admin.dispose()

    def provision(self, storage: Storage, tenant_id: str) -> str | None:
        """See `courriel.core.tenancy.TenantProvisioner`: a copy of the tenant template."""
        if storage.is_postgres:
            return storage.new_tenant_database_url(tenant_id, self.postgres_name("tenant"))
        shutil.copyfile(self.sqlite_file("tenant"), storage.tenant_sqlite_path(tenant_id))
        return None

    def drop(self) -> None:
        """Drop the PostgreSQL templates (the SQLite ones go with pytest's temporary files)."""
        if self._postgres_made:
            assert self._postgres_url is not None
            drop_databases(self._postgres_url, self._prefix)


def build_services(
    settings: Settings, templates: Templates, clock: Clock | None = None
) -> Services:
    """What `Services.build` and `TenantService.migrate_shared` give, on copies of
    the templates, with tenants provisioned the same way: no migration runs."""
    templates.lay_down(settings)
    services = Services.build(settings, clock)
    services.tenants = TenantService(
        services.storage, services.clock, templates.provision, on_created=services.audit.anchor
    )
    return services


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    """This process's template databases (each backend's are made when first needed)."""
    made = Templates(tmp_path_factory.mktemp("templates"), POSTGRES_URL)
    yield made
    made.drop()
