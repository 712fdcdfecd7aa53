"""Tenant provisioning: a database each, ids that cannot be guessed.

These tests are about how Courriel provisions a tenant, so they use
`migrated_services`: tenants get their database from Alembic, as in production,
not from the test suite's templates.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text

from courriel.audience.models import MailingList
from courriel.core.errors import InvalidInputError, NotFoundError
from courriel.core.ids import is_id, new_id
from courriel.core.principal import Principal
from courriel.core.storage import Storage
from courriel.core.tenancy import TenantService, migrated_database
from courriel.services import Services


@pytest.fixture
def services(migrated_services: Services) -> Services:
    return migrated_services


def test_tenant_create_provisions_its_own_database(services: Services) -> None:
    tenant = services.tenants.create("Acme")
    assert is_id(tenant.id, "ten")
    if services.storage.is_postgres:
        assert tenant.database_url is not None
        assert tenant.id.removeprefix("ten_") in tenant.database_url
    else:
        assert tenant.database_url is None
        assert services.storage.tenant_sqlite_path(tenant.id).exists()
    engine = services.storage.tenant_engine_for(tenant.id, tenant.database_url)
    assert {"contacts", "lists", "campaigns", "events"} <= set(inspect(engine).get_table_names())
    assert [t.id for t in services.tenants.list()] == [tenant.id]


def test_two_tenants_have_two_databases(services: Services) -> None:
    a = services.tenants.create("A")
    b = services.tenants.create("B")
    made = services.audience.create_list(Principal.operator(a.id), "Only in A")
    with services.storage.tenant(a.id)() as session:
        in_a = session.execute(select(MailingList.id, MailingList.name)).all()
    with services.storage.tenant(b.id)() as session:
        in_b = session.execute(select(MailingList.id, MailingList.name)).all()
    # A row written in A's database exists there and nowhere else.
    assert [tuple(r) for r in in_a] == [(made.id, "Only in A")]
    assert in_b == []


def test_a_failed_provisioning_leaves_no_database_behind(services: Services) -> None:
    made: list[str] = []

    def half_made(storage: Storage, tenant_id: str) -> str | None:
        migrated_database(storage, tenant_id)
        made.append(tenant_id)
        raise OSError("disk full")

    tenants = TenantService(services.storage, services.clock, half_made)
    with pytest.raises(OSError, match="disk full"):
        tenants.create("Acme")
    [tenant_id] = made
    assert tenants.list() == []
    if not services.storage.is_postgres:
        assert not services.storage.tenant_sqlite_path(tenant_id).exists()
        return
    with services.storage.control() as session:
        left = session.execute(
            text("SELECT count(*) FROM pg_database WHERE datname LIKE :name"),
            {"name": f"%{tenant_id.removeprefix('ten_')}"},
        ).scalar()
    assert left == 0


def test_unknown_tenant_is_not_found(services: Services) -> None:
    with pytest.raises(NotFoundError, match="unknown tenant"):
        services.storage.tenant(new_id("ten"))
    with pytest.raises(NotFoundError):
        services.tenants.get("ten_doesnotexist")


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_bad_tenant_name_is_refused_and_nothing_is_left(services: Services, name: str) -> None:
    with pytest.raises(InvalidInputError, match="name"):
        services.tenants.create(name)
    assert services.tenants.list() == []
    if not services.storage.is_postgres:
        assert list(Path(services.settings.data_dir, "tenants").iterdir()) == []


def test_ids_are_random_and_typed() -> None:
    ids = {new_id("lst") for _ in range(1000)}
    assert len(ids) == 1000
    assert all(is_id(i, "lst") and len(i) == 30 for i in ids)
    assert not is_id("lst_1", "lst")
    assert not is_id(new_id("con"), "lst")
