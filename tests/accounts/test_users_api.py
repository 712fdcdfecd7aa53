"""The team through the API: invite by email, list, disable and enable; per tenant,
and only with users:manage."""

from __future__ import annotations

from fastapi.testclient import TestClient

from courriel.services import Services
from tests.support.tenants import TenantAccess


def test_an_admin_invites_lists_disables_and_enables_a_colleague(
    client: TestClient, services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    queued = services.spool.pending_count()
    invited = client.post(
        "/v1/users/invitations",
        json={"email": "Nina@Agency.test", "role": "analyst", "name": "Nina"},
        headers=tenant_a.headers,
    )
    assert invited.status_code == 201, invited.text
    user = invited.json()
    assert (user["role"], user["status"]) == ("analyst", "invited")
    assert "token" not in invited.text, "the link goes to the invited address only"
    assert services.spool.pending_count() == queued + 1, "the invitation is mailed"

    listed = client.get("/v1/users", headers=tenant_a.headers).json()
    assert user["id"] in {u["id"] for u in listed}
    assert user["id"] not in {
        u["id"] for u in client.get("/v1/users", headers=tenant_b.headers).json()
    }
    assert (
        client.post(f"/v1/users/{user['id']}/disable", headers=tenant_b.headers).status_code == 404
    )

    disabled = client.post(f"/v1/users/{user['id']}/disable", headers=tenant_a.headers)
    assert disabled.json()["status"] == "disabled"
    enabled = client.post(f"/v1/users/{user['id']}/enable", headers=tenant_a.headers)
    assert enabled.status_code == 200, enabled.text


def test_inviting_needs_users_manage_and_a_real_address(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    reader = services.api_keys.create(tenant_a.operator, "reader", capabilities=["lists:read"])
    refused = client.post(
        "/v1/users/invitations",
        json={"email": "x@agency.test"},
        headers={"Authorization": f"Bearer {reader.secret}"},
    )
    assert refused.status_code == 403
    bad = client.post(
        "/v1/users/invitations", json={"email": "not an address"}, headers=tenant_a.headers
    )
    assert bad.status_code == 422
    assert "email" in bad.text
    assert client.get("/v1/users", headers=tenant_a.headers).json() == []
