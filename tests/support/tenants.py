"""Tenants for tests: each with an API key that may do everything."""

from __future__ import annotations

from dataclasses import dataclass

from courriel.core.models import Tenant
from courriel.core.principal import Principal
from courriel.services import Services


@dataclass(frozen=True)
class TenantAccess:
    """A tenant with an all-capability API key."""

    tenant: Tenant
    key: str
    operator: Principal

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def make_tenant(services: Services, name: str) -> TenantAccess:
    tenant = services.tenants.create(name)
    operator = Principal.operator(tenant.id)
    key = services.api_keys.create(operator, "test key")
    return TenantAccess(tenant=tenant, key=key.secret, operator=operator)
