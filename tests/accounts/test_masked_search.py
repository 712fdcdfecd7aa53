"""A principal that sees an address masked cannot find it out by searching for it."""

from __future__ import annotations

from fastapi.testclient import TestClient

from courriel.services import Services
from tests.support.seeds.rights import add_person, make_list
from tests.support.tenants import TenantAccess


def test_a_search_on_a_hidden_field_is_refused_and_a_visible_one_works(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    add_person(client, tenant_a, make_list(client, tenant_a, "News"), "ada@gmail.test", "Ada")
    hidden = services.api_keys.create(
        tenant_a.operator, "analyst", field_default="visible", fields={"email": "hidden"}
    )
    headers = {"Authorization": f"Bearer {hidden.secret}"}
    for query in ({"email": "ada@gmail.test"}, {"email_prefix": "ada"}):
        refused = client.get("/v1/contacts", params=query, headers=headers)
        assert refused.status_code == 403, refused.text
        assert "email" in refused.json()["detail"]
    found = client.get("/v1/contacts", params={"name": "Ada"}, headers=headers)
    assert found.status_code == 200, found.text
    [person] = found.json()["data"]
    assert person["email"] != "ada@gmail.test", "shown masked"


def test_a_segment_cannot_test_a_hidden_field_but_may_group_by_domain(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    add_person(client, tenant_a, make_list(client, tenant_a, "News"), "ada@gmail.test", "Ada")
    hidden = services.api_keys.create(
        tenant_a.operator, "analyst", field_default="visible", fields={"email": "hidden"}
    )
    headers = {"Authorization": f"Bearer {hidden.secret}"}
    guesses = ('email = "ada@gmail.test"', 'language = "en" and not email contains "ada"')
    for expression in guesses:
        refused = client.post(
            "/v1/segments/count", json={"expression": expression}, headers=headers
        )
        assert refused.status_code == 422, refused.text
        assert "hidden from you" in refused.json()["detail"]
    grouped = client.post(
        "/v1/segments/count", json={"expression": 'email.domain = "gmail.test"'}, headers=headers
    )
    assert grouped.status_code == 200, grouped.text
    assert grouped.json()["count"] == 1
