"""Tenant isolation and bad inputs: problem+json naming the field, nothing half-written."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.tenants import TenantAccess

CONSENT = {"source": "api", "purpose_text": "Yes, send me the newsletter"}


def _seed(client: TestClient, access: TenantAccess) -> dict[str, str]:
    h = access.headers
    list_id = client.post("/v1/lists", json={"name": "News"}, headers=h).json()["id"]
    contact = client.post(
        "/v1/contacts",
        json={"email": "ada@gmail.test", "lists": [list_id], "consent": CONSENT},
        headers=h,
    ).json()["contact"]["id"]
    template = client.post(
        "/v1/templates",
        json={
            "name": "T",
            "subject": "Hi",
            "html": '<p>Hi</p><a href="{{ unsubscribe_url }}">Unsubscribe</a>',
        },
        headers=h,
    ).json()["id"]
    campaign = client.post(
        "/v1/campaigns",
        json={
            "name": "C",
            "template_id": template,
            "lists": [list_id],
            "from_email": "news@acme.test",
        },
        headers=h,
    ).json()["id"]
    return {"list": list_id, "contact": contact, "template": template, "campaign": campaign}


def test_tenant_a_gets_404_for_everything_of_tenant_b(
    client: TestClient, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    b = _seed(client, tenant_b)
    h = tenant_a.headers
    for path in (
        f"/v1/lists/{b['list']}",
        f"/v1/contacts/{b['contact']}",
        f"/v1/contacts/{b['contact']}/consent",
        f"/v1/templates/{b['template']}",
        f"/v1/campaigns/{b['campaign']}",
        f"/v1/campaigns/{b['campaign']}/stats",
    ):
        response = client.get(path, headers=h)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json"
    assert client.post(f"/v1/campaigns/{b['campaign']}/send", headers=h).status_code == 404
    # B's list id cannot be used to subscribe into B from A either.
    response = client.post(
        "/v1/contacts",
        json={"email": "x@gmail.test", "lists": [b["list"]], "consent": CONSENT},
        headers=h,
    )
    assert response.status_code == 422
    for listing in ("/v1/lists", "/v1/contacts", "/v1/templates", "/v1/campaigns"):
        assert client.get(listing, headers=h).json()["data"] == [], listing
    # And B still sees its own.
    assert client.get(f"/v1/lists/{b['list']}", headers=tenant_b.headers).status_code == 200


def test_malformed_json_is_400(client: TestClient, tenant_a: TenantAccess) -> None:
    response = client.post(
        "/v1/lists",
        content=b'{"name": "News",',
        headers={**tenant_a.headers, "content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["title"] == "Malformed JSON"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": 12}, "name"),
        ({"name": ""}, "name"),
        ({"name": "ok", "double_opt_in": "maybe"}, "double_opt_in"),
        ({"name": "ok", "colour": "red"}, "colour"),
        ({"name": "line\r\nbreak"}, "name"),
    ],
)
def test_bad_list_inputs_name_the_field(
    client: TestClient, tenant_a: TenantAccess, body: dict[str, Any], field: str
) -> None:
    response = client.post("/v1/lists", json=body, headers=tenant_a.headers)
    assert response.status_code == 422
    problem = response.json()
    assert [e["field"] for e in problem["errors"]] == [field]
    assert field in problem["detail"]
    assert client.get("/v1/lists", headers=tenant_a.headers).json()["data"] == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "not-an-address"}, "email"),
        ({"email": "a..b@gmail.test"}, "email"),
        ({"email": "ada@gmail.test\r\nBcc: x@y.test"}, "email"),
        ({"consent": {"source": "telepathy", "purpose_text": "x"}}, "consent.source"),
        ({"consent": {"source": "api"}}, "consent.purpose_text"),
        (
            {"consent": {"source": "api", "purpose_text": "x", "legal_basis": "vibes"}},
            "consent.legal_basis",
        ),
        ({"lists": []}, "lists"),
        ({"lists": "lst_x"}, "lists"),
        ({"first_name": ["Ada"]}, "first_name"),
    ],
)
def test_bad_contact_inputs_name_the_field_and_write_nothing(
    client: TestClient, tenant_a: TenantAccess, change: dict[str, Any], field: str
) -> None:
    h = tenant_a.headers
    list_id = client.post("/v1/lists", json={"name": "News"}, headers=h).json()["id"]
    body = {"email": "ada@gmail.test", "lists": [list_id], "consent": CONSENT, **change}
    response = client.post("/v1/contacts", json=body, headers=h)
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]
    assert client.get("/v1/contacts", headers=h).json()["data"] == []


def test_second_list_unknown_writes_nothing(client: TestClient, tenant_a: TenantAccess) -> None:
    h = tenant_a.headers
    list_id = client.post("/v1/lists", json={"name": "News"}, headers=h).json()["id"]
    response = client.post(
        "/v1/contacts",
        json={"email": "ada@gmail.test", "lists": [list_id, "lst_nope"], "consent": CONSENT},
        headers=h,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "lists.1"
    assert client.get("/v1/contacts", headers=h).json()["data"] == []


def test_bad_campaign_and_template_inputs(client: TestClient, tenant_a: TenantAccess) -> None:
    h = tenant_a.headers
    ids = _seed(client, tenant_a)
    bad_template = client.post(
        "/v1/templates",
        json={"name": "T", "subject": "Hi {{ contact.first_name", "html": "<p>x</p>"},
        headers=h,
    )
    assert bad_template.status_code == 422
    assert bad_template.json()["errors"][0]["field"] == "subject"
    base = {
        "name": "C",
        "template_id": ids["template"],
        "lists": [ids["list"]],
        "from_email": "a@b.test",
    }
    for change, field in (
        ({"template_id": "tpl_nope"}, "template_id"),
        ({"lists": ["lst_nope"]}, "lists.0"),
        ({"from_email": "nobody"}, "from_email"),
        ({"from_name": "Evil\r\nBcc: x"}, "from_name"),
        ({"mail_class": "spam"}, "mail_class"),
    ):
        response = client.post("/v1/campaigns", json={**base, **change}, headers=h)
        assert response.status_code == 422, (change, response.text)
        assert response.json()["errors"][0]["field"] == field
    assert len(client.get("/v1/campaigns", headers=h).json()["data"]) == 1


def test_pagination_walks_every_item_once(client: TestClient, tenant_a: TenantAccess) -> None:
    h = tenant_a.headers
    made = {
        client.post("/v1/lists", json={"name": f"L{i}"}, headers=h).json()["id"] for i in range(7)
    }
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/lists", params=params, headers=h).json()
        seen += [item["id"] for item in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(made)
    assert client.get("/v1/lists", params={"limit": 0}, headers=h).status_code == 422
