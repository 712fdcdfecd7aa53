"""Header fields as they arrive: custom headers in ASCII (RFC 5322 §2.2, RFC 2047
encoded words for other text) and a List-Id per list (RFC 2919)."""

from __future__ import annotations

from email.header import decode_header, make_header

from fastapi.testclient import TestClient

from courriel.sandbox.server import Sandbox
from courriel.services import Services
from tests.support.delivery import deliver_all
from tests.support.tenants import TenantAccess

CONSENT = {"source": "api", "purpose_text": "Yes, send me the newsletter"}
HTML = '<p>Hello</p><a href="{{ unsubscribe_url }}">Unsubscribe</a>'


def _send(
    client: TestClient, services: Services, access: TenantAccess, headers: dict[str, str]
) -> str:
    h = access.headers
    list_id = client.post(
        "/v1/lists", json={"name": "Les Nouvelles d’Élodie", "double_opt_in": False}, headers=h
    ).json()["id"]
    response = client.post(
        "/v1/contacts",
        json={"email": "ada@gmail.test", "lists": [list_id], "consent": CONSENT},
        headers=h,
    )
    assert response.status_code == 201, response.text
    template = client.post(
        "/v1/templates",
        json={"name": "T", "subject": "News", "html": HTML, "headers": headers},
        headers=h,
    )
    assert template.status_code == 201, template.text
    campaign = client.post(
        "/v1/campaigns",
        json={
            "name": "N",
            "template_id": template.json()["id"],
            "lists": [list_id],
            "from_email": "n@shop.test",
        },
        headers=h,
    ).json()["id"]
    sent = client.post(f"/v1/campaigns/{campaign}/send", headers=h)
    assert sent.status_code == 202, sent.text
    deliver_all(services)
    return str(list_id)


def test_a_non_ascii_custom_header_is_sent_as_encoded_words(
    client: TestClient, services: Services, tenant_a: TenantAccess, sandbox: Sandbox
) -> None:
    _send(client, services, tenant_a, {"X-Note": "valeur accentuée", "X-Plain": "plain"})
    (received,) = sandbox.store.inbox("ada@gmail.test")
    head = received.data.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    raw = received.as_email()
    assert str(make_header(decode_header(raw["X-Note"]))) == "valeur accentuée"
    assert raw["X-Plain"] == "plain"


def test_list_mail_carries_the_lists_list_id(
    client: TestClient, services: Services, tenant_a: TenantAccess, sandbox: Sandbox
) -> None:
    list_id = _send(client, services, tenant_a, {})
    (received,) = sandbox.store.inbox("ada@gmail.test")
    value = str(make_header(decode_header(received.as_email()["List-Id"])))
    assert value == f"Les Nouvelles d’Élodie <{list_id.replace('_', '-')}.shop.test>"


def test_a_test_send_advertises_no_unsubscribe_and_its_links_say_it_was_a_test(
    client: TestClient, services: Services, tenant_a: TenantAccess, sandbox: Sandbox
) -> None:
    h = tenant_a.headers
    template = client.post(
        "/v1/templates",
        json={
            "name": "T",
            "subject": "News",
            "html": HTML + '<a href="{{ view_online_url }}">Online</a>',
        },
        headers=h,
    ).json()["id"]
    sent = client.post(
        f"/v1/templates/{template}/test-send",
        json={"to": "ada@gmail.test", "from_email": "n@shop.test"},
        headers=h,
    )
    assert sent.status_code == 202, sent.text
    deliver_all(services)
    (received,) = sandbox.store.inbox("ada@gmail.test")
    message = received.as_email()
    assert message["List-Unsubscribe"] is None
    assert message["List-Unsubscribe-Post"] is None
    assert message["List-Id"] is None
    html = message.get_body(preferencelist=("html",))
    assert html is not None
    base = services.settings.public_url
    content = str(html.get_content())
    paths = {}
    for prefix in (f"{base}/u/", f"{base}/v/"):
        start = content.index(prefix)
        paths[prefix] = content[start : content.index('"', start)][len(base) :]
        page = client.get(paths[prefix])
        assert page.status_code == 200, prefix
        assert "This was a test send" in page.text
    # A one-click POST on it works too, and changes nothing.
    posted = client.post(paths[f"{base}/u/"], data={"List-Unsubscribe": "One-Click"})
    assert posted.status_code == 200
    assert "This was a test send" in posted.text
