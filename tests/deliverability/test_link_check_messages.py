"""The Send API checks links when asked: a field of /v1/messages, a header of /v3.1/send."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from courriel.config import Settings
from courriel.sandbox.server import Sandbox
from courriel.sandbox.web import BLOCKLIST_ZONE
from courriel.services import Services
from tests.support.seeds.campaigns import make_campaign, seed_list
from tests.support.tenants import TenantAccess

SITE = "http://www.example.test"
HTML = (
    f'<p>Your order.</p><a href="{SITE}/offer">Track it</a>'
    f'<a href="{SITE}/missing">Old</a><a href="http://www.listed.test/win">Win</a>'
)
LINES = [
    f"{SITE}/missing: dead link (HTTP 404)",
    f"http://www.listed.test/win: listed.test is listed on {BLOCKLIST_ZONE} (127.0.1.2)",
]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.link_check_blocklist_zones = [BLOCKLIST_ZONE]
    settings.link_check_timeout_seconds = 1.0
    return settings


def _native(**more: object) -> dict[str, object]:
    return {
        "from_email": "orders@shop.test",
        "to": [{"email": "ann@gmail.test"}],
        "subject": "Your order",
        "html": HTML,
        **more,
    }


def test_native_messages_are_checked_when_asked(
    client: TestClient, tenant_a: TenantAccess, sandbox: Sandbox
) -> None:
    refused = client.post("/v1/messages", json=_native(check_links=True), headers=tenant_a.headers)
    assert refused.status_code == 422, refused.text
    (error,) = refused.json()["errors"]
    assert error["field"] == "html"
    assert error["detail"].splitlines() == LINES
    # A 404 to HEAD is asked again with GET before the link is called dead.
    missing = [("HEAD", "www.example.test", "/missing"), ("GET", "www.example.test", "/missing")]
    assert [sandbox.web.requests[r] for r in missing] == [1, 1]
    # Not asked: nothing is fetched and the message goes.
    sent = client.post("/v1/messages", json=_native(), headers=tenant_a.headers)
    assert sent.status_code == 202, sent.text
    assert sandbox.web.hits("www.example.test", "/missing") == 2


def test_mailjet_messages_are_checked_with_the_header(
    client: TestClient, tenant_a: TenantAccess, sandbox: Sandbox
) -> None:
    message = {
        "From": {"Email": "orders@shop.test"},
        "To": [{"Email": "ann@gmail.test"}],
        "Subject": "Your order",
        "HTMLPart": HTML,
    }
    payload = {"Messages": [message], "AdvanceErrorHandling": True}
    checked = client.post(
        "/v3.1/send",
        json=payload,
        headers={**tenant_a.headers, "X-Courriel-Check-Links": "1"},
    )
    assert checked.status_code == 400, checked.text
    (answer,) = checked.json()["Messages"]
    assert answer["Status"] == "error"
    assert [e["ErrorMessage"] for e in answer["Errors"]] == LINES
    assert {e["ErrorCode"] for e in answer["Errors"]} == {"link-check"}
    plain = client.post("/v3.1/send", json=payload, headers=tenant_a.headers)
    assert plain.json()["Messages"][0]["Status"] == "success"


def test_the_setting_checks_every_message(
    client: TestClient, settings: Settings, tenant_a: TenantAccess, sandbox: Sandbox
) -> None:
    settings.link_check_messages = True
    choice = client.get("/v1/link-check", headers=tenant_a.headers).json()
    assert (choice["messages"], choice["required_messages"]) == (False, True)
    # A tenant cannot turn off what the installation requires.
    client.put("/v1/link-check", json={"messages": False}, headers=tenant_a.headers)
    refused = client.post("/v1/messages", json=_native(), headers=tenant_a.headers)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["detail"].splitlines() == LINES


def test_a_tenant_turns_link_checks_on_for_itself_only(
    client: TestClient,
    services: Services,
    tenant_a: TenantAccess,
    tenant_b: TenantAccess,
    sandbox: Sandbox,
) -> None:
    assert client.get("/v1/link-check", headers=tenant_a.headers).json() == {
        "campaigns": False,
        "messages": False,
        "required_campaigns": False,
        "required_messages": False,
    }
    on = client.put("/v1/link-check", json={"messages": True}, headers=tenant_a.headers)
    assert on.json()["messages"] is True
    refused = client.post("/v1/messages", json=_native(), headers=tenant_a.headers)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["detail"].splitlines() == LINES
    # The other tenant chose nothing: its messages go unchecked.
    assert client.get("/v1/link-check", headers=tenant_b.headers).json()["messages"] is False
    other = client.post(
        "/v1/messages", json=_native(from_email="news@b-shop.test"), headers=tenant_b.headers
    )
    assert other.status_code == 202, other.text
    # Campaigns are a separate switch.
    list_id = seed_list(services, tenant_a, ["a@gmail.test"])
    campaign = make_campaign(services, tenant_a, [list_id], html=HTML)

    def checks() -> set[str]:
        return {
            i.check for i in services.content_checks.checklist(tenant_a.operator, campaign).items
        }

    assert "link_check" not in checks()
    client.put("/v1/link-check", json={"campaigns": True}, headers=tenant_a.headers)
    assert "link_check" in checks()
    # Each switch is in the tenant's audit trail, with who and what.
    actions = [e.action for e in services.audit.entries(tenant_a.operator, limit=200).items]
    assert actions.count("link_check.set") == 2


def test_bad_link_check_choices_are_refused_and_change_nothing(
    client: TestClient, tenant_a: TenantAccess
) -> None:
    for body in ({"messages": "maybe"}, {"campaigns": True, "everything": True}, ["messages"]):
        answer = client.put("/v1/link-check", json=body, headers=tenant_a.headers)
        assert answer.status_code == 422, body
    assert client.get("/v1/link-check", headers=tenant_a.headers).json()["campaigns"] is False
