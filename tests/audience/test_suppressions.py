"""Suppressions: reasons, keyed hashes, erasure, manual add/remove, and their effect."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from courriel.core.addresses import tenant_address_hash
from courriel.core.audit import AuditFilter
from courriel.core.errors import InvalidInputError
from courriel.services import Services
from tests.support.tenants import TenantAccess

CONSENT = {"source": "api", "purpose_text": "news", "confirmed": True}


def _list(client: TestClient, who: TenantAccess) -> str:
    response = client.post("/v1/lists", json={"name": "News"}, headers=who.headers)
    return str(response.json()["id"])


def test_manual_suppression_blocks_subscribe_and_can_be_lifted(
    client: TestClient, tenant_a: TenantAccess, services: Services
) -> None:
    list_id = _list(client, tenant_a)
    added = client.post(
        "/v1/suppressions", json={"address": "Sup@Example.com"}, headers=tenant_a.headers
    )
    assert added.status_code == 201, added.text
    row = added.json()
    expected = tenant_address_hash(services.secret_key, tenant_a.tenant.id, "Sup@example.com")
    assert row["address_hash"] == expected
    assert row["reason"] == "manual"
    # Checked by its hash, shown to the sender (only an erasure stays a hash alone).
    assert row["address"] == "Sup@example.com"
    body = {"email": "Sup@example.com", "lists": [list_id], "consent": CONSENT}
    result = client.post("/v1/contacts", json=body, headers=tenant_a.headers).json()
    assert result["subscriptions"][list_id] == "suppressed"
    twice = client.post(
        "/v1/suppressions", json={"address": "Sup@example.com"}, headers=tenant_a.headers
    )
    assert twice.status_code == 409
    gone = client.delete(f"/v1/suppressions/{row['id']}", headers=tenant_a.headers)
    assert gone.status_code == 204
    assert client.get("/v1/suppressions", headers=tenant_a.headers).json()["data"] == []


def test_erasure_deletes_the_contact_keeps_a_hash_and_cannot_be_lifted(
    client: TestClient, tenant_a: TenantAccess
) -> None:
    list_id = _list(client, tenant_a)
    body = {"email": "erase@example.com", "lists": [list_id], "consent": CONSENT}
    contact_id = client.post("/v1/contacts", json=body, headers=tenant_a.headers).json()["contact"][
        "id"
    ]
    assert client.delete(f"/v1/contacts/{contact_id}", headers=tenant_a.headers).status_code == 204
    assert client.get(f"/v1/contacts/{contact_id}", headers=tenant_a.headers).status_code == 404
    rows = client.get("/v1/suppressions", headers=tenant_a.headers).json()["data"]
    assert [r["reason"] for r in rows] == ["erasure"]
    removed = client.delete(f"/v1/suppressions/{rows[0]['id']}", headers=tenant_a.headers)
    assert removed.status_code == 409
    # The API does not silently take the erased address back (issue 8).
    again = client.post("/v1/contacts", json=body, headers=tenant_a.headers)
    assert again.status_code == 409
    assert "erased" in again.json()["detail"]


def test_bad_suppression_inputs(client: TestClient, tenant_a: TenantAccess) -> None:
    bad = client.post("/v1/suppressions", json={"address": "a@@b"}, headers=tenant_a.headers)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "address"
    forged = client.post(
        "/v1/suppressions",
        json={"address": "a@example.com", "reason": "complaint"},
        headers=tenant_a.headers,
    )
    assert forged.status_code == 422
    assert forged.json()["errors"][0]["field"] == "reason"


def test_suppressions_are_per_tenant(
    client: TestClient, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    row = client.post(
        "/v1/suppressions", json={"address": "t@example.com"}, headers=tenant_a.headers
    ).json()
    assert client.get("/v1/suppressions", headers=tenant_b.headers).json()["data"] == []
    assert (
        client.delete(f"/v1/suppressions/{row['id']}", headers=tenant_b.headers).status_code == 404
    )
    list_b = _list(client, tenant_b)
    body = {"email": "t@example.com", "lists": [list_b], "consent": CONSENT}
    assert (
        client.post("/v1/contacts", json=body, headers=tenant_b.headers).json()["subscriptions"][
            list_b
        ]
        == "subscribed"
    )


def test_one_address_is_found_by_its_hash_and_lifting_says_why(
    services: Services, tenant_a: TenantAccess
) -> None:
    suppressions = services.audience.suppressions
    who = tenant_a.operator
    assert suppressions.find(who, "nobody@example.com") is None
    added = suppressions.add(who, "Found@Example.com", detail="asked by phone")
    # Any spelling of the address finds it: the lookup is by the normalized hash.
    found = suppressions.find(who, "found@example.com")
    assert found is not None
    assert found.id == added.id
    with pytest.raises(InvalidInputError) as bad:
        suppressions.find(who, "not an address")
    assert bad.value.field == "address"
    with pytest.raises(InvalidInputError) as two_lines:
        suppressions.remove(who, added.id, "first\nsecond")
    assert two_lines.value.field == "note"
    assert suppressions.find(who, "found@example.com") is not None  # nothing lifted

    suppressions.remove(who, added.id, "wrote to found@example.com: wants mail again")

    assert suppressions.find(who, "found@example.com") is None
    lifted = services.audit.entries(who, AuditFilter(action="suppression.lifted")).items
    assert [json.loads(e.detail) for e in lifted] == [
        {"reason": "manual", "note": "wrote to f***@e***.com: wants mail again"}
    ]


def test_a_caller_the_email_field_is_hidden_from_sees_addresses_masked(
    client: TestClient, tenant_a: TenantAccess, services: Services
) -> None:
    masked = services.api_keys.create(tenant_a.operator, "figures only", field_default="hidden")
    headers = {"Authorization": f"Bearer {masked.secret}"}
    added = client.post("/v1/suppressions", json={"address": "anna@gmail.com"}, headers=headers)
    assert added.status_code == 201, added.text
    assert added.json()["address"] == "a***@g***.com"
    listed = client.get("/v1/suppressions", headers=headers).json()["data"]
    assert [row["address"] for row in listed] == ["a***@g***.com"]
    # The same rows, to a caller who may see addresses.
    full = client.get("/v1/suppressions", headers=tenant_a.headers).json()["data"]
    assert [row["address"] for row in full] == ["anna@gmail.com"]
