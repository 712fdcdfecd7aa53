"""Database engines, sessions and the three families of tables.

Courriel keeps three kinds of database (DESIGN.md, "Storage"): the control
database (tenants, API keys), the spool database (messages in flight, shared
by all tenants) and one database per tenant. Each family has its own
declarative base and metadata, so no statement can join two of them, and each
has its own Alembic history.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import DateTime, Engine, Enum, MetaData, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

from courriel.core.errors import NotFoundError
from courriel.core.files import private_file

M = TypeVar("M")

# Constraint names are explicit so that Alembic migrations are identical on
# SQLite and PostgreSQL, and so a later migration can drop them by name.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLITE_BUSY_TIMEOUT_MS = 10_000


class UTCDateTime(TypeDecorator[dt.datetime]):
    """An aware UTC datetime on every backend (SQLite stores no offset)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, _dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; Courriel stores aware UTC times only")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, _dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC)


def str_enum(kind: type[enum.StrEnum]) -> Enum:
    """A column type storing a StrEnum by value, as portable VARCHAR (no native enum)."""
    return Enum(kind, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])


class ControlBase(DeclarativeBase):
    """Tables of the control database."""

    metadata = MetaData(naming_convention=NAMING)


class SpoolBase(DeclarativeBase):
    """Tables of the spool database."""

    metadata = MetaData(naming_convention=NAMING)


class TenantBase(DeclarativeBase):
    """Tables of each tenant database."""

    metadata = MetaData(naming_convention=NAMING)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (the API, statistics) work while a worker writes; foreign
    # keys are off by default in SQLite; the busy timeout makes concurrent
    # writers wait for the lock instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Erasure relies on it: a deleted row's bytes are overwritten with zeros
    # rather than left in free pages. Set here rather than trusting the SQLite
    # build's default (SQLITE_SECURE_DELETE), on every database: control,
    # spool (message bodies) and each tenant.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # pysqlite's own transaction handling is switched off below; BEGIN
    # IMMEDIATE takes the write lock up front, so two processes never both
    # read then fail to upgrade (the classic SQLITE_BUSY deadlock).
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def insert_for(session: Session) -> Callable[..., Any]:
    """The INSERT construct of the session's dialect, for ON CONFLICT clauses.

    PostgreSQL and SQLite both speak ``INSERT … ON CONFLICT``, through their
    own dialect constructs; this picks the right one so upserts and
    idempotent inserts read the same everywhere.
    """
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def create_db_engine(url: str | URL, pool_size: int = 5, max_overflow: int = 10) -> Engine:
    """Create an engine with the settings Courriel relies on for this backend.

    `pool_size` and `max_overflow` size a PostgreSQL engine's connection pool
    (settings `database_pool_size`, `database_max_overflow`): with many
    engines on one cluster, their product with the processes and databases
    is what the server's max_connections must allow.
    """
    url = make_url(url)
    if url.get_backend_name() == "sqlite":
        if url.database not in (None, "", ":memory:"):
            private_file(Path(url.database))
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "isolation_level": None},
            poolclass=NullPool if url.database in (None, "", ":memory:") else None,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow)


def make_session_factory(
    engine: Engine, info: dict[str, Any] | None = None
) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (`info` on each session)."""
    return sessionmaker(engine, expire_on_commit=False, info=info)


def get_or_not_found(session: Session, model: type[M], key: str, noun: str) -> M:
    """The row of `model` with primary key `key`, or NotFoundError "no {noun} {key!r}".

    Every tenant's rows live in its own database, so a key of another
    tenant's row is simply not found (the HTTP edge answers 404).
    """
    found = session.get(model, key)
    if found is None:
        raise NotFoundError(f"no {noun} {key!r}")
    return found


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: committed when the block ends, rolled back on any error."""
    with factory() as session, session.begin():
        yield session
