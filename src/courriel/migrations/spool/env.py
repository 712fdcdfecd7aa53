"""Alembic environment: see `courriel.core.migrate.run_env`."""

from alembic import context

from courriel.core.migrate import run_env

run_env(context)
