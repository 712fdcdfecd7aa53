"""Masked personal data, checked on every endpoint the OpenAPI document names.

One tenant holds one well-known person, reached through every kind of object
(list, campaign, events, a privacy request, an import, a template preview).
A key whose personal fields are all hidden then calls every GET endpoint of
the API, with every path parameter filled from those objects and every
enumerated query parameter tried, plus every POST whose body takes a
`contact_id`. No answer may hold the person's address, names or phone. A new
endpoint is covered by this test without editing it.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from courriel.services import Services
from tests.support.openapi import endpoint_calls
from tests.support.seeds.people import seed_person
from tests.support.tenants import TenantAccess

EMAIL = "annabelle.lindqvist@gmail.test"
FIRST, LAST, PHONE = "Annabelle", "Lindqvist", "+33612345678"
PERSONAL = (EMAIL, FIRST, LAST, PHONE, "annabelle.lindqvist")
MASKED_EMAIL = "a***@g***.test"
# Side-effect-free POSTs that render a contact (the body carries `contact_id`).
BODY_EXTRA = {"to": "qa@example.test", "from_email": "news@acme.test"}


def test_no_endpoint_shows_a_masked_user_personal_data(
    client: TestClient, services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    response = client.post(
        "/v1/properties", json={"name": "phone", "kind": "text"}, headers=tenant_a.headers
    )
    assert response.status_code == 201, response.text
    ids = seed_person(client, services, tenant_a, EMAIL, FIRST, LAST, PHONE)
    masked = services.api_keys.create(tenant_a.operator, "analyst", field_default="hidden")
    headers = {"Authorization": f"Bearer {masked.secret}"}
    calls = endpoint_calls(client.get("/openapi.json").json(), ids, BODY_EXTRA)
    assert len(calls) > 40  # the walk reaches the whole API

    leaks: list[str] = []
    shown = 0
    for method, url, options in calls:
        response = client.request(method, url, headers=headers, **options)
        assert response.status_code < 500, (method, url, response.text)
        body = response.text
        leaks += [f"{method} {url} {options}: {v}" for v in PERSONAL if v in body]
        shown += MASKED_EMAIL in body
    assert leaks == [], "\n".join(leaks)
    # Not vacuous: the contact was found and shown, masked, on several endpoints.
    assert shown >= 4

    # The owner's key still sees the person (the masking is the principal's).
    plain = client.get(f"/v1/contacts/{ids['contact_id']}", headers=tenant_a.headers).json()
    assert (plain["email"], plain["first_name"]) == (EMAIL, FIRST)
    # Another tenant reaches none of it.
    other = client.get(f"/v1/contacts/{ids['contact_id']}", headers=tenant_b.headers)
    assert other.status_code == 404
