"""The Send API v3.1 and /v1/messages over HTTP: auth, Mailjet's shapes, idempotency."""

from __future__ import annotations

import base64

from fastapi.testclient import TestClient

from courriel.services import Services
from tests.messages.support import DOMAIN
from tests.support.tenants import TenantAccess

KEY_ID_HEADER = "Authorization"


def _basic(services: Services, access: TenantAccess) -> dict[str, str]:
    principal = services.api_keys.authenticate(access.key)
    key_id = principal.actor.removeprefix("key:")
    token = base64.b64encode(f"{key_id}:{access.key}".encode()).decode()
    return {KEY_ID_HEADER: f"Basic {token}"}


def _message(to: str = "ann@gmail.test", **more: object) -> dict[str, object]:
    return {
        "From": {"Email": f"orders@{DOMAIN}", "Name": "Boutique"},
        "To": [{"Email": to, "Name": "Ann"}],
        "Subject": "Your order",
        "TextPart": "Hello {{var:name}}",
        "HTMLPart": '<p>Hello {{var:name:"friend"}}</p>',
        "TemplateLanguage": True,
        "Variables": {"name": "Ann"},
        **more,
    }


def test_basic_auth_with_the_key_id_and_secret_sends(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    response = client.post(
        "/v3.1/send",
        json={"Messages": [_message(CustomID="c-1")]},
        headers=_basic(services, tenant_a),
    )
    assert response.status_code == 200, response.text
    (message,) = response.json()["Messages"]
    assert message["Status"] == "success"
    assert message["CustomID"] == "c-1"
    (to,) = message["To"]
    assert to["Email"] == "ann@gmail.test"
    assert isinstance(to["MessageID"], int)
    assert to["MessageHref"].endswith(f"/v1/messages/{to['MessageID']}")
    assert message["Cc"] == []
    assert message["Bcc"] == []
    history = client.get(f"/v1/messages/{to['MessageUUID']}", headers=tenant_a.headers).json()
    assert history["custom_id"] == "c-1"
    assert [e["type"] for e in history["history"]] == ["queued"]


def test_wrong_credentials_answer_in_mailjets_shape(
    client: TestClient, services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    # Tenant B's key id with tenant A's secret: neither half may vouch for the other.
    b_id = services.api_keys.authenticate(tenant_b.key).actor.removeprefix("key:")
    token = base64.b64encode(f"{b_id}:{tenant_a.key}".encode()).decode()
    for headers in ({"Authorization": f"Basic {token}"}, {}):
        response = client.post("/v3.1/send", json={"Messages": [_message()]}, headers=headers)
        assert response.status_code == 401
        assert response.json()["ErrorCode"] == "mj-0015"
    assert services.spool.pending_count() == 0


def test_one_bad_message_does_not_sink_the_others(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    response = client.post(
        "/v3.1/send",
        json={
            "Messages": [_message(), _message(to="not-an-address"), _message(to="bob@yahoo.test")],
            "AdvanceErrorHandling": True,
        },
        headers=tenant_a.headers,
    )
    assert response.status_code == 400
    first, bad, third = response.json()["Messages"]
    assert first["Status"] == third["Status"] == "success"
    assert bad["Status"] == "error"
    (error,) = bad["Errors"]
    assert error["ErrorCode"] == "mj-0013"
    assert error["StatusCode"] == 400
    assert error["ErrorRelatedTo"] == ["To[0].Email"]
    assert error["ErrorIdentifier"]
    assert services.spool.pending_count() == 2


def test_sandbox_mode_validates_and_sends_nothing(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    response = client.post(
        "/v3.1/send",
        json={"Messages": [_message()], "SandboxMode": True},
        headers=tenant_a.headers,
    )
    assert response.status_code == 200
    (to,) = response.json()["Messages"][0]["To"]
    assert to["MessageID"] == 0
    assert to["MessageUUID"] == ""
    assert services.spool.pending_count() == 0


def test_global_errors(client: TestClient, tenant_a: TenantAccess) -> None:
    h = {**tenant_a.headers, "Content-Type": "application/json"}
    broken = client.post("/v3.1/send", content=b'{"Messages": [', headers=h)
    assert broken.status_code == 400
    assert broken.json()["ErrorCode"] == "mj-0002"
    empty = client.post("/v3.1/send", json={"Messages": []}, headers=h)
    assert empty.json()["ErrorCode"] == "mj-0007"
    many = client.post("/v3.1/send", json={"Messages": [_message()] * 51}, headers=h)
    assert many.json()["ErrorCode"] == "mj-0008"


def test_an_idempotency_key_makes_a_retry_safe(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    headers = {**tenant_a.headers, "Idempotency-Key": "order-42"}
    body = {"Messages": [_message()]}
    first = client.post("/v3.1/send", json=body, headers=headers)
    again = client.post("/v3.1/send", json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert services.spool.pending_count() == 1
    other = client.post(
        "/v3.1/send", json={"Messages": [_message(to="x@gmail.test")]}, headers=headers
    )
    assert other.status_code == 422
    assert services.spool.pending_count() == 1


def test_native_api_sends_and_reports_problems_by_field(
    client: TestClient, services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    body = {
        "from_email": f"orders@{DOMAIN}",
        "to": [{"email": "ann@gmail.test"}],
        "subject": "Receipt {{ var.n }}",
        "text": "Thanks for order {{ n }}",
        "variables": {"n": 7},
        "custom_id": "r-7",
    }
    response = client.post("/v1/messages", json=body, headers=tenant_a.headers)
    assert response.status_code == 202, response.text
    (recipient,) = response.json()["recipients"]
    assert recipient["status"] == "queued"
    found = client.get(f"/v1/messages/{recipient['id']}", headers=tenant_a.headers)
    assert found.json()["subject"] == "Receipt {{ var.n }}"
    assert (
        client.get(f"/v1/messages/{recipient['id']}", headers=tenant_b.headers).status_code == 404
    )
    bad = client.post(
        "/v1/messages",
        json={**body, "from_email": "security@gmail.com"},
        headers=tenant_a.headers,
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "from_email"
    assert "webmail" in bad.json()["detail"]
