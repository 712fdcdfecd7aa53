"""A tenant's branding and its double opt-in texts (issue 19 item 19): edited per
language, checked when saved, sent in the contact's language from a verified
domain of the tenant, signed, with a branded thank-you page."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from courriel.audience.branding import BrandInput, Confirmation
from courriel.content.links import preferences_token, unsubscribe_token
from courriel.core.errors import InvalidInputError
from courriel.core.principal import Principal
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from tests.audience.test_signup import _csrf, _form, _path
from tests.support.delivery import deliver_all
from tests.support.seeds.rights import add_person, make_campaign, make_list, message_of, send
from tests.support.tenants import TenantAccess


def _deliver(services: Services) -> None:
    # On its own thread: a browser journey of the same worker may hold this one's loop.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(deliver_all, services).result()


FRENCH = Confirmation(
    subject="Bienvenue chez {{ organisation }} : confirmez {{ list_name }}",
    body="Bonjour !\n\nCliquez pour confirmer :\n{{ confirm_url }}\n\nÀ bientôt.",
    thanks="Merci infiniment, vous recevrez {{ list_name }}.",
)


def test_defaults_until_set_and_the_look_is_checked(
    services: Services, tenant_a: TenantAccess
) -> None:
    who: Principal = tenant_a.operator
    brand = services.branding.get(who)
    assert brand.languages == ("en",)
    assert "confirm" in brand.confirmation("en").subject.lower()
    with pytest.raises(InvalidInputError) as bad:
        services.branding.set(who, BrandInput(organisation="Café", colour="blue"))
    assert bad.value.field == "colour"
    with pytest.raises(InvalidInputError) as bad:
        services.branding.set(who, BrandInput(logo_url="javascript:alert(1)"))
    assert bad.value.field == "logo_url"
    with pytest.raises(InvalidInputError) as bad:
        services.branding.set(who, BrandInput(languages=["en", "de"]))
    assert bad.value.field == "languages"
    with pytest.raises(InvalidInputError) as bad:
        services.branding.set(who, BrandInput(sender_domain="not-mine.test"))
    assert bad.value.field == "sender_domain"
    # Nothing was stored by the refusals.
    assert services.branding.get(who).updated_at is None
    saved = services.branding.set(
        who,
        BrandInput(organisation="Café Lumière", colour="#AA3300", languages=["fr", "en"]),
    )
    assert (saved.colour, saved.languages) == ("#aa3300", ("fr", "en"))
    assert services.branding.get(who).organisation == "Café Lumière"


def test_confirmation_texts_are_checked_and_previewed(
    services: Services, tenant_a: TenantAccess
) -> None:
    who = tenant_a.operator
    for broken, field in (
        (Confirmation("Hi {{ list_name", "x {{ confirm_url }}", "t"), "subject"),
        (Confirmation("Hi", "{% if %}{{ confirm_url }}", "t"), "body"),
        (Confirmation("Hi", "no link here", "t"), "body"),
        (Confirmation("Hi", "{{ confirm_url }} {{ secret }}", "t"), "body"),
        (Confirmation("Hi", "{{ confirm_url }}", "{{ list_name.__class__.__mro__ }}"), "thanks"),
    ):
        with pytest.raises(InvalidInputError) as bad:
            services.branding.set_confirmation(who, "fr", broken)
        assert bad.value.field == field, broken
    assert services.branding.get(who).confirmations == {}
    shown = services.branding.preview(who, "fr", FRENCH)
    assert shown.subject == "Bienvenue chez  : confirmez Monthly news".replace("  ", " ")
    assert "Confirmer mon inscription" in shown.html
    services.branding.set_confirmation(who, "fr", FRENCH)
    assert services.branding.get(who).confirmation("fr") == FRENCH
    assert services.branding.get(who).confirmation("en").subject.startswith("Please confirm")


def test_a_french_contact_gets_the_branded_french_confirmation_signed_from_the_tenant_domain(
    client: TestClient, services: Services, tenant_a: TenantAccess, sandbox: Sandbox
) -> None:
    who = tenant_a.operator
    services.sender_domains.add(who, "news-a.test")
    services.sender_domains.verify(who, "news-a.test")
    services.branding.set(
        who,
        BrandInput(
            organisation="Café Lumière",
            colour="#aa3300",
            footer="Café Lumière, 1 rue du Port, Nantes",
            languages=["en", "fr"],
            sender_domain="news-a.test",
        ),
    )
    services.branding.set_confirmation(who, "fr", FRENCH)
    form = _form(client, tenant_a)
    path = _path(form["hosted_url"])
    page = client.get(path, headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert 'lang="fr"' in page.text
    assert "Adresse e-mail" in page.text
    assert "Café Lumière" in page.text
    done = client.post(
        path,
        data={"email": "amelie@gmail.test", "consent": "yes", "csrf": _csrf(page.text)}
        | {"language": "fr"},
    )
    assert "Consultez votre boîte" in done.text
    _deliver(services)
    (mail,) = sandbox.store.inbox("amelie@gmail.test")
    parsed = mail.as_email()
    assert mail.subject == "Bienvenue chez Café Lumière : confirmez Café news"
    assert str(parsed["From"]).endswith("@news-a.test>")
    assert "DKIM-Signature" in parsed
    assert "d=news-a.test" in str(parsed["DKIM-Signature"])
    assert "Cliquez pour confirmer" in mail.text
    html = parsed.get_body(preferencelist=("html",))
    assert html is not None
    assert "#aa3300" in html.get_content()
    assert "Café Lumière, 1 rue du Port" in html.get_content()
    link = re.search(r"https?://\S+/f/confirm\?token=\S+", mail.text)
    assert link is not None
    shown = client.get(_path(link.group(0)))
    token = re.search(r'name="token" value="([^"]+)"', shown.text)
    assert token is not None
    thanks = client.post("/f/confirm", data={"token": token.group(1)})
    assert thanks.status_code == 200
    assert "Vous êtes inscrit" in thanks.text
    assert "Merci infiniment, vous recevrez Café news." in thanks.text
    assert "Café Lumière" in thanks.text
    assert "#aa3300" in thanks.text


def test_without_a_verified_domain_the_platform_sends_in_english(
    client: TestClient, services: Services, tenant_a: TenantAccess, sandbox: Sandbox
) -> None:
    form = _form(client, tenant_a)
    path = _path(form["hosted_url"])
    page = client.get(path, headers={"Accept-Language": "fr"})
    assert "Email address" in page.text  # French is not offered yet
    client.post(path, data={"email": "bob@gmail.test", "consent": "yes", "csrf": _csrf(page.text)})
    _deliver(services)
    (mail,) = sandbox.store.inbox("bob@gmail.test")
    assert mail.subject == "Please confirm your subscription to Café news"
    assert str(mail.as_email()["From"]).endswith(f"@{services.settings.return_path_domain}>")


def test_the_api_sets_the_branding_and_the_texts_with_the_same_checks(
    client: TestClient, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    h = tenant_a.headers
    bad = client.put("/v1/branding", json={"colour": "red"}, headers=h)
    assert bad.status_code == 422
    assert "colour" in bad.text
    done = client.put(
        "/v1/branding",
        json={"organisation": "Café Lumière", "colour": "#AA3300", "languages": ["fr", "en"]},
        headers=h,
    )
    assert done.status_code == 200, done.text
    assert done.json()["colour"] == "#aa3300"
    broken = client.put(
        "/v1/branding/confirmations/fr",
        json={"subject": "{{ list_name", "body": "{{ confirm_url }}", "thanks": "Merci"},
        headers=h,
    )
    assert broken.status_code == 422
    assert "subject" in broken.text
    texts = {"subject": FRENCH.subject, "body": FRENCH.body, "thanks": FRENCH.thanks}
    saved = client.put("/v1/branding/confirmations/fr", json=texts, headers=h)
    assert saved.json()["confirmations"]["fr"] == texts
    shown = client.post("/v1/branding/confirmations/fr/preview", headers=h).json()
    assert shown["subject"] == "Bienvenue chez Café Lumière : confirmez Monthly news"
    assert "Confirmer mon inscription" in shown["html"]
    # Another tenant's branding is its own.
    assert client.get("/v1/branding", headers=tenant_b.headers).json()["organisation"] == ""
    assert client.delete("/v1/branding/confirmations/fr", headers=h).json()["confirmations"] == {}


def test_the_privacy_center_and_the_unsubscribe_page_show_the_senders_look(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    services.branding.set(
        tenant_a.operator,
        BrandInput(
            organisation="Café Lumière",
            logo_url="https://cdn.cafe-lumiere.test/logo.png",
            colour="#aa3300",
            footer="1 rue du Port, Nantes",
        ),
    )
    news = make_list(client, tenant_a, "News")
    ada = add_person(client, tenant_a, news, "ada@gmail.test", "Ada")
    campaign = make_campaign(client, tenant_a, news)
    send(client, tenant_a, campaign)
    message = message_of(services, tenant_a, campaign, ada)
    key, tenant = services.secret_key, tenant_a.tenant.id
    for path in (
        f"/p/{preferences_token(key, tenant, message)}",
        f"/u/{unsubscribe_token(key, tenant, message)}",
    ):
        page = client.get(path)
        assert page.status_code == 200, path
        assert "Café Lumière" in page.text
        assert "1 rue du Port, Nantes" in page.text
        assert "#aa3300" in page.text
        assert '<img src="https://cdn.cafe-lumiere.test/logo.png"' in page.text
        # Only the logo's own origin is allowed, beside the usual policy.
        policy = page.headers["content-security-policy"]
        assert "img-src https://cdn.cafe-lumiere.test;" in policy
        assert "frame-ancestors 'none'" in policy
    # Another tenant's pages keep the plain look.
    assert "Café Lumière" not in client.get("/u/forged").text
