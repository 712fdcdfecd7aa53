"""Issue 18 item 10: no control character reaches a header raw; no routing header is accepted."""

from __future__ import annotations

import email
import email.policy
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from courriel.delivery.models import SpoolMessage
from courriel.delivery.transfer import stored_message
from courriel.services import Services
from tests.support.tenants import TenantAccess

# Anything below the space but tab, CR and LF, DEL, and the C1 controls.
_RAW_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\xc2[\x80-\x9f]")


def _template(client: TestClient, access: TenantAccess, **body: object) -> str:
    payload: dict[str, object] = {"name": "T", "subject": "Hi {{ contact.nickname }}"}
    payload.update({"html": '<p>Hi</p><a href="{{ unsubscribe_url }}">u</a>', **body})
    response = client.post("/v1/templates", json=payload, headers=access.headers)
    assert response.status_code == 201, response.text
    template_id: str = response.json()["id"]
    return template_id


@pytest.mark.parametrize("nickname", ["Ada\x0bBcc: evil@attacker.test\x0c", "Zoë\x1b[31m\x7f\x85"])
def test_control_characters_from_contact_data_never_reach_the_subject_raw(
    client: TestClient, services: Services, tenant_a: TenantAccess, nickname: str
) -> None:
    template = _template(client, tenant_a)
    response = client.post(
        f"/v1/templates/{template}/test-send",
        json={
            "to": "qa@example.test",
            "from_email": "news@shop.test",
            "sample": {"nickname": nickname},
        },
        headers=tenant_a.headers,
    )
    assert response.status_code == 202, response.text
    with services.storage.spool() as session:
        row = session.scalars(select(SpoolMessage)).one()
    body = stored_message(row.body_format, row.body)
    head = body.split(b"\r\n\r\n", 1)[0]
    assert _RAW_CONTROL.search(head) is None, head
    assert b"\nBcc:" not in head
    parsed = email.message_from_bytes(body, policy=email.policy.default)
    # The subject still says what the contact data said, encoded.
    assert str(parsed["Subject"]) == f"Hi {nickname}".strip()


@pytest.mark.parametrize(
    "name",
    [
        "Resent-To",
        "Resent-From",
        "Resent-Cc",
        "Errors-To",
        "Disposition-Notification-To",
        "Return-Receipt-To",
        "Sender",
        "Return-Path",
        "Received",
        "Delivered-To",
        "X-Confirm-Reading-To",
    ],
)
def test_routing_headers_are_refused_naming_them(
    client: TestClient, tenant_a: TenantAccess, name: str
) -> None:
    response = client.post(
        "/v1/templates",
        json={
            "name": "T",
            "subject": "Hi",
            "html": "<p>Hi</p>",
            "headers": {name: "attacker@evil.test"},
        },
        headers=tenant_a.headers,
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == f"headers.{name}"
    assert client.get("/v1/templates", headers=tenant_a.headers).json()["data"] == []


@pytest.mark.parametrize("value", ["a\x0bb", "a\x0cb", "a\x1bb", "a\x7fb", "a\x85b"])
def test_control_characters_in_custom_header_values_are_refused(
    client: TestClient, tenant_a: TenantAccess, value: str
) -> None:
    response = client.post(
        "/v1/templates",
        json={"name": "T", "subject": "Hi", "html": "<p>Hi</p>", "headers": {"X-Tag": value}},
        headers=tenant_a.headers,
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "headers.X-Tag"
