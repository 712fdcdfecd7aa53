"""The fixtures most tests stand on: a backend, settings and databases of their own,
the services, two tenants, an in-process API client.

Each database test runs once per backend: SQLite files, and the PostgreSQL
server named by COURRIEL_TEST_POSTGRES_URL when it is set (an unreachable
server fails those tests, it never skips them). The databases are copies of
templates migrated once per pytest process (`tests.support.databases`) and are
dropped after the test.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from courriel.config import Settings
from courriel.services import Services
from courriel.web.app import create_app
from tests.support.databases import POSTGRES_URL, Templates, build_services, drop_databases
from tests.support.tenants import TenantAccess, make_tenant

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "postgres" and not POSTGRES_URL:
        pytest.skip("COURRIEL_TEST_POSTGRES_URL is not set")
    return name


@pytest.fixture
def settings(tmp_path: Path, backend: str) -> Iterator[Settings]:
    prefix = f"ct{secrets.token_hex(4)}"
    yield Settings(
        data_dir=tmp_path / "data",
        database_url=POSTGRES_URL if backend == "postgres" else None,
        database_prefix=prefix,
        resolver="sandbox",
        worker_poll_seconds=0.05,
    )
    if backend == "postgres":
        assert POSTGRES_URL is not None
        drop_databases(POSTGRES_URL, prefix)


@pytest.fixture
def services(settings: Settings, templates: Templates) -> Iterator[Services]:
    """Every service, on databases copied from the migrated templates."""
    built = build_services(settings, templates)
    yield built
    built.close()


@pytest.fixture
def migrated_services(settings: Settings) -> Iterator[Services]:
    """Every service, on databases that Alembic migrated from empty, as `courriel migrate`
    does; tenants are migrated when created. For tests about migrations and provisioning."""
    built = Services.build(settings)
    built.tenants.migrate_shared()
    yield built
    built.close()


@pytest.fixture
def tenant_a(services: Services) -> TenantAccess:
    return make_tenant(services, "Tenant A")


@pytest.fixture
def tenant_b(services: Services) -> TenantAccess:
    return make_tenant(services, "Tenant B")


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services)) as test_client:
        yield test_client
