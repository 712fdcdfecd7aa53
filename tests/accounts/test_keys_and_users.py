"""API keys belong to a user and never exceed them; roles; field rights."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from courriel.core.errors import ConflictError, ForbiddenError, NotFoundError
from courriel.core.principal import Capability, FieldAccess, Principal
from courriel.services import Services
from tests.support.seeds.rights import add_person, make_list
from tests.support.tenants import TenantAccess


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _user(services: Services, owner: Principal, role: str, email: str = "mia@acme.test") -> str:
    return services.users.create(owner, email, role).user.id


def test_a_disabled_users_keys_stop_at_once_and_work_again_when_enabled(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    user_id = _user(services, tenant_a.operator, "marketer")
    key = services.api_keys.create(services.roles.principal_of(tenant_a.tenant.id, user_id), "k")
    assert client.get("/v1/lists", headers=_bearer(key.secret)).status_code == 200
    services.users.disable(tenant_a.operator, user_id)
    assert client.get("/v1/lists", headers=_bearer(key.secret)).status_code == 401
    services.users.enable(tenant_a.operator, user_id)
    assert client.get("/v1/lists", headers=_bearer(key.secret)).status_code == 200


def test_a_key_never_exceeds_its_user_when_made_or_used(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    user_id = _user(services, tenant_a.operator, "marketer")
    marketer = services.roles.principal_of(tenant_a.tenant.id, user_id)
    # At creation: a capability, a list or a field right the user lacks is refused.
    with pytest.raises(ForbiddenError):
        services.api_keys.create(marketer, "k", ["audit:read"])
    list_a = make_list(client, tenant_a, "A")
    services.roles.set_rights(tenant_a.operator, user_id, [list_a], {"email": "hidden"})
    limited = services.roles.principal_of(tenant_a.tenant.id, user_id)
    with pytest.raises(NotFoundError):
        services.api_keys.create(limited, "k", lists=["lst_other"])
    with pytest.raises(ForbiddenError):
        services.api_keys.create(limited, "k", field_default="visible", fields={"email": "visible"})
    key = services.api_keys.create(limited, "k", ["lists:read", "contacts:read"])
    # At use: the key follows its user's rights as they are now.
    used = services.api_keys.authenticate(key.secret)
    assert used.capabilities == {Capability.LISTS_READ, Capability.CONTACTS_READ}
    assert used.lists == frozenset({list_a})
    assert used.access("email") is FieldAccess.HIDDEN
    assert used.user_id == user_id
    services.roles.set_rights(tenant_a.operator, user_id, [])
    assert services.api_keys.authenticate(key.secret).lists == frozenset()
    ids = [x["id"] for x in client.get("/v1/lists", headers=_bearer(key.secret)).json()["data"]]
    assert ids == []


def test_keys_without_a_user_keep_acting_as_the_owner(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    principal = services.api_keys.authenticate(tenant_a.key)
    assert principal.user_id is None
    assert principal.lists is None
    assert not principal.masks
    assert client.get("/v1/audit", headers=tenant_a.headers).status_code == 200


def test_builtin_roles_and_a_custom_role(
    client: TestClient, services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    analyst = services.roles.principal_of(
        tenant_a.tenant.id, _user(services, tenant_a.operator, "analyst")
    )
    assert Capability.STATS_READ in analyst.capabilities
    assert Capability.CONTACTS_WRITE not in analyst.capabilities
    assert analyst.access("email") is FieldAccess.HIDDEN
    officer = services.roles.principal_of(
        tenant_a.tenant.id, _user(services, tenant_a.operator, "privacy_officer", "po@acme.test")
    )
    assert Capability.PRIVACY_REQUESTS in officer.capabilities
    assert Capability.CAMPAIGNS_SEND not in officer.capabilities

    role = services.roles.create(
        tenant_a.operator, "support", ["contacts:read"], "hidden", {"first_name": "visible"}
    )
    assert role.capabilities == {Capability.CONTACTS_READ}
    user_id = _user(services, tenant_a.operator, "marketer", "sam@acme.test")
    services.roles.assign(tenant_a.operator, user_id, "support")
    support = services.roles.principal_of(tenant_a.tenant.id, user_id)
    assert support.capabilities == {Capability.CONTACTS_READ}
    assert (support.access("first_name"), support.access("email")) == (
        FieldAccess.VISIBLE,
        FieldAccess.HIDDEN,
    )
    with pytest.raises(ConflictError):
        services.roles.delete(tenant_a.operator, "support")  # still held
    # Another tenant neither sees nor uses tenant A's role.
    assert "support" not in [r.name for r in services.roles.list(tenant_b.operator)]
    other = _user(services, tenant_b.operator, "marketer", "zed@acme.test")
    with pytest.raises(NotFoundError):
        services.roles.assign(tenant_b.operator, other, "support")
    # A custom role never holds more than whoever makes it.
    with pytest.raises(ForbiddenError):
        services.roles.create(analyst, "wider", ["contacts:write"])


def test_an_edit_of_a_field_the_principal_may_only_see_is_refused_and_stores_nothing(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    list_id = make_list(client, tenant_a)
    contact = add_person(client, tenant_a, list_id, "ann@gmail.test", "Ann")
    key = services.api_keys.create(
        tenant_a.operator, "k", field_default="editable", fields={"first_name": "visible"}
    )
    body = {
        "email": "ann@gmail.test",
        "first_name": "Eve",
        "lists": [list_id],
        "consent": {"source": "api", "purpose_text": "Yes"},
    }
    refused = client.post("/v1/contacts", json=body, headers=_bearer(key.secret))
    assert refused.status_code == 403
    assert "first_name" in refused.json()["detail"]
    shown = client.get(f"/v1/contacts/{contact}", headers=tenant_a.headers).json()
    assert shown["first_name"] == "Ann"
