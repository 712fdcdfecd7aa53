"""Alembic environment: see `courriel.core.migrate.run_env`."""

from alembic import context

from courriel.core.migrate import run_env
from courriel.tables import FAMILIES

run_env(context, FAMILIES["tenant"])
