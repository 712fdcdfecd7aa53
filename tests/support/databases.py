"""The PostgreSQL server of the tests, and dropping the databases a test made."""

from __future__ import annotations

import os

from sqlalchemy import create_engine, text

POSTGRES_URL = os.environ.get("COURRIEL_TEST_POSTGRES_URL")


def drop_databases(server_url: str, prefix: str) -> None:
    """Drop every PostgreSQL database named `<prefix>_…`, now."""
    # DROP DATABASE cannot run inside a transaction.
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            names = conn.execute(
                text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                {"p": f"{prefix}\\_%"},
            ).scalars()
            for name in list(names):
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()
