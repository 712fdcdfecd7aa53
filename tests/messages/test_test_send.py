"""Test sends pass the checks every message passes, and are rate-limited (issue 18, item 3).

On main a test send delivered `From: Google <security@gmail.com>` and mail to a
manually suppressed address, 25 of 25 back to back.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from courriel.services import Services
from tests.support.tenants import TenantAccess


def _template(client: TestClient, access: TenantAccess) -> str:
    response = client.post(
        "/v1/templates",
        json={"name": "T", "subject": "Hi", "html": "<p>Hi {{ contact.first_name }}</p>"},
        headers=access.headers,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_a_test_send_from_free_webmail_is_refused(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    template = _template(client, tenant_a)
    response = client.post(
        f"/v1/templates/{template}/test-send",
        json={"to": "qa@example.test", "from_email": "security@gmail.com", "from_name": "Google"},
        headers=tenant_a.headers,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "from_email"
    assert "webmail" in response.json()["detail"]
    assert services.spool.pending_count() == 0


def test_a_test_send_from_an_unverified_domain_is_refused(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    template = _template(client, tenant_a)
    response = client.post(
        f"/v1/templates/{template}/test-send",
        json={"to": "qa@example.test", "from_email": "ceo@bank.example"},
        headers=tenant_a.headers,
    )
    assert response.status_code == 422
    assert "not a sender domain" in response.json()["detail"]
    assert services.spool.pending_count() == 0


def test_a_test_send_to_a_suppressed_address_is_refused(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    template = _template(client, tenant_a)
    added = client.post(
        "/v1/suppressions", json={"address": "gone@example.test"}, headers=tenant_a.headers
    )
    assert added.status_code == 201, added.text
    response = client.post(
        f"/v1/templates/{template}/test-send",
        json={"to": "gone@example.test", "from_email": "news@shop.test"},
        headers=tenant_a.headers,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "to"
    assert "suppressed" in response.json()["detail"]
    assert services.spool.pending_count() == 0


def test_test_sends_are_rate_limited(
    client: TestClient, services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    template = _template(client, tenant_a)
    limit = services.settings.test_send_limit_per_minute
    codes = [
        client.post(
            f"/v1/templates/{template}/test-send",
            json={"to": "qa@example.test", "from_email": "news@shop.test"},
            headers=tenant_a.headers,
        ).status_code
        for _ in range(limit + 15)
    ]
    assert codes[:limit] == [202] * limit
    assert set(codes[limit:]) == {429}
    assert services.spool.pending_count() == limit
    limited = client.post(
        f"/v1/templates/{template}/test-send",
        json={"to": "qa@example.test", "from_email": "news@shop.test"},
        headers=tenant_a.headers,
    )
    assert int(limited.headers["Retry-After"]) >= 1
    # Another tenant's test sends are counted apart.
    other = _template(client, tenant_b)
    response = client.post(
        f"/v1/templates/{other}/test-send",
        json={"to": "qa@example.test", "from_email": "news@shop.test"},
        headers=tenant_b.headers,
    )
    assert response.status_code == 202
