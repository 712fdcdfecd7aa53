"""Shared fixtures: real databases (SQLite files, and PostgreSQL when configured),
the services, an API client and the sandbox internet on real sockets.

PostgreSQL: set COURRIEL_TEST_POSTGRES_URL (`.ci/run` does). Then every test
using `services` also runs on PostgreSQL, each in databases of its own that are
dropped afterwards; an unreachable server fails those tests, it never skips them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from courriel.config import Settings
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from courriel.web.app import create_app
from support import SandboxThread, TenantAccess, make_tenant

# Fixtures of the delivery tests (tests/delivery is on the pythonpath).
pytest_plugins = ["delivery_support"]

POSTGRES_URL = os.environ.get("COURRIEL_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", "postgres"]


def _drop_databases(prefix: str) -> None:
    assert POSTGRES_URL is not None
    engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            names = conn.execute(
                text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                {"p": f"{prefix}\\_%"},
            ).scalars()
            for name in list(names):
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        engine.dispose()


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
        _drop_databases(prefix)


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
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


@pytest.fixture
def sandbox(settings: Settings) -> Iterator[Sandbox]:
    with SandboxThread(Path(settings.data_dir)) as running:
        yield running
