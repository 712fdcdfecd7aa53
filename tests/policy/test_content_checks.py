"""The content checklist: each item triggered, blocking items refuse the send, the API."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from courriel.campaigns.models import MailClass
from courriel.content.service import TemplateContent
from courriel.core.errors import InvalidInputError
from courriel.policy.checks import Checklist
from courriel.services import Services
from tests.support.seeds.campaigns import make_campaign, seed_list
from tests.support.tenants import TenantAccess


def _checklist(
    services: Services, tenant: TenantAccess, html: str, subject: str = "Spring news", **kw: object
) -> tuple[str, Checklist]:
    list_id = seed_list(services, tenant, ["a@x.test"])
    campaign = make_campaign(services, tenant, [list_id], html=html, subject=subject, **kw)  # type: ignore[arg-type]
    return campaign, services.content_checks.checklist(tenant.operator, campaign)


def _item(checklist: Checklist, name: str) -> tuple[bool, str, str]:
    item = next(i for i in checklist.items if i.check == name)
    return item.passed, item.severity.value, item.detail


def test_a_clean_message_passes_with_one_warning(
    services: Services, tenant_a: TenantAccess
) -> None:
    _, checklist = _checklist(
        services,
        tenant_a,
        '<p>Our spring collection is here.</p><a href="https://shop.example/">Shop</a>',
    )
    assert checklist.blocking == []
    # The seeded campaigns have no From name.
    assert [i.check for i in checklist.warnings] == ["sender_identification"]


@pytest.mark.parametrize(
    ("href", "why"),
    [
        ("javascript:alert(1)", "javascript: links"),
        ("data:text/html;base64,PHA+", "data: links"),
        ("http://192.0.2.7/offer", "bare IP address (192.0.2.7)"),
        ("http://[2001:db8::1]/offer", "bare IP address (2001:db8::1)"),
        ("https://bit.ly/3xyz", "URL shortener bit.ly"),
    ],
)
def test_bad_links_block_the_send(
    services: Services, tenant_a: TenantAccess, href: str, why: str
) -> None:
    campaign, checklist = _checklist(services, tenant_a, f'<p>Offer</p><a href="{href}">here</a>')
    passed, severity, detail = _item(checklist, "links")
    assert (passed, severity) == (False, "blocking")
    assert why in detail
    with pytest.raises(InvalidInputError, match="links:") as refused:
        services.campaign_control.send(tenant_a.operator, campaign)
    assert refused.value.field == "template"


def test_spammy_phrases_are_scored_and_explained(
    services: Services, tenant_a: TenantAccess
) -> None:
    _, mild = _checklist(services, tenant_a, "<p>Act now, this is a limited time offer.</p>")
    passed, severity, detail = _item(mild, "spammy_phrases")
    assert (passed, severity) == (False, "warning")
    assert '"act now" +1.5' in detail
    assert '"limited time" +1' in detail
    assert "score 2.5" in detail

    campaign, heavy = _checklist(
        services,
        tenant_a,
        "<p>FREE MONEY: you have been selected, earn extra cash, 100% free!</p>",
        subject="WINNER WINNER!!",
    )
    passed, severity, detail = _item(heavy, "spammy_phrases")
    assert (passed, severity) == (False, "blocking")
    assert "subject in capitals" in detail
    with pytest.raises(InvalidInputError, match="spammy_phrases"):
        services.campaign_control.send(tenant_a.operator, campaign)


def test_text_image_ratio(services: Services, tenant_a: TenantAccess) -> None:
    _, few_words = _checklist(
        services, tenant_a, '<p>Look</p><img src="https://shop.example/a.png" alt="">'
    )
    passed, severity, _ = _item(few_words, "text_image_ratio")
    assert (passed, severity) == (False, "warning")
    # The unsubscribe link is text, so an image-only body is judged with it.
    _, _ok = _checklist(services, tenant_a, "<p>" + "words " * 60 + '</p><img src="x.png">')
    assert _item(_ok, "text_image_ratio")[0] is True


def test_subject_length(services: Services, tenant_a: TenantAccess) -> None:
    _, long = _checklist(services, tenant_a, "<p>Hello</p>", subject="x" * 90)
    assert _item(long, "subject_length")[:2] == (False, "warning")


def test_unsubscribe_link_and_sender_identification(
    services: Services, tenant_a: TenantAccess
) -> None:
    list_id = seed_list(services, tenant_a, ["a@x.test"])
    template, _ = services.templates.create(
        tenant_a.operator, "Receipt", "Your receipt", "<p>Thanks</p>"
    )
    receipt = services.campaigns.create(
        tenant_a.operator,
        name="Receipt",
        template_id=template.id,
        list_ids=[list_id],
        from_email="shop@acme.test",
        from_name="Acme Shop",
        mail_class=MailClass.TRANSACTIONAL,
    )
    checklist = services.content_checks.checklist(tenant_a.operator, receipt.id)
    assert _item(checklist, "unsubscribe_link")[:2] == (True, "blocking")
    assert "transactional" in _item(checklist, "unsubscribe_link")[2]
    assert _item(checklist, "sender_identification")[0] is True
    newsletter = services.campaigns.create(
        tenant_a.operator,
        name="News",
        template_id=template.id,
        list_ids=[list_id],
        from_email="shop@acme.test",
    )
    checklist = services.content_checks.checklist(tenant_a.operator, newsletter.id)
    assert _item(checklist, "unsubscribe_link")[:2] == (False, "blocking")
    assert _item(checklist, "sender_identification")[:2] == (False, "warning")


def test_checklist_over_http(
    client: TestClient, services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    campaign, _ = _checklist(services, tenant_a, '<p>Hi</p><a href="https://bit.ly/x">x</a>')
    body = client.get(f"/v1/campaigns/{campaign}/check", headers=tenant_a.headers).json()
    assert body["sendable"] is False
    links = next(i for i in body["items"] if i["check"] == "links")
    assert links["severity"] == "blocking"
    assert links["data"]["refused"] == ["https://bit.ly/x"]
    other = client.get(f"/v1/campaigns/{campaign}/check", headers=tenant_b.headers)
    assert other.status_code == 404
    sent = client.post(f"/v1/campaigns/{campaign}/send", headers=tenant_a.headers)
    assert sent.status_code == 422
    assert sent.json()["errors"][0]["field"] == "template"
    assert (
        client.get(f"/v1/campaigns/{campaign}", headers=tenant_a.headers).json()["status"]
        == "draft"
    )


def test_a_template_version_has_its_checklist_before_any_campaign(
    services: Services, tenant_a: TenantAccess
) -> None:
    template, _v1 = services.templates.create(
        tenant_a.operator, "T", "Spring news", '<p>News</p><a href="{{ unsubscribe_url }}">Stop</a>'
    )
    services.templates.add_version(
        tenant_a.operator, template.id, TemplateContent(subject="WINNER!!", html="<p>News</p>")
    )
    current = services.content_checks.template_checklist(tenant_a.operator, template.id)
    assert {i.check for i in current.blocking} == {"unsubscribe_link"}
    assert _item(current, "spammy_phrases")[0] is False
    first = services.content_checks.template_checklist(tenant_a.operator, template.id, 1)
    assert first.blocking == []
    transactional = services.content_checks.template_checklist(
        tenant_a.operator, template.id, marketing=False
    )
    assert _item(transactional, "unsubscribe_link")[0] is True
