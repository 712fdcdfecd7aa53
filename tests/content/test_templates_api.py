"""Templates through the API: MJML, frozen versions, preview, test send, input checks, isolation."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from courriel.campaigns.models import Campaign
from courriel.content.models import TemplateLink, TemplateVersion
from courriel.delivery.models import SpoolMessage
from courriel.delivery.transfer import stored_message
from courriel.services import Services
from tests.support.tenants import TenantAccess

MJML = """<mjml>
<mj-head><mj-style>.promo div { color: #c00000; }</mj-style></mj-head>
<mj-body>
  <mj-section><mj-column>
    <mj-text css-class="promo">Hello {{ contact.first_name|default("friend") }}
      {% if 1 < 2 %}!{% endif %}</mj-text>
    <mj-button href="https://shop.test/new">New</mj-button>
  </mj-column></mj-section>
  <mj-raw>{% for item in contact.items|default([]) %}</mj-raw>
  <mj-section><mj-column><mj-text>{{ item }}</mj-text></mj-column></mj-section>
  <mj-raw>{% endfor %}</mj-raw>
  <mj-section><mj-column><mj-text>
    <a href="{{ unsubscribe_url }}">Unsubscribe</a>
  </mj-text></mj-column></mj-section>
</mj-body>
</mjml>"""


def _template(client: TestClient, access: TenantAccess, **body: object) -> dict[str, object]:
    payload: dict[str, object] = {"name": "T", "subject": "Hi {{ contact.first_name }}"}
    payload.update(body)
    response = client.post("/v1/templates", json=payload, headers=access.headers)
    assert response.status_code == 201, response.text
    result: dict[str, object] = response.json()
    return result


def test_mjml_is_compiled_and_inlined_once_with_jinja_intact(
    client: TestClient, tenant_a: TenantAccess
) -> None:
    template = _template(
        client, tenant_a, mjml=MJML, preheader="Our news, {{ contact.first_name }}"
    )
    html = str(template["html"])
    assert template["source_format"] == "mjml"
    assert template["mjml"] == MJML
    assert "<mj-" not in html
    assert "<table" in html
    assert "color:#c00000" in html.replace(" ", "")
    assert '{{ contact.first_name|default("friend") }}' in html
    assert "{% if 1 < 2 %}" in html
    assert html.index("{% for item") < html.index("{{ item }}") < html.index("{% endfor %}")
    preview = client.post(
        f"/v1/templates/{template['id']}/preview",
        json={"sample": {"first_name": "Zoë", "items": ["a", "b"]}},
        headers=tenant_a.headers,
    ).json()
    assert preview["subject"] == "Hi Zoë"
    assert "Hello Zoë !" in " ".join(preview["html"].split())
    assert ">a<" in preview["html"]
    assert preview["preheader"] == "Our news, Zoë"
    assert "Our news, Zoë" in preview["html"]
    assert "Hello Zoë !" in " ".join(preview["text"].split())


def test_bad_mjml_is_refused_naming_the_field(client: TestClient, tenant_a: TenantAccess) -> None:
    response = client.post(
        "/v1/templates",
        json={"name": "T", "subject": "Hi", "mjml": "<mjml><mj-body><mj-text>"},
        headers=tenant_a.headers,
    )
    assert response.status_code == 422
    assert "mjml" in response.text


def test_versions_are_frozen_and_a_campaign_keeps_its_own(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    h = tenant_a.headers
    template = _template(client, tenant_a, html='<p>v1</p><a href="https://a.test/1">1</a>')
    list_id = client.post("/v1/lists", json={"name": "L"}, headers=h).json()["id"]
    campaign = client.post(
        "/v1/campaigns",
        json={
            "name": "C",
            "template_id": template["id"],
            "lists": [list_id],
            "from_email": "news@shop.test",
        },
        headers=h,
    ).json()["id"]
    second = client.post(
        f"/v1/templates/{template['id']}/versions",
        json={"subject": "Second", "html": '<p>v2</p><a href="https://b.test/2">2</a>'},
        headers=h,
    )
    assert second.status_code == 201, second.text
    assert second.json()["version"] == 2
    assert (
        client.get(f"/v1/templates/{template['id']}", headers=h).json()["html"].startswith("<p>v2")
    )
    first = client.get(f"/v1/templates/{template['id']}/versions/1", headers=h).json()
    assert first["html"].startswith("<p>v1")
    assert client.get(f"/v1/templates/{template['id']}/versions/9", headers=h).status_code == 404
    with services.storage.tenant(tenant_a.tenant.id)() as session:
        row = session.get(Campaign, campaign)
        assert row is not None
        version = session.get(TemplateVersion, row.template_version_id)
    assert version is not None
    assert version.version == 1


def test_preview_lists_undefined_variables_for_a_contact(
    client: TestClient, tenant_a: TenantAccess
) -> None:
    h = tenant_a.headers
    list_id = client.post("/v1/lists", json={"name": "L"}, headers=h).json()["id"]
    contact = client.post(
        "/v1/contacts",
        json={
            "email": "ada@example.test",
            "first_name": "Ada",
            "language": "fr",
            "lists": [list_id],
            "consent": {"source": "api", "purpose_text": "yes"},
        },
        headers=h,
    )
    assert contact.status_code == 201, contact.text
    template = _template(
        client,
        tenant_a,
        html="<p>{{ contact.first_name }} {{ contact.city }} {{ coupon }} {{ 1234.5|number }}</p>",
        defaults={"coupon": "WELCOME"},
    )
    preview = client.post(
        f"/v1/templates/{template['id']}/preview",
        json={"contact_id": contact.json()["contact"]["id"]},
        headers=h,
    ).json()
    assert "Ada" in preview["html"]
    assert "WELCOME" in preview["html"]
    assert "1\u202f234,5" in preview["html"]
    assert preview["undefined"] == ["contact.city"]
    assert preview["missing_defaults"] == ["contact.city"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"subject": "Hi\r\nBcc: victim@example.test", "html": "<p>x</p>"}, "subject"),
        ({"subject": "Hi", "html": "<p>x</p>", "sender_name": "Shop\nBcc: x@y"}, "sender_name"),
        ({"subject": "Hi", "html": "<p>x</p>", "preheader": "a\rb"}, "preheader"),
        ({"subject": "Hi", "html": "<p>x</p>", "headers": {"X-Tag": "a\r\nBcc: x"}}, "X-Tag"),
        ({"subject": "Hi", "html": "<p>x</p>", "headers": {"X-Tag": "a\x00b"}}, "X-Tag"),
        ({"subject": "Hi", "html": "<p>x</p>", "headers": {"Bad Name": "v"}}, "Bad Name"),
        ({"subject": "Hi", "html": "<p>x</p>", "headers": {"From": "ceo@bank.test"}}, "From"),
        (
            {"subject": "Hi", "html": "<p>x</p>", "headers": {"list-unsubscribe": "<x>"}},
            "list-unsubscribe",
        ),
        ({"subject": "Hi", "html": "<p>x</p>", "reply_to": "not an address"}, "reply_to"),
        ({"subject": "Hi", "html": "<p>x</p>", "mjml": "<mjml></mjml>"}, "html"),
        ({"subject": "Hi"}, "html"),
        ({"subject": "Hi", "html": "{{ x|attr('y') }}"}, "html"),
        ({"subject": "Hi", "html": "<p>x</p>", "defaults": {"a b": "x"}}, "defaults"),
    ],
)
def test_bad_template_input_is_refused_and_nothing_is_stored(
    client: TestClient, tenant_a: TenantAccess, body: dict[str, object], field: str
) -> None:
    response = client.post("/v1/templates", json={"name": "T", **body}, headers=tenant_a.headers)
    assert response.status_code == 422, response.text
    assert field in response.text
    listing = client.get("/v1/templates", headers=tenant_a.headers).json()
    assert listing["data"] == []


def test_custom_headers_are_sent(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    template = _template(
        client,
        tenant_a,
        html='<a href="{{ unsubscribe_url }}">u</a>',
        headers={"X-Campaign-Tag": "été"},
        reply_to="help@shop.test",
    )
    response = client.post(
        f"/v1/templates/{template['id']}/test-send",
        json={"to": "qa@example.test", "from_email": "news@shop.test", "from_name": "Shop"},
        headers=tenant_a.headers,
    )
    assert response.status_code == 202, response.text
    with services.storage.spool() as session:
        row = session.scalars(select(SpoolMessage)).one()
    body = stored_message(row.body_format, row.body)
    assert row.rcpt_to == "qa@example.test"
    assert row.message_id == response.json()["message_id"]
    # RFC 5322 §2.2: the field body is ASCII, the text in RFC 2047 encoded words.
    assert b"X-Campaign-Tag: =?utf-8?b?w6l0w6k=?=" in body
    assert b"Reply-To: <help@shop.test>" in body
    # Test sends are never tracked.
    assert b"/t/c/" not in body
    assert b"/t/o/" not in body


def test_a_test_send_is_delivered_like_any_message(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    template = _template(client, tenant_a, html="<p>Hi {{ contact.first_name }}</p>")
    response = client.post(
        f"/v1/templates/{template['id']}/test-send",
        json={
            "to": "qa@example.test",
            "from_email": "news@shop.test",
            "sample": {"first_name": "Tester"},
        },
        headers=tenant_a.headers,
    )
    assert response.status_code == 202, response.text
    assert services.spool.pending_count() == 1
    bad = client.post(
        f"/v1/templates/{template['id']}/test-send",
        json={"to": "not an address", "from_email": "news@shop.test"},
        headers=tenant_a.headers,
    )
    assert bad.status_code == 422
    assert "to" in bad.text
    assert services.spool.pending_count() == 1


def test_another_tenants_templates_are_out_of_reach(
    client: TestClient, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    template = _template(client, tenant_a, html="<p>secret of A</p>")
    tid = template["id"]
    hb = tenant_b.headers
    assert client.get(f"/v1/templates/{tid}", headers=hb).status_code == 404
    assert client.get(f"/v1/templates/{tid}/versions/1", headers=hb).status_code == 404
    assert client.post(f"/v1/templates/{tid}/preview", json={}, headers=hb).status_code == 404
    assert (
        client.post(
            f"/v1/templates/{tid}/versions", json={"subject": "x", "html": "y"}, headers=hb
        ).status_code
        == 404
    )
    assert (
        client.post(
            f"/v1/templates/{tid}/test-send",
            json={"to": "a@example.test", "from_email": "b@shop.test"},
            headers=hb,
        ).status_code
        == 404
    )
    assert client.get("/v1/templates", headers=hb).json()["data"] == []
    list_b = client.post("/v1/lists", json={"name": "L"}, headers=hb).json()["id"]
    contact = client.post(
        "/v1/contacts",
        json={
            "email": "b@example.test",
            "lists": [list_b],
            "consent": {"source": "api", "purpose_text": "yes"},
        },
        headers=hb,
    ).json()["contact"]["id"]
    response = client.post(
        f"/v1/templates/{tid}/preview", json={"contact_id": contact}, headers=tenant_a.headers
    )
    assert response.status_code == 422
    assert "contact_id" in response.text


def test_dkim_records_through_the_api(client: TestClient, tenant_a: TenantAccess) -> None:
    h = tenant_a.headers
    assert client.get("/v1/dkim/shop.test", headers=h).status_code == 404
    created = client.post("/v1/dkim/shop.test/rotate", headers=h)
    assert created.status_code == 201
    records = client.get("/v1/dkim/shop.test", headers=h).json()
    assert {r["algorithm"] for r in records} == {"rsa-sha256", "ed25519-sha256"}
    assert all(r["type"] == "TXT" and r["value"].startswith("v=DKIM1; k=") for r in records)
    assert "private" not in str(records).lower()
    assert client.post("/v1/dkim/not a domain/rotate", headers=h).status_code == 422


def test_only_http_links_are_stored_as_click_targets(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    html = (
        '<a href="https://shop.test/a">a</a><a href="javascript:alert(1)">j</a>'
        '<a href="data:text/html,x">d</a><a href="mailto:a@shop.test">m</a>'
        '<a href="{{ contact.site }}">v</a><a href="{{ unsubscribe_url }}">u</a>'
        "<a href='http://shop.test/b?x=1&amp;y=2'>b</a>"
    )
    _template(client, tenant_a, html=html)
    with services.storage.tenant(tenant_a.tenant.id)() as session:
        stored = session.execute(
            select(TemplateLink.position, TemplateLink.url).order_by(TemplateLink.position)
        ).all()
    assert [tuple(r) for r in stored] == [
        (0, "https://shop.test/a"),
        (1, "http://shop.test/b?x=1&y=2"),
    ]
