"""Imports every table module, so each family's metadata is complete.

Alembic's autogenerate and the migration check need all tables registered;
importing a capability's models here is the one place that knows them all.
"""

from __future__ import annotations

from sqlalchemy import MetaData

import courriel.accounts.models
import courriel.audience.models
import courriel.campaigns.abtest_models
import courriel.campaigns.models
import courriel.campaigns.plan
import courriel.content.models
import courriel.core.models
import courriel.delivery.models
import courriel.policy.models
import courriel.privacy.audit_models
import courriel.privacy.request_models
import courriel.privacy.retention_models
import courriel.tracking.models
import courriel.tracking.webhooks.models  # noqa: F401
from courriel.core.db import ControlBase, SpoolBase, TenantBase

FAMILIES: dict[str, MetaData] = {
    "control": ControlBase.metadata,
    "spool": SpoolBase.metadata,
    "tenant": TenantBase.metadata,
}
