"""Contacts, typed properties, lists, the state machine, the consent ledger and its proof."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from courriel.audience.models import ConsentSource, PropertyKind, Subscription
from courriel.audience.service import ConsentInput, ContactInput
from courriel.core.db import transaction
from courriel.core.errors import InvalidInputError
from courriel.services import Services
from tests.support.tenants import TenantAccess

CONSENT = {"source": "api", "purpose_text": "Monthly news about our shop"}


def _list(client: TestClient, who: TenantAccess, **extra: object) -> str:
    body = {"name": "News", "purpose": "Monthly news about our shop", **extra}
    response = client.post("/v1/lists", json=body, headers=who.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("jo..e@example.com", "period"),
        (".joe@example.com", "period"),
        ("joe@-example.com", "hyphen"),
        ("joe@@example.com", "@"),
        ("a@b@example.com", "@"),
        ("x" * 65 + "@example.com", "too long"),
        ("a" * 60 + "@" + ("b" * 60 + ".") * 4 + "com", "too long"),
        ("joe@example.com\r\nBcc: x@example.com", "line breaks"),
    ],
)
def test_malformed_addresses_are_refused_and_nothing_changes(
    client: TestClient, tenant_a: TenantAccess, address: str, words: str
) -> None:
    list_id = _list(client, tenant_a)
    good = {"email": "kept@example.com", "lists": [list_id], "consent": CONSENT}
    assert client.post("/v1/contacts", json=good, headers=tenant_a.headers).status_code == 201
    response = client.post(
        "/v1/contacts",
        json={"email": address, "lists": [list_id], "consent": CONSENT},
        headers=tenant_a.headers,
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["errors"][0]["field"] == "email"
    assert words in problem["detail"].lower()
    listed = client.get("/v1/contacts", headers=tenant_a.headers).json()["data"]
    assert [c["email"] for c in listed] == ["kept@example.com"]


def test_one_contact_per_normalized_address_idn_to_punycode(
    services: Services, tenant_a: TenantAccess
) -> None:
    lst = services.audience.create_list(tenant_a.operator, "News", "news", double_opt_in=False)
    consent = ConsentInput(source=ConsentSource.API, purpose_text="news")
    first = services.audience.subscribe(
        tenant_a.operator, ContactInput(email="Joe@EXAMPLE.com"), [lst.id], consent
    )
    second = services.audience.subscribe(
        tenant_a.operator, ContactInput(email="Joe@example.COM"), [lst.id], consent
    )
    assert first.contact.id == second.contact.id
    assert first.contact.email == "Joe@example.com"  # local part kept as typed
    idn = services.audience.subscribe(
        tenant_a.operator, ContactInput(email="léa@bücher.example"), [lst.id], consent
    )
    assert idn.contact.email.endswith("@xn--bcher-kva.example")


def test_typed_properties_are_validated(client: TestClient, tenant_a: TenantAccess) -> None:
    list_id = _list(client, tenant_a, double_opt_in=False)
    for name, kind, extra in [
        ("country", "choice", {"choices": ["FR", "DE"]}),
        ("age", "number", {}),
        ("vip", "boolean", {}),
        ("birthday", "date", {}),
        ("last_order", "datetime", {}),
        ("city", "text", {}),
    ]:
        response = client.post(
            "/v1/properties", json={"name": name, "kind": kind, **extra}, headers=tenant_a.headers
        )
        assert response.status_code == 201, response.text
    ok = {
        "email": "p@example.com",
        "lists": [list_id],
        "consent": CONSENT,
        "properties": {
            "country": "FR",
            "age": 42,
            "vip": True,
            "birthday": "1990-02-03",
            "last_order": "2026-01-02T10:00:00+01:00",
            "city": "Lyon",
        },
    }
    response = client.post("/v1/contacts", json=ok, headers=tenant_a.headers)
    assert response.status_code == 201, response.text
    props = response.json()["contact"]["properties"]
    assert props["last_order"] == "2026-01-02T09:00:00+00:00"
    for bad, field, words in [
        ({"country": "US"}, "properties.country", "one of"),
        ({"age": "old"}, "properties.age", "number"),
        ({"birthday": "03/02/1990"}, "properties.birthday", "date"),
        ({"last_order": "2026-01-02T10:00:00"}, "properties.last_order", "time zone"),
        ({"city": "Lyon\r\nX-Evil: 1"}, "properties.city", "line breaks"),
        ({"city": "<script>alert(1)</script>"}, "properties.city", "markup"),
        ({"shoe_size": "42"}, "properties.shoe_size", "no such property"),
    ]:
        body = {**ok, "properties": bad}
        response = client.post("/v1/contacts", json=body, headers=tenant_a.headers)
        assert response.status_code == 422, bad
        assert response.json()["errors"][0]["field"] == field
        assert words in response.json()["detail"]
    contact = client.get("/v1/contacts", headers=tenant_a.headers).json()["data"][0]
    assert contact["properties"]["city"] == "Lyon"  # nothing already stored was lost


def test_property_names_are_checked(services: Services, tenant_a: TenantAccess) -> None:
    with pytest.raises(InvalidInputError, match="built-in"):
        services.audience.properties.define(tenant_a.operator, "email", PropertyKind.TEXT)
    with pytest.raises(InvalidInputError, match="a-z"):
        services.audience.properties.define(tenant_a.operator, "Bad Name", PropertyKind.TEXT)
    with pytest.raises(InvalidInputError, match="choices"):
        services.audience.properties.define(tenant_a.operator, "c", PropertyKind.CHOICE)


def test_unsubscribe_is_recorded_and_an_import_or_api_call_cannot_undo_it(
    client: TestClient, tenant_a: TenantAccess
) -> None:
    list_id = _list(client, tenant_a, double_opt_in=False)
    body = {"email": "u@example.com", "lists": [list_id], "consent": CONSENT}
    contact_id = client.post("/v1/contacts", json=body, headers=tenant_a.headers).json()["contact"][
        "id"
    ]
    response = client.delete(f"/v1/lists/{list_id}/contacts/{contact_id}", headers=tenant_a.headers)
    assert response.json()["status"] == "unsubscribed"
    again = client.post("/v1/contacts", json=body, headers=tenant_a.headers).json()
    assert again["subscriptions"][list_id] == "unsubscribed"
    ledger = client.get(f"/v1/contacts/{contact_id}/consent", headers=tenant_a.headers).json()
    assert [r["action"] for r in ledger] == ["confirmed", "withdrawn"]


def test_purpose_change_is_versioned_in_the_ledger_and_proof(
    client: TestClient, tenant_a: TenantAccess
) -> None:
    list_id = _list(client, tenant_a, double_opt_in=False)
    body = {"email": "v@example.com", "lists": [list_id], "consent": CONSENT}
    client.post("/v1/contacts", json=body, headers=tenant_a.headers)
    changed = client.put(
        f"/v1/lists/{list_id}/purpose",
        json={"purpose": "Weekly <b>deals</b>"},
        headers=tenant_a.headers,
    )
    assert changed.json()["purpose_version"] == 2
    body["consent"] = {**CONSENT, "purpose_text": "Weekly <b>deals</b>", "ip": "192.0.2.7"}
    contact_id = client.post("/v1/contacts", json=body, headers=tenant_a.headers).json()["contact"][
        "id"
    ]
    proof = client.get(f"/v1/contacts/{contact_id}/consent/proof", headers=tenant_a.headers)
    assert "attachment" in proof.headers["content-disposition"]
    ledger = proof.json()["ledger"]
    assert [r["purpose_version"] for r in ledger] == [1, 2]
    assert ledger[1]["ip"] == "192.0.2.7"
    page = client.get(f"/v1/contacts/{contact_id}/consent/proof.html", headers=tenant_a.headers)
    assert page.headers["content-type"].startswith("text/html")
    assert "Weekly &lt;b&gt;deals&lt;/b&gt;" in page.text
    assert "<b>deals" not in page.text


def test_tenant_isolation_of_contacts_lists_properties_and_proofs(
    client: TestClient, tenant_a: TenantAccess, tenant_b: TenantAccess, services: Services
) -> None:
    list_id = _list(client, tenant_a)
    body = {"email": "iso@example.com", "lists": [list_id], "consent": CONSENT}
    contact_id = client.post("/v1/contacts", json=body, headers=tenant_a.headers).json()["contact"][
        "id"
    ]
    client.post("/v1/properties", json={"name": "n", "kind": "text"}, headers=tenant_a.headers)
    for path in (
        f"/v1/lists/{list_id}",
        f"/v1/contacts/{contact_id}",
        f"/v1/contacts/{contact_id}/consent/proof",
        f"/v1/contacts/{contact_id}/subscriptions",
    ):
        assert client.get(path, headers=tenant_b.headers).status_code == 404, path
    assert client.get("/v1/properties", headers=tenant_b.headers).json() == []
    assert client.get("/v1/contacts", headers=tenant_b.headers).json()["data"] == []
    body_b = {"email": "x@example.com", "lists": [list_id], "consent": CONSENT}
    assert client.post("/v1/contacts", json=body_b, headers=tenant_b.headers).status_code == 422
    # Erasure (the privacy service behind DELETE) cannot reach another tenant's contact.
    assert client.delete(f"/v1/contacts/{contact_id}", headers=tenant_b.headers).status_code == 404


def test_language_and_timezone_are_checked(client: TestClient, tenant_a: TenantAccess) -> None:
    list_id = _list(client, tenant_a, double_opt_in=False)
    base = {"email": "tz@example.com", "lists": [list_id], "consent": CONSENT}
    ok = client.post(
        "/v1/contacts",
        json={**base, "language": "pt-BR", "timezone": "Europe/Paris"},
        headers=tenant_a.headers,
    )
    assert ok.status_code == 201
    assert ok.json()["contact"]["timezone"] == "Europe/Paris"
    for field, value in (("language", "french!"), ("timezone", "Mars/Olympus")):
        bad = client.post("/v1/contacts", json={**base, field: value}, headers=tenant_a.headers)
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["field"] == field


def test_retention_expires_unconfirmed_sign_ups_only(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    list_id = _list(client, tenant_a, retention_days=30)
    ids = {}
    for email in ("old@example.com", "new@example.com", "gone@example.com"):
        body = {"email": email, "lists": [list_id], "consent": CONSENT}
        ids[email] = client.post("/v1/contacts", json=body, headers=tenant_a.headers).json()[
            "contact"
        ]["id"]
    client.delete(
        f"/v1/lists/{list_id}/contacts/{ids['gone@example.com']}", headers=tenant_a.headers
    )
    long_ago = services.clock.now() - dt.timedelta(days=40)
    with transaction(services.storage.tenant(tenant_a.tenant.id)) as session:
        session.execute(
            update(Subscription)
            .where(Subscription.contact_id.in_([ids["old@example.com"], ids["gone@example.com"]]))
            .values(updated_at=long_ago)
        )
    expired = client.post(f"/v1/lists/{list_id}/retention", headers=tenant_a.headers)
    assert expired.json() == {"expired": 1}
    subs = client.get(
        f"/v1/contacts/{ids['old@example.com']}/subscriptions", headers=tenant_a.headers
    )
    assert subs.json() == {}
    kept = client.get(
        f"/v1/contacts/{ids['gone@example.com']}/subscriptions", headers=tenant_a.headers
    )
    assert kept.json() == {list_id: "unsubscribed"}
    ledger = client.get(f"/v1/contacts/{ids['old@example.com']}/consent", headers=tenant_a.headers)
    assert [r["action"] for r in ledger.json()] == ["given", "expired"]
