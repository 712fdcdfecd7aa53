"""Composed campaign messages: links, pixel, headers, MIME, limits, and the checks before a send."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from courriel.audience.models import Contact, MailingList
from courriel.campaigns.models import Campaign, CampaignRecipient, CampaignStatus, RecipientState
from courriel.content.models import TemplateLink
from courriel.delivery.models import SpoolMessage
from courriel.delivery.transfer import stored_message
from courriel.services import Services
from courriel.tracking.tracker import resolve_click_target
from tests.support.tenants import TenantAccess

CONSENT = {"source": "api", "purpose_text": "Yes, send me the newsletter"}
HTML = (
    "<html><body><p>Hello {{ contact.first_name }}</p>"
    '<a href="https://shop.test/sale?a=1&amp;b=2">Sale</a>'
    '<a href="mailto:help@shop.test">Help</a>'
    '<a href="{{ unsubscribe_url }}">Unsubscribe</a>'
    '<a href="{{ preferences_url }}">Preferences</a>'
    "</body></html>"
)


def _campaign(
    client: TestClient,
    access: TenantAccess,
    html: str = HTML,
    people: tuple[tuple[str, str], ...] = (("Zoë <script>", "zoe@example.test"),),
    **campaign: object,
) -> tuple[str, str]:
    h = access.headers
    list_id = client.post(
        "/v1/lists", json={"name": "News", "double_opt_in": False}, headers=h
    ).json()["id"]
    for name, address in people:
        response = client.post(
            "/v1/contacts",
            json={"email": address, "first_name": name, "lists": [list_id], "consent": CONSENT},
            headers=h,
        )
        assert response.status_code == 201, response.text
    template = client.post(
        "/v1/templates",
        json={"name": "T", "subject": "Soldes d’été, {{ contact.first_name }}", "html": html},
        headers=h,
    )
    assert template.status_code == 201, template.text
    response = client.post(
        "/v1/campaigns",
        json={
            "name": "Sale",
            "template_id": template.json()["id"],
            "lists": [list_id],
            "from_email": "news@shop.test",
            "from_name": "Boutique Élodie",
            **campaign,
        },
        headers=h,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"]), list_id


def _send(client: TestClient, services: Services, access: TenantAccess, campaign: str) -> None:
    response = client.post(f"/v1/campaigns/{campaign}/send", headers=access.headers)
    assert response.status_code in (200, 202), response.text
    services.scheduler().drain()


def _spooled(services: Services) -> list[EmailMessage]:
    with services.storage.spool() as session:
        rows = session.execute(
            select(SpoolMessage.body_format, SpoolMessage.body).order_by(SpoolMessage.id)
        ).all()
    return [
        email.message_from_bytes(stored_message(*row), policy=email.policy.default) for row in rows
    ]


def _html(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def _text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def _href(html: str, prefix: str) -> str:
    start = html.index(prefix)
    return html[start : html.index('"', start)]


def test_links_are_tracked_and_a_click_redirects_only_to_the_stored_url(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    campaign, _ = _campaign(client, tenant_a)
    _send(client, services, tenant_a, campaign)
    (message,) = _spooled(services)
    html = _html(message)
    base = services.settings.public_url
    click = _href(html, f"{base}/t/c/")
    assert 'href="mailto:help@shop.test"' in html
    assert f'href="{base}/u/' in html
    assert f'href="{base}/p/' in html
    assert f'src="{base}/t/o/' in html
    assert "shop.test/sale" not in html
    response = client.get(click[len(base) :], follow_redirects=False)
    assert response.status_code in (302, 303, 307)
    assert response.headers["location"] == "https://shop.test/sale?a=1&b=2"
    token = click.rsplit("/", 1)[1]
    for tampered in (token[:-1] + ("A" if token[-1] != "A" else "B"), token[:20], "x", token + "A"):
        response = client.get(f"/t/c/{tampered}", follow_redirects=False)
        assert response.status_code == 404
        assert "location" not in response.headers
    # An open token is not a click token.
    open_token = _href(html, f"{base}/t/o/").rsplit("/", 1)[1].removesuffix(".gif")
    assert client.get(f"/t/c/{open_token}", follow_redirects=False).status_code == 404
    with services.storage.tenant(tenant_a.tenant.id)() as session:
        urls = session.scalars(select(TemplateLink.url)).all()
        message_id = session.scalar(select(CampaignRecipient.id))
        assert message_id is not None
        assert resolve_click_target(session, message_id, 0) == "https://shop.test/sale?a=1&b=2"
        assert resolve_click_target(session, message_id, 1) is None
        assert resolve_click_target(session, "msg_unknown", 0) is None
    assert urls == ["https://shop.test/sale?a=1&b=2"]


def test_another_tenants_click_token_leads_nowhere(
    client: TestClient, services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    campaign, _ = _campaign(client, tenant_a)
    _send(client, services, tenant_a, campaign)
    (message,) = _spooled(services)
    with services.storage.tenant(tenant_a.tenant.id)() as session:
        message_id = session.scalar(select(CampaignRecipient.id))
    with services.storage.tenant(tenant_b.tenant.id)() as session:
        assert message_id is not None
        assert resolve_click_target(session, message_id, 0) is None
    assert message["Message-ID"] == f"<{message_id}@shop.test>"


@pytest.mark.parametrize("switch", ["contact", "list", "campaign"])
def test_no_pixel_and_no_rewritten_links_when_tracking_is_off(
    client: TestClient, services: Services, tenant_a: TenantAccess, switch: str
) -> None:
    campaign, list_id = _campaign(client, tenant_a)
    with services.storage.tenant(tenant_a.tenant.id)() as session, session.begin():
        if switch == "contact":
            for contact in session.scalars(select(Contact)):
                contact.no_tracking = True
        elif switch == "list":
            row = session.get(MailingList, list_id)
            assert row is not None
            row.tracking = False
        else:
            found = session.get(Campaign, campaign)
            assert found is not None
            found.tracking = False
    _send(client, services, tenant_a, campaign)
    (message,) = _spooled(services)
    html = _html(message)
    assert "/t/c/" not in html
    assert "/t/o/" not in html
    assert 'href="https://shop.test/sale?a=1&amp;b=2"' in html
    assert "/u/" in html


def test_headers_and_mime_follow_the_rules(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    campaign, _ = _campaign(client, tenant_a, html=HTML + "<p>" + "mot " * 600 + "</p>")
    _send(client, services, tenant_a, campaign)
    with services.storage.spool() as session:
        row = session.execute(select(SpoolMessage.body_format, SpoolMessage.body)).one()
    raw = stored_message(*row)
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert b"\n" not in raw.replace(b"\r\n", b"")
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    assert b"From: =?utf-8?b?" in head
    assert b"Subject: =?utf-8?b?" in head
    (message,) = _spooled(services)
    assert str(message["From"]) == "Boutique Élodie <news@shop.test>"
    assert str(message["Subject"]) == "Soldes d’été, Zoë <script>"
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = str(message["List-Unsubscribe"])
    assert f"<{services.settings.public_url}/u/" in unsubscribe
    assert "<mailto:unsubscribe@" in unsubscribe
    assert message["Feedback-ID"].startswith(f"{campaign}:{tenant_a.tenant.id}:marketing:")
    assert message["Date"] is not None
    html = _html(message)
    assert "Zoë &lt;script&gt;" in html
    assert "<script>" not in html
    assert "Hello Zoë <script>" in _text(message)
    assert "Unsubscribe (" in _text(message)


def test_transactional_mail_needs_no_unsubscribe_link(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    campaign, _ = _campaign(
        client, tenant_a, html="<p>Your receipt</p>", mail_class="transactional"
    )
    _send(client, services, tenant_a, campaign)
    (message,) = _spooled(services)
    assert message["List-Unsubscribe"] is None
    assert "transactional" in str(message["Feedback-ID"])


def test_marketing_without_unsubscribe_link_is_refused_before_the_send(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    campaign, _ = _campaign(client, tenant_a, html="<p>No way out</p>")
    response = client.post(f"/v1/campaigns/{campaign}/send", headers=tenant_a.headers)
    assert response.status_code == 422
    assert "unsubscribe link" in response.text
    assert (
        client.get(f"/v1/campaigns/{campaign}", headers=tenant_a.headers).json()["status"]
        == CampaignStatus.DRAFT.value
    )


def test_variables_without_a_default_are_refused_before_the_send(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    html = HTML + "{{ contact.city }} {{ coupon }} {{ contact.zip|default('-') }}"
    html += "{% if contact.vip %}VIP{% endif %}"
    campaign, _ = _campaign(client, tenant_a, html=html)
    response = client.post(f"/v1/campaigns/{campaign}/send", headers=tenant_a.headers)
    assert response.status_code == 422
    body = response.json()
    assert "contact.city" in str(body)
    assert "coupon" in str(body)
    assert "contact.zip" not in str(body)
    assert "contact.vip" not in str(body)


def test_a_recipient_over_a_render_limit_fails_alone(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    html = HTML + "{{ 'x' * contact.repeat|default(1) }}"
    people = (("Ada", "ada@gmail.test"), ("Bob", "bob@example.test"), ("Cy", "cy@yahoo.test"))
    campaign, _ = _campaign(client, tenant_a, html=html, people=people)
    with services.storage.tenant(tenant_a.tenant.id)() as session, session.begin():
        bob = session.scalars(select(Contact).where(Contact.email == "bob@example.test")).one()
        bob.properties = {"repeat": 10**9}
    _send(client, services, tenant_a, campaign)
    assert len(_spooled(services)) == 2
    with services.storage.tenant(tenant_a.tenant.id)() as session:
        rows = session.execute(
            select(Contact.email, CampaignRecipient.state, CampaignRecipient.reason).join(
                Contact, Contact.id == CampaignRecipient.contact_id
            )
        ).all()
        status = session.get(Campaign, campaign)
    states = {email_: (state, reason) for email_, state, reason in rows}
    assert states["bob@example.test"][0] is RecipientState.FAILED
    assert "limit exceeded" in states["bob@example.test"][1]
    assert states["ada@gmail.test"][0] is RecipientState.QUEUED
    assert states["cy@yahoo.test"][0] is RecipientState.QUEUED
    assert status is not None
    assert status.status is CampaignStatus.SENT


def test_messages_are_signed_when_the_sender_domain_has_keys(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    response = client.post("/v1/dkim/shop.test/rotate", headers=tenant_a.headers)
    assert response.status_code == 201, response.text
    campaign, _ = _campaign(client, tenant_a)
    _send(client, services, tenant_a, campaign)
    (message,) = _spooled(services)
    signatures = [str(s) for s in message.get_all("DKIM-Signature") or []]
    assert len(signatures) == 2
    assert any("a=rsa-sha256" in s for s in signatures)
    assert any("a=ed25519-sha256" in s for s in signatures)
    assert all("d=shop.test" in s for s in signatures)
