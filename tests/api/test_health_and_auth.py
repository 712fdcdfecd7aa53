"""Health probes, OpenAPI, API-key authentication, capabilities, revocation."""

from __future__ import annotations

from fastapi.testclient import TestClient

from courriel.core.principal import Capability
from courriel.services import Services
from tests.support.tenants import TenantAccess

PROBLEM = "application/problem+json"


def test_health_probes_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
    spec = client.get("/openapi.json").json()
    assert "/v1/campaigns/{campaign_id}/stats" in spec["paths"]


def test_missing_or_wrong_key_is_401_problem(client: TestClient, tenant_a: TenantAccess) -> None:
    for headers in ({}, {"Authorization": "Bearer ck_wrong"}, {"Authorization": "Basic abc"}):
        response = client.get("/v1/lists", headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["status"] == 401


def test_key_without_capability_gets_403_from_the_service(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    reader = services.api_keys.create(tenant_a.operator, "reader", [Capability.LISTS_READ.value])
    headers = {"Authorization": f"Bearer {reader.secret}"}
    assert client.get("/v1/lists", headers=headers).status_code == 200
    response = client.post("/v1/lists", json={"name": "News"}, headers=headers)
    assert response.status_code == 403
    assert "lists:write" in response.json()["detail"]
    assert client.get("/v1/lists", headers=tenant_a.headers).json()["data"] == []


def test_key_is_shown_once_stored_hashed_and_revocable(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    created = client.post(
        "/v1/api-keys",
        json={"name": "ci", "capabilities": ["lists:read"]},
        headers=tenant_a.headers,
    ).json()
    secret = created["key"]
    listed = client.get("/v1/api-keys", headers=tenant_a.headers).json()
    assert all(secret not in str(k) for k in listed)
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/v1/lists", headers=headers).status_code == 200
    assert (
        client.delete(f"/v1/api-keys/{created['id']}", headers=tenant_a.headers).status_code == 204
    )
    assert client.get("/v1/lists", headers=headers).status_code == 401


def test_a_key_cannot_grant_more_than_it_holds(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    limited = services.api_keys.create(
        tenant_a.operator, "limited", [Capability.KEYS_MANAGE.value, Capability.LISTS_READ.value]
    )
    response = client.post(
        "/v1/api-keys",
        json={"name": "escalate", "capabilities": ["campaigns:send"]},
        headers={"Authorization": f"Bearer {limited.secret}"},
    )
    assert response.status_code == 403
    response = client.post(
        "/v1/api-keys", json={"name": "x", "capabilities": ["root"]}, headers=tenant_a.headers
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "capabilities.0"
