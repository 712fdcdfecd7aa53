"""Migrations: up from empty, idempotent, and identical to the models.

Every database here is migrated by Alembic from empty (`migrated_services`), not
copied from the test suite's templates.
"""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from courriel.core import migrate
from courriel.services import Services
from courriel.tables import FAMILIES


@pytest.fixture
def services(migrated_services: Services) -> Services:
    return migrated_services


def _diff(engine: Engine, family: str) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, FAMILIES[family]))


def test_migrate_from_empty_reaches_head_and_matches_models(services: Services) -> None:
    tenant = services.tenants.create("Acme")
    report = services.tenants.migrate_all()
    assert report.revisions["control"] == migrate.head_revision("control")
    assert report.revisions["spool"] == migrate.head_revision("spool")
    assert report.revisions[tenant.id] == migrate.head_revision("tenant")
    tenant_engine = services.storage.tenant_engine_for(tenant.id, tenant.database_url)
    assert _diff(services.storage.control_engine, "control") == []
    assert _diff(services.storage.spool_engine, "spool") == []
    assert _diff(tenant_engine, "tenant") == []
    assert "contacts" in inspect(tenant_engine).get_table_names()
    assert "contacts" not in inspect(services.storage.control_engine).get_table_names()


def test_migrate_twice_changes_nothing(services: Services) -> None:
    services.tenants.create("Acme")
    first = services.tenants.migrate_all()
    second = services.tenants.migrate_all()
    assert first == second
