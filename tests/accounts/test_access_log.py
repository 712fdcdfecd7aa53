"""The access log: every read of personal data and every change of rights is in
the tenant's audit trail, with the user; admins browse and filter it."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from courriel.services import Services
from tests.support.seeds.people import seed_person
from tests.support.tenants import TenantAccess


def test_each_read_of_personal_data_and_each_change_of_rights_is_logged_with_the_user(
    client: TestClient, services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    h = tenant_a.headers
    client.post("/v1/properties", json={"name": "phone", "kind": "text"}, headers=h)
    ids = seed_person(client, services, tenant_a, "ann@gmail.test", "Ann", "Ash", "+3311")
    owner = tenant_a.operator
    user_id = services.users.create(owner, "mia@acme.test", "admin").user.id
    services.roles.set_rights(owner, user_id, [ids["list_id"]], {"email": "hidden"})
    services.roles.create(owner, "support", ["contacts:read"], "hidden")
    key = services.api_keys.create(services.roles.principal_of(tenant_a.tenant.id, user_id), "k")
    mia = {"Authorization": f"Bearer {key.secret}"}

    reads = [
        ("GET", f"/v1/contacts/{ids['contact_id']}", "contact.viewed"),
        ("GET", "/v1/contacts", "contacts.listed"),
        ("GET", f"/v1/lists/{ids['list_id']}/export", "contacts.exported"),
        ("GET", f"/v1/events?contact_id={ids['contact_id']}", "events.viewed"),
        ("GET", f"/v1/privacy/requests/{ids['request_id']}/export", "privacy.data.exported"),
    ]
    for method, url, _ in reads:
        assert client.request(method, url, headers=mia).status_code == 200, url
    preview = client.post(
        f"/v1/templates/{ids['template_id']}/preview",
        json={"contact_id": ids["contact_id"]},
        headers=mia,
    )
    assert preview.status_code == 200, preview.text

    trail = client.get("/v1/audit", params={"limit": 200}, headers=h).json()["data"]
    by_key = [e for e in trail if e["actor"] == f"key:{key.id}"]
    actions = {e["action"] for e in by_key}
    assert {a for *_, a in reads} | {"contact.rendered"} <= actions
    # Every entry made through the key names the user behind it.
    assert all(e["detail"].get("user") == f"user:{user_id}" for e in by_key)
    changes = {e["action"] for e in trail}
    assert {"user.rights_changed", "role.created", "api_key.created"} <= changes
    # Admins filter the trail by actor and action, and export it.
    only = client.get(
        "/v1/audit", params={"actor": f"key:{key.id}", "action": "contact.viewed"}, headers=h
    ).json()["data"]
    assert [e["subject"] for e in only] == [f"contact:{ids['contact_id']}"]
    exported = client.get("/v1/audit/export", params={"format": "jsonl"}, headers=h)
    assert exported.status_code == 200
    assert "contacts.exported" in {
        json.loads(line)["action"] for line in exported.text.splitlines() if line
    }
    # A key without audit:export may browse the trail but not export it.
    browse = services.api_keys.create(owner, "browse", ["audit:read"])
    denied = client.get("/v1/audit/export", headers={"Authorization": f"Bearer {browse.secret}"})
    assert denied.status_code == 403
    # Tenant B's trail holds none of it.
    other = client.get("/v1/audit", params={"limit": 200}, headers=tenant_b.headers).json()
    assert all(e["actor"] != f"key:{key.id}" for e in other["data"])
