"""Per-list access: a user limited to list A reaches nothing of list B.

Every GET endpoint of the OpenAPI document (and every POST that takes a
contact) is called with the ids of list B's objects by a key of a user who
holds only list A: each answers 404 (or leaves B out of a listing), while the
same walk over list A's objects finds them.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from courriel.core.principal import Principal
from courriel.services import Services
from tests.support.openapi import endpoint_calls
from tests.support.seeds.people import seed_person
from tests.support.tenants import TenantAccess

EXTRA = {"to": "qa@example.test", "from_email": "news@acme.test"}
# Reached by a path holding an id of list B's objects.
B_PARAMS = ("list_id", "contact_id", "campaign_id", "request_id", "import_id")


def _limited_key(services: Services, owner: Principal, list_id: str) -> dict[str, str]:
    user = services.users.create(owner, "mia@acme.test", "admin").user
    services.roles.set_rights(owner, user.id, [list_id])
    principal = services.roles.principal_of(owner.tenant_id, user.id)
    key = services.api_keys.create(principal, "mia's key")
    return {"Authorization": f"Bearer {key.secret}"}


def _world(
    client: TestClient, services: Services, owner: TenantAccess
) -> tuple[dict[str, str], dict[str, str]]:
    response = client.post(
        "/v1/properties", json={"name": "phone", "kind": "text"}, headers=owner.headers
    )
    assert response.status_code == 201, response.text
    a = seed_person(client, services, owner, "ann@gmail.test", "Ann", "Ash", "+3311")
    b = seed_person(client, services, owner, "bob@yahoo.test", "Bob", "Birch", "+3322")
    return a, b


def test_a_user_limited_to_list_a_gets_404_on_every_object_of_list_b(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    a, b = _world(client, services, tenant_a)
    headers = _limited_key(services, tenant_a.operator, a["list_id"])
    schema = client.get("/openapi.json").json()

    reached = 0
    for method, url, options in endpoint_calls(schema, b, EXTRA):
        if not any(b[name] in url for name in B_PARAMS):
            continue
        response = client.request(method, url, headers=headers, **options)
        assert response.status_code == 404, (method, url, response.status_code, response.text)
        reached += 1
    assert reached >= 20

    # Listings leave B out; the same user reaches A's objects.
    for url in ("/v1/lists", "/v1/contacts", "/v1/campaigns", "/v1/events"):
        body = client.get(url, headers=headers).text
        assert all(b[n] not in body for n in B_PARAMS), url
    assert a["contact_id"] in client.get("/v1/contacts", headers=headers).text
    for url in (
        f"/v1/lists/{a['list_id']}",
        f"/v1/contacts/{a['contact_id']}",
        f"/v1/campaigns/{a['campaign_id']}/stats",
        f"/v1/imports/{a['import_id']}",
        f"/v1/privacy/requests/{a['request_id']}/export",
    ):
        assert client.get(url, headers=headers).status_code == 200, url
    # Events of B's person are left out even when asked for by contact.
    events = client.get("/v1/events", params={"contact_id": b["contact_id"]}, headers=headers)
    assert events.json()["data"] == []


def test_a_limited_user_cannot_subscribe_to_or_create_lists_outside_their_own(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    a, b = _world(client, services, tenant_a)
    headers = _limited_key(services, tenant_a.operator, a["list_id"])
    body = {
        "email": "new@gmail.test",
        "lists": [b["list_id"]],
        "consent": {"source": "api", "purpose_text": "Yes"},
    }
    refused = client.post("/v1/contacts", json=body, headers=headers)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "lists.0"
    created = client.post("/v1/lists", json={"name": "Mine"}, headers=headers)
    assert created.status_code == 403
    # Nothing was stored by the refusals.
    owner_view = client.get("/v1/contacts", params={"limit": 100}, headers=tenant_a.headers)
    assert "new@gmail.test" not in owner_view.text


def test_list_rights_are_per_tenant(
    client: TestClient, services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    a, _ = _world(client, services, tenant_a)
    user = services.users.create(tenant_b.operator, "eve@acme.test", "admin").user
    # Another tenant's admin cannot grant a list of tenant A, nor touch A's users.
    from courriel.core.errors import NotFoundError  # noqa: PLC0415

    mia = services.users.create(tenant_a.operator, "mia@acme.test", "marketer").user
    try:
        services.roles.set_rights(tenant_b.operator, mia.id, [a["list_id"]])
    except NotFoundError:
        pass
    else:  # pragma: no cover - the assertion below names the failure
        raise AssertionError("tenant B changed a user of tenant A")
    services.roles.set_rights(tenant_b.operator, user.id, [a["list_id"]])
    principal = services.roles.principal_of(tenant_b.tenant.id, user.id)
    key = services.api_keys.create(principal, "eve")
    response = client.get(
        f"/v1/lists/{a['list_id']}", headers={"Authorization": f"Bearer {key.secret}"}
    )
    assert response.status_code == 404
