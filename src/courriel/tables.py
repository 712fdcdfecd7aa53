"""Imports every table module, so each family's metadata is complete.

Alembic's autogenerate and the migration check need all tables registered;
importing a capability's models here is the one place that knows them all.
"""

from __future__ import annotations

from sqlalchemy import MetaData

import courriel.automation.models  # registers the workflow tables
import courriel.messages.models  # registers the transactional tables
import courriel.operations.pools.models  # registers the IP pool tables
import courriel.policy.links.models  # noqa: F401 - registers the link-check cache
from courriel.core.db import ControlBase, SpoolBase, TenantBase

FAMILIES: dict[str, MetaData] = {
    "control": ControlBase.metadata,
    "spool": SpoolBase.metadata,
    "tenant": TenantBase.metadata,
}
