"""A message makes no request to a third party unless its author wrote one: MJML's
default web font (Google Fonts) is not added."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from courriel.sandbox.server import Sandbox
from courriel.services import Services
from tests.support.delivery import deliver_all
from tests.support.tenants import TenantAccess

CONSENT = {"source": "api", "purpose_text": "Yes, send me the newsletter"}
MJML = """<mjml><mj-head>{head}</mj-head><mj-body><mj-section><mj-column>
<mj-text font-family="{family}">Bonjour {{{{ contact.first_name }}}}</mj-text>
<mj-button href="https://shop.test/sale">Sale</mj-button>
<mj-text><a href="{{{{ unsubscribe_url }}}}">Unsubscribe</a></mj-text>
</mj-column></mj-section></mj-body></mjml>"""
# What a mail client fetches when it shows the message (not links one follows).
_FETCHED = re.compile(
    r'(?:src="|<link[^>]*href="|url\(\s*["\']?|@import\s+url\(\s*["\']?)(https?://[^"\')\s]+)',
    re.IGNORECASE,
)


def _received_html(
    client: TestClient, services: Services, access: TenantAccess, sandbox: Sandbox, mjml: str
) -> str:
    h = access.headers
    list_id = client.post(
        "/v1/lists", json={"name": "News", "double_opt_in": False}, headers=h
    ).json()["id"]
    address = f"ada{len(sandbox.store.all_recipients())}@gmail.test"
    client.post(
        "/v1/contacts",
        json={"email": address, "first_name": "Ada", "lists": [list_id], "consent": CONSENT},
        headers=h,
    )
    template = client.post(
        "/v1/templates", json={"name": "T", "subject": "Hi", "mjml": mjml}, headers=h
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
    assert client.post(f"/v1/campaigns/{campaign}/send", headers=h).status_code == 202
    deliver_all(services)
    (received,) = sandbox.store.inbox(address)
    part = received.as_email().get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def test_an_mjml_message_loads_nothing_from_a_third_party(
    client: TestClient, services: Services, tenant_a: TenantAccess, sandbox: Sandbox
) -> None:
    html = _received_html(
        client, services, tenant_a, sandbox, MJML.format(head="", family="Ubuntu, Arial")
    )
    assert "Bonjour Ada" in html
    assert "googleapis" not in html
    fetched = _FETCHED.findall(html)
    base = services.settings.public_url
    assert all(url.startswith(base) for url in fetched), fetched


def test_a_font_the_author_adds_is_kept(
    client: TestClient, services: Services, tenant_a: TenantAccess, sandbox: Sandbox
) -> None:
    head = '<mj-font name="Raleway" href="https://fonts.shop.test/raleway.css" />'
    html = _received_html(
        client, services, tenant_a, sandbox, MJML.format(head=head, family="Raleway, Arial")
    )
    assert "https://fonts.shop.test/raleway.css" in _FETCHED.findall(html)


def test_a_social_icon_the_author_did_not_give_is_refused_not_fetched_from_mailjet(
    client: TestClient, tenant_a: TenantAccess
) -> None:
    social = (
        "<mjml><mj-body><mj-section><mj-column><mj-social>"
        '<mj-social-element name="facebook" href="https://shop.test">Facebook</mj-social-element>'
        "</mj-social></mj-column></mj-section></mj-body></mjml>"
    )
    refused = client.post(
        "/v1/templates",
        json={"name": "Social", "subject": "Hi", "mjml": social},
        headers=tenant_a.headers,
    )
    assert refused.status_code == 422, refused.text
    assert "mailjet.com" in refused.json()["detail"]
    hosted = social.replace(
        'name="facebook"', 'name="facebook" src="https://cdn.shop.test/facebook.png"'
    )
    accepted = client.post(
        "/v1/templates",
        json={"name": "Social", "subject": "Hi", "mjml": hosted},
        headers=tenant_a.headers,
    )
    assert accepted.status_code == 201, accepted.text
