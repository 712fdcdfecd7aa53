"""Alembic migration histories, one folder per database family."""
