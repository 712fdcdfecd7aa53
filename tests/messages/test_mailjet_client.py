"""Acceptance: Mailjet's official Python client, its base URL pointed at a live Courriel.

Each call is answered in Mailjet's shape; what was sent arrives in the
sandbox internet's mailboxes, DKIM-signed (dkimpy verifies the signatures
against the records Courriel publishes).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from mailjet_rest import Client, ValidationError

from courriel.sandbox.server import Sandbox
from courriel.services import Services
from tests.messages.support import DOMAIN, dkim_domain, dkim_verified
from tests.support.delivery import deliver_all
from tests.support.tenants import TenantAccess


@pytest.fixture
def mailjet(services: Services, tenant_a: TenantAccess, live_http: str) -> Client:
    key_id = services.api_keys.authenticate(tenant_a.key).actor.removeprefix("key:")
    return Client(auth=(key_id, tenant_a.key), version="v3.1", api_url=f"{live_http}/")


def _message(to: str, **more: Any) -> dict[str, Any]:
    return {
        "From": {"Email": f"orders@{DOMAIN}", "Name": "Boutique Élodie"},
        "To": [{"Email": to, "Name": "Passenger"}],
        "Subject": "Your flight plan, {{var:name}}",
        "TextPart": 'Dear {{var:name}}, on this {{var:day:"monday"}} may the force be with you',
        "HTMLPart": '<h3>Dear {{var:name}}</h3><p>On this {{var:day:"monday"}}.</p>',
        "TemplateLanguage": True,
        **more,
    }


def test_a_message_with_template_variables(
    services: Services, tenant_a: TenantAccess, mailjet: Client, sandbox: Sandbox
) -> None:
    published = dkim_domain(services, tenant_a)
    result = mailjet.send.create(
        data={"Messages": [_message("ann@gmail.test", Variables={"name": "Ann"}, CustomID="A1")]}
    )
    assert result.status_code == 200
    (message,) = result.json()["Messages"]
    assert message["Status"] == "success"
    assert message["CustomID"] == "A1"
    (to,) = message["To"]
    assert set(to) == {"Email", "MessageUUID", "MessageID", "MessageHref"}
    deliver_all(services)
    (received,) = sandbox.store.inbox("ann@gmail.test")
    assert received.subject == "Your flight plan, Ann"
    assert "Dear Ann, on this monday" in received.text
    assert dkim_verified(received.data, published)


def test_a_message_with_an_attachment(
    services: Services, tenant_a: TenantAccess, mailjet: Client, sandbox: Sandbox
) -> None:
    published = dkim_domain(services, tenant_a)
    content = b"Order 42\nTotal: 12.00 EUR\n"
    attachment = {
        "ContentType": "text/plain",
        "Filename": "invoice.txt",
        "Base64Content": base64.b64encode(content).decode(),
    }
    result = mailjet.send.create(
        data={"Messages": [_message("bob@yahoo.test", Attachments=[attachment])]}
    )
    assert result.json()["Messages"][0]["Status"] == "success"
    deliver_all(services)
    (received,) = sandbox.store.inbox("bob@yahoo.test")
    (file,) = list(received.as_email().iter_attachments())
    assert file.get_filename() == "invoice.txt"
    assert file.get_content().encode() == content
    assert dkim_verified(received.data, published)


def test_a_batch_with_one_invalid_recipient(
    services: Services, tenant_a: TenantAccess, mailjet: Client, sandbox: Sandbox
) -> None:
    published = dkim_domain(services, tenant_a)
    batch = {
        "Messages": [
            _message("carol@outlook.test"),
            _message("not-an-address"),
            _message("dave@gmail.test"),
        ]
    }
    with pytest.raises(ValidationError) as raised:
        mailjet.send.create(data=batch)
    assert raised.value.status_code == 400
    body = raised.value.response_body
    if isinstance(body, str):
        body = json.loads(body)
    first, bad, third = body["Messages"]
    assert first["Status"] == third["Status"] == "success"
    assert bad["Status"] == "error"
    (error,) = bad["Errors"]
    assert error["ErrorCode"] == "mj-0013"
    assert error["StatusCode"] == 400
    assert error["ErrorRelatedTo"] == ["To[0].Email"]
    assert "invalid email address" in error["ErrorMessage"]
    deliver_all(services)
    for address in ("carol@outlook.test", "dave@gmail.test"):
        (received,) = sandbox.store.inbox(address)
        assert dkim_verified(received.data, published)
    assert sandbox.store.count() == 2


def test_sandbox_mode_answers_and_sends_nothing(
    services: Services, mailjet: Client, sandbox: Sandbox
) -> None:
    result = mailjet.send.create(
        data={"Messages": [_message("erin@gmail.test")], "SandboxMode": True}
    )
    assert result.status_code == 200
    (message,) = result.json()["Messages"]
    assert message["Status"] == "success"
    assert message["To"][0]["MessageID"] == 0
    assert services.spool.pending_count() == 0
    deliver_all(services)
    assert sandbox.store.count() == 0
