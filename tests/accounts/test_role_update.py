"""A custom role changes in place; its holders follow; the same bounds as creating one."""

from __future__ import annotations

import pytest

from courriel.core.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from courriel.core.principal import Capability, FieldAccess
from courriel.services import Services
from tests.support.tenants import TenantAccess


def test_a_custom_role_changes_and_its_holders_follow(
    services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    owner = tenant_a.operator
    services.roles.create(owner, "support", ["contacts:read"], "visible")
    user_id = services.users.create(owner, "sam@acme.test", "marketer").user.id
    services.roles.assign(owner, user_id, "support")
    changed = services.roles.update(
        owner, "support", ["contacts:read", "lists:read"], "visible", {"email": "hidden"}
    )
    assert changed.capabilities == {Capability.CONTACTS_READ, Capability.LISTS_READ}
    held = services.roles.principal_of(tenant_a.tenant.id, user_id)
    assert Capability.LISTS_READ in held.capabilities
    assert held.access("email") is FieldAccess.HIDDEN
    assert held.access("first_name") is FieldAccess.VISIBLE
    actions = [e.action for e in services.audit.entries(owner).items]
    assert "role.changed" in actions


def test_an_update_keeps_the_bounds_of_a_new_role(
    services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    owner = tenant_a.operator
    services.roles.create(owner, "support", ["contacts:read"])
    with pytest.raises(ConflictError):
        services.roles.update(owner, "admin", ["contacts:read"])
    with pytest.raises(InvalidInputError):
        services.roles.update(owner, "support", ["no:such"])
    with pytest.raises(InvalidInputError):
        services.roles.update(owner, "support", [], "visible", {"shoe_size": "hidden"})
    # Another tenant's role is not found.
    with pytest.raises(NotFoundError):
        services.roles.update(tenant_b.operator, "support", ["contacts:read"])
    analyst_id = services.users.create(owner, "ann@acme.test", "analyst").user.id
    analyst = services.roles.principal_of(tenant_a.tenant.id, analyst_id)
    with pytest.raises(ForbiddenError):
        services.roles.update(analyst, "support", ["contacts:write"])
