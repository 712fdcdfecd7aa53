"""A preview or test-send for a chosen contact reads that person's data: it needs
`contacts:read` besides the template right, refuses restricted people, and the
read is written to the audit trail."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from courriel.sandbox.server import Sandbox
from courriel.services import Services
from tests.support.delivery import deliver_all
from tests.support.seeds.rights import add_person, fulfil, make_list, new_request
from tests.support.tenants import TenantAccess

HTML = (
    "<p>{{ contact.first_name }} {{ contact.last_name }} {{ contact.email }}"
    " {{ contact.phone }} {{ contact.city }}</p>"
)


def _key(client: TestClient, who: TenantAccess, *capabilities: str) -> dict[str, str]:
    response = client.post(
        "/v1/api-keys", json={"name": "k", "capabilities": list(capabilities)}, headers=who.headers
    )
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['key']}"}


def _setup(client: TestClient, who: TenantAccess) -> tuple[str, str]:
    for name in ("phone", "city"):
        made = client.post(
            "/v1/properties", json={"name": name, "kind": "text"}, headers=who.headers
        )
        assert made.status_code == 201, made.text
    ada = add_person(
        client,
        who,
        make_list(client, who),
        "ada@gmail.test",
        "Ada",
        last_name="Lovelace",
        properties={"phone": "+33612345678", "city": "Lyon"},
    )
    template = client.post(
        "/v1/templates",
        json={"name": "T", "subject": "Hi {{ contact.first_name }}", "html": HTML},
        headers=who.headers,
    )
    assert template.status_code == 201, template.text
    return ada, str(template.json()["id"])


def _audit(client: TestClient, who: TenantAccess) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = client.get(
        "/v1/audit", params={"action": "contact.rendered"}, headers=who.headers
    ).json()["data"]
    return entries


def test_a_template_key_cannot_read_a_person_through_a_preview(
    client: TestClient, services: Services, tenant_a: TenantAccess, sandbox: Sandbox
) -> None:
    ada, template = _setup(client, tenant_a)
    templates_only = _key(client, tenant_a, "templates:read", "campaigns:send")
    preview = f"/v1/templates/{template}/preview"
    test_send = f"/v1/templates/{template}/test-send"
    send_body = {"to": "qa@example.test", "from_email": "news@acme.test", "contact_id": ada}

    refused = client.post(preview, json={"contact_id": ada}, headers=templates_only)
    assert refused.status_code == 403
    assert "contacts:read" in refused.text
    assert "Lovelace" not in refused.text
    refused = client.post(test_send, json=send_body, headers=templates_only)
    assert refused.status_code == 403
    assert services.spool.pending_count() == 0
    # Sample data needs no right to the people.
    sample = client.post(preview, json={"sample": {"first_name": "Sam"}}, headers=templates_only)
    assert sample.status_code == 200
    assert _audit(client, tenant_a) == []

    both = _key(client, tenant_a, "templates:read", "campaigns:send", "contacts:read")
    shown = client.post(preview, json={"contact_id": ada}, headers=both)
    assert shown.status_code == 200, shown.text
    assert "Lovelace" in shown.json()["html"]
    assert "+33612345678" in shown.json()["html"]
    sent = client.post(test_send, json=send_body, headers=both)
    assert sent.status_code == 202, sent.text
    deliver_all(services)
    assert "Lyon" in sandbox.store.inbox("qa@example.test")[0].text

    reads = _audit(client, tenant_a)
    assert sorted(e["detail"]["purpose"] for e in reads) == ["template-preview", "test-send"]
    assert {e["subject"] for e in reads} == {f"contact:{ada}"}
    assert all("ada@gmail.test" not in str(e) for e in reads)


def test_a_restricted_person_is_not_rendered(client: TestClient, tenant_a: TenantAccess) -> None:
    ada, template = _setup(client, tenant_a)
    fulfil(client, tenant_a, new_request(client, tenant_a, "restriction", ada)["id"])
    refused = client.post(
        f"/v1/templates/{template}/preview", json={"contact_id": ada}, headers=tenant_a.headers
    )
    assert refused.status_code == 409
    assert "restricted" in refused.json()["detail"]
    assert "Lovelace" not in refused.text
