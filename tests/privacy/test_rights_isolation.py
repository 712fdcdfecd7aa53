"""Tenant isolation of data-subject requests: another tenant cannot see, act on
or erase a tenant's contacts or requests, whatever the right (404)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from courriel.privacy.models import RequestType
from courriel.services import Services
from tests.support.seeds.rights import add_person, make_list, new_request
from tests.support.tenants import TenantAccess

ADA = "ada@gmail.test"


@pytest.mark.parametrize("kind", [t.value for t in RequestType])
def test_another_tenant_cannot_touch_a_request_or_its_person(
    kind: str,
    client: TestClient,
    services: Services,
    tenant_a: TenantAccess,
    tenant_b: TenantAccess,
) -> None:
    ada = add_person(client, tenant_a, make_list(client, tenant_a), ADA, "Ada")
    # Tenant B has its own Ada, who must not be confused with tenant A's.
    b_ada = add_person(client, tenant_b, make_list(client, tenant_b), ADA, "Ada of B")
    extra: dict[str, object] = {"changes": {"first_name": "Eve"}} if kind == "rectification" else {}
    if kind == "objection":
        extra = {"ground": "direct-marketing"}
    request = new_request(client, tenant_a, kind, ada, **extra)
    url = f"/v1/privacy/requests/{request['id']}"
    b = tenant_b.headers

    created = client.post(
        "/v1/privacy/requests", json={"type": kind, "contact_id": ada, **extra}, headers=b
    )
    assert created.status_code == 404
    assert client.get(url, headers=b).status_code == 404
    assert client.post(f"{url}/fulfil", headers=b).status_code == 404
    assert client.post(f"{url}/reject", json={"reason": "no"}, headers=b).status_code == 404
    assert client.get(f"{url}/export", headers=b).status_code == 404
    assert client.get(f"{url}/certificate", headers=b).status_code == 404
    assert client.get("/v1/privacy/requests", headers=b).json()["data"] == []
    listed = client.get("/v1/privacy/requests", params={"contact_id": ada}, headers=b).json()[
        "data"
    ]
    assert listed == []

    # Tenant A's request is untouched and still works for A.
    got = client.get(url, headers=tenant_a.headers).json()
    assert got["status"] == "open"
    done = client.post(f"{url}/fulfil", headers=tenant_a.headers)
    assert done.status_code == 200, done.text
    # Tenant B's person of the same address is as it was.
    contact = services.audience.get_contact(tenant_b.operator, b_ada)
    assert (contact.email, contact.first_name) == (ADA, "Ada of B")
    assert (contact.restricted, contact.no_tracking) == (False, False)
