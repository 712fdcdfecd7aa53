"""Data-subject requests through the API: recorded with a 30-day deadline, answered
with the person's data (JSON, HTML, CSV) or a change, every bad input named."""

from __future__ import annotations

import csv
import datetime as dt
import io

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from courriel.core.models import AuditEntry
from courriel.privacy.models import DataSubjectRequest
from courriel.services import Services
from tests.support.seeds.rights import add_person, fulfil, make_list, new_request
from tests.support.tenants import TenantAccess

ADA = "ada@gmail.test"


def _person(client: TestClient, who: TenantAccess, **extra: object) -> str:
    return add_person(client, who, make_list(client, who), ADA, "Ada", **extra)


def _requests_stored(services: Services, who: TenantAccess) -> int:
    with services.storage.tenant(who.tenant.id)() as session:
        return int(session.scalar(select(func.count()).select_from(DataSubjectRequest)) or 0)


def test_an_access_request_has_a_deadline_and_exports_everything_held(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    client.post("/v1/properties", json={"name": "plan", "kind": "text"}, headers=tenant_a.headers)
    ada = _person(
        client, tenant_a, last_name="<script>alert(1)</script>", properties={"plan": "=1+1"}
    )
    received = "2026-11-01T09:30:00+00:00"
    request = new_request(client, tenant_a, "access", ada, received_at=received)
    assert request["status"] == "open"
    assert dt.datetime.fromisoformat(request["deadline_at"]) == dt.datetime.fromisoformat(
        received
    ) + dt.timedelta(days=30)
    assert request["principal"].startswith("key:")

    url = f"/v1/privacy/requests/{request['id']}/export"
    data = client.get(url, headers=tenant_a.headers).json()
    assert data["contact"]["email"] == ADA
    assert data["contact"]["properties"] == {"plan": "=1+1"}
    assert [s["status"] for s in data["subscriptions"]] == ["subscribed"]
    assert data["consent"][0]["ip"] == "192.0.2.1"
    assert data["suppression"] == {"suppressed": False, "reason": None, "since": None}
    assert data["requests"][0]["id"] == request["id"]
    page = client.get(url, params={"format": "html"}, headers=tenant_a.headers)
    assert page.headers["content-type"].startswith("text/html")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>" not in page.text
    assert page.headers["cache-control"] == "no-store"

    done = fulfil(client, tenant_a, request["id"])
    assert (done["status"], done["overdue"]) == ("fulfilled", False)
    assert done["fulfilled_by"] == request["principal"]
    with services.storage.tenant(tenant_a.tenant.id)() as session:
        trail = session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
    actions = [e.action for e in trail]
    assert "privacy.request.created" in actions
    assert "privacy.data.exported" in actions
    assert "privacy.access.fulfilled" in actions
    assert all(ADA not in e.detail and ADA not in (e.subject or "") for e in trail)


def test_a_portability_export_is_csv_a_spreadsheet_cannot_run(
    client: TestClient, tenant_a: TenantAccess
) -> None:
    client.post("/v1/properties", json={"name": "plan", "kind": "text"}, headers=tenant_a.headers)
    ada = _person(client, tenant_a, properties={"plan": "=HYPERLINK(1)"})
    request = new_request(client, tenant_a, "portability", ada)
    response = client.get(
        f"/v1/privacy/requests/{request['id']}/export",
        params={"format": "csv"},
        headers=tenant_a.headers,
    )
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert rows == [
        {
            "email": ADA,
            "first_name": "Ada",
            "last_name": "",
            "language": "",
            "timezone": "",
            "plan": "'=HYPERLINK(1)",
            "lists": "News",
        }
    ]


def test_rectification_is_checked_when_recorded_and_applied_when_fulfilled(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    ada = _person(client, tenant_a)
    bad = client.post(
        "/v1/privacy/requests",
        json={"type": "rectification", "contact_id": ada, "changes": {"email": "not-an-address"}},
        headers=tenant_a.headers,
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "changes.email"
    unknown = client.post(
        "/v1/privacy/requests",
        json={"type": "rectification", "contact_id": ada, "changes": {"shoe_size": 42}},
        headers=tenant_a.headers,
    )
    assert unknown.json()["errors"][0]["field"] == "changes.shoe_size"
    assert _requests_stored(services, tenant_a) == 0

    changes = {"email": "Ada.King@Gmail.test", "last_name": "King", "timezone": "Europe/London"}
    request = new_request(client, tenant_a, "rectification", ada, changes=changes)
    done = fulfil(client, tenant_a, request["id"])

    assert done["detail"] == {"fields": ["email", "last_name", "timezone"]}
    contact = client.get(f"/v1/contacts/{ada}", headers=tenant_a.headers).json()
    assert (contact["email"], contact["last_name"], contact["timezone"]) == (
        "Ada.King@gmail.test",
        "King",
        "Europe/London",
    )


def test_rectifying_to_another_contacts_address_is_a_conflict_and_changes_nothing(
    client: TestClient, tenant_a: TenantAccess
) -> None:
    news = make_list(client, tenant_a)
    ada = add_person(client, tenant_a, news, ADA, "Ada")
    add_person(client, tenant_a, news, "grace@yahoo.test", "Grace")
    request = new_request(
        client, tenant_a, "rectification", ada, changes={"email": "grace@yahoo.test"}
    )
    response = client.post(f"/v1/privacy/requests/{request['id']}/fulfil", headers=tenant_a.headers)
    assert response.status_code == 409
    assert "changes.email" in response.json()["detail"]
    assert client.get(f"/v1/contacts/{ada}", headers=tenant_a.headers).json()["email"] == ADA
    got = client.get(f"/v1/privacy/requests/{request['id']}", headers=tenant_a.headers).json()
    assert got["status"] == "open"


def test_bad_requests_are_refused_naming_the_field_and_store_nothing(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    ada = _person(client, tenant_a)
    h = tenant_a.headers
    cases = [
        ({"type": "forget-me", "contact_id": ada}, 422, "type"),
        ({"type": "access"}, 422, "contact_id"),
        ({"type": "access", "contact_id": ada, "email": ADA}, 422, "contact_id"),
        ({"type": "access", "email": "nobody"}, 422, "email"),
        (
            {"type": "access", "contact_id": ada, "received_at": "2999-01-01T00:00:00Z"},
            422,
            "received_at",
        ),
        ({"type": "access", "contact_id": ada, "lift": True}, 422, "lift"),
        ({"type": "access", "contact_id": ada, "changes": {"email": ADA}}, 422, "changes"),
        ({"type": "rectification", "contact_id": ada}, 422, "changes"),
        ({"type": "access", "contact_id": ada, "colour": "red"}, 422, "colour"),
    ]
    for body, status, field in cases:
        response = client.post("/v1/privacy/requests", json=body, headers=h)
        assert response.status_code == status, (body, response.text)
        assert response.json()["errors"][0]["field"] == field, body
    for body in (
        {"type": "access", "contact_id": "con_nobody"},
        {"type": "access", "email": "who@gmail.test"},
    ):
        response = client.post("/v1/privacy/requests", json=body, headers=h)
        assert response.status_code == 404
        assert next(iter(body.keys() - {"type"})) in response.json()["detail"]
    assert _requests_stored(services, tenant_a) == 0

    request = new_request(client, tenant_a, "access", ada)
    url = f"/v1/privacy/requests/{request['id']}"
    assert client.post(f"{url}/reject", json={"reason": ""}, headers=h).status_code == 422
    assert client.get(f"{url}/export", params={"format": "xml"}, headers=h).status_code == 422
    assert client.get(f"{url}/certificate", headers=h).status_code == 409
    assert client.get("/v1/privacy/requests/dsr_nope", headers=h).status_code == 404
    rejected = client.post(f"{url}/reject", json={"reason": "identity not proven"}, headers=h)
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["detail"]["reason"] == "identity not proven"
    assert client.post(f"{url}/fulfil", headers=h).status_code == 409
    assert client.get(f"{url}/export", headers=h).status_code == 409


def test_open_requests_past_their_deadline_are_overdue(
    client: TestClient, tenant_a: TenantAccess
) -> None:
    ada = _person(client, tenant_a)
    old = new_request(client, tenant_a, "access", ada, received_at="2026-01-02T00:00:00Z")
    new_request(client, tenant_a, "objection", ada, ground="profiling")
    listed = client.get(
        "/v1/privacy/requests", params={"status": "open"}, headers=tenant_a.headers
    ).json()["data"]
    assert {r["id"]: r["overdue"] for r in listed}[old["id"]] is True
    assert sorted(r["overdue"] for r in listed) == [False, True]


def test_a_key_without_the_privacy_capability_is_refused(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    ada = _person(client, tenant_a)
    response = client.post(
        "/v1/api-keys",
        json={"name": "reader", "capabilities": ["contacts:read"]},
        headers=tenant_a.headers,
    )
    assert response.status_code == 201, response.text
    reader = {"Authorization": f"Bearer {response.json()['key']}"}
    refused = client.post(
        "/v1/privacy/requests", json={"type": "erasure", "contact_id": ada}, headers=reader
    )
    assert refused.status_code == 403
    assert client.get("/v1/privacy/requests", headers=reader).status_code == 403
