"""Alembic, driven from code: one migration history per database family.

`courriel migrate` upgrades control, spool and every tenant database; running
it again changes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
# The three database families (DESIGN.md, "Storage"); `courriel.tables` holds their metadata.
FAMILY_NAMES = ("control", "spool", "tenant")


def alembic_config(family: str) -> Config:
    """The Alembic configuration of one family, without any ini file."""
    if family not in FAMILY_NAMES:
        raise ValueError(f"unknown database family {family!r}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS / family))
    config.attributes["family"] = family
    return config


def upgrade(engine: Engine, family: str) -> None:
    """Bring one database to the newest revision of its family."""
    config = alembic_config(family)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        # "heads": capabilities may add migrations on parallel branches of a
        # family's history; all of them are applied.
        command.upgrade(config, "heads")


def current_revision(engine: Engine) -> str | None:
    """The revisions a database is at, joined by "+" (None when never migrated)."""
    with engine.connect() as connection:
        heads = MigrationContext.configure(connection).get_current_heads()
    return "+".join(sorted(heads)) or None


def head_revision(family: str) -> str | None:
    """The newest revisions of a family, joined by "+" like `current_revision`."""
    heads = ScriptDirectory.from_config(alembic_config(family)).get_heads()
    return "+".join(sorted(heads)) or None


def run_env(context: Any, metadata: MetaData) -> None:
    """Body of each family's env.py: migrate the connection we were handed.

    `metadata` is the family's complete table metadata (`courriel.tables`),
    passed in by env.py so that core needs no capability's models.
    """
    config = context.config
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
