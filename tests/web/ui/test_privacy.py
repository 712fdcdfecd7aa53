"""Privacy and settings, through the pages: a privacy officer answers data-subject
requests before their deadline, reads the register and the audit log and checks
its chain; an admin brands the recipients' pages and the French confirmation
email, and a French-speaking person signs up and gets it (issue 19 item 19)."""

from __future__ import annotations

import datetime as dt
import json
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from courriel.audience.models import ConsentSource
from courriel.audience.service import ConsentInput, ContactInput
from courriel.core.errors import NotFoundError
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from tests.support.delivery import deliver_all
from tests.support.journey import Journey
from tests.support.tenants import TenantAccess
from tests.web.ui.conftest import Member, member

ANA = "ana@gmail.test"
BOB = "bob@gmail.test"


def _people(services: Services, tenant: TenantAccess) -> dict[str, str]:
    """A list with two confirmed subscribers; their contact ids by address."""
    who = tenant.operator
    news = services.audience.create_list(who, "Café news", "Our monthly letter")
    ids = {}
    for email, first in ((ANA, "Ana"), (BOB, "Bob")):
        done = services.audience.subscribe(
            who,
            ContactInput(email=email, first_name=first),
            [news.id],
            ConsentInput(source=ConsentSource.API, purpose_text="monthly", confirmed=True),
        )
        ids[email] = done.contact.id
    return ids


def _record(journey: Journey, kind: str, email: str, received_on: str = "") -> None:
    journey.goto("/app/privacy")
    page = journey.page
    page.select_option("#f-type", kind)
    page.fill("#f-email", email)
    if received_on:
        page.fill("#f-received_on", received_on)
    page.click("text=Record the request")
    page.wait_for_url(re.compile(r".*/app/privacy/requests/dsr_[^/?]+\?recorded=true$"))
    journey.check()


def test_a_privacy_officer_answers_requests_reads_the_register_and_checks_the_log(
    journey: Journey, services: Services, tenant_a: TenantAccess
) -> None:
    ids = _people(services, tenant_a)
    officer = member(services, tenant_a, "dpo@example.test", "privacy_officer")
    journey.sign_in(officer.email, officer.password)
    page = journey.page
    journey.goto("/app/privacy")
    journey.snap("privacy-requests-empty")

    # An access request: recorded with its deadline, the person's data downloaded.
    _record(journey, "access", ANA)
    assert page.locator("h1").inner_text().startswith("Data-subject request")
    assert ANA in page.locator("main").inner_text()
    assert "30 days left" in page.locator("main").inner_text()
    journey.snap("privacy-request-access")
    with page.expect_download() as download:
        page.click("text=Download (JSON)")
    exported = json.loads(download.value.path().read_text(encoding="utf-8"))
    assert ANA in json.dumps(exported)
    page.click("button:has-text('Fulfil')")
    page.wait_for_url("**?done=true")
    journey.check()

    # An erasure request, fulfilled: the contact is gone.
    _record(journey, "erasure", BOB)
    journey.snap("privacy-request-erasure")
    page.click("text=Erase now")
    page.wait_for_url("**?done=true")
    assert "Erasure certificate" in page.locator("main").inner_text()
    journey.snap("privacy-request-erased")
    with pytest.raises(NotFoundError):
        services.audience.get_contact(tenant_a.operator, ids[BOB])
    services.audience.get_contact(tenant_a.operator, ids[ANA])  # the other one stays

    # A request received 40 days ago and still open is overdue.
    long_ago = (services.clock.now() - dt.timedelta(days=40)).date().isoformat()
    _record(journey, "restriction", ANA, long_ago)
    assert "overdue" in page.locator("main").inner_text()
    journey.goto("/app/privacy")
    rows = page.locator("tbody tr")
    assert rows.count() == 3
    assert page.locator("tr.overdue").count() == 1
    assert "Overdue by 10 days" in page.locator("tr.overdue").inner_text()
    journey.snap("privacy-requests")
    journey.goto("/app/privacy?status=open")
    assert page.locator("tbody tr").count() == 1

    # Retention rules (read only for this role) and the register, exported.
    journey.goto("/app/privacy/retention")
    assert "Café news" in page.locator("main").inner_text()
    journey.snap("privacy-retention")
    journey.goto("/app/privacy/register")
    assert "Our monthly letter" in page.locator("table").inner_text()
    journey.snap("privacy-register")
    with page.expect_download() as download:
        page.click("text=Export (CSV)")
    assert "Café news" in download.value.path().read_text(encoding="utf-8")

    # The audit log, filtered, and its chain check.
    journey.goto("/app/privacy/audit")
    assert "privacy.request.created" in page.locator("table").inner_text()
    assert "contact.viewed" in page.locator("table").inner_text()  # the request page showed Ana
    journey.snap("privacy-audit")
    page.fill("#f-action", "privacy.request.created")
    page.click("main button:has-text('Filter')")
    page.wait_for_url("**action=privacy.request.created**")
    journey.check()
    actions = page.locator("tbody td code").all_inner_texts()
    assert {a for a in actions if a.startswith("privacy.")} == {"privacy.request.created"}
    with page.expect_download() as download:
        page.click("text=Export (CSV)")
    exported = download.value.path().read_text(encoding="utf-8")
    assert "privacy.request.created" in exported
    assert "privacy.data.exported" not in exported  # the filter holds
    page.click("text=Check the chain")
    page.wait_for_url("**/app/privacy/audit/verify")
    assert "The chain is intact" in page.locator("main").inner_text()
    journey.snap("privacy-audit-verify")


def test_a_request_for_an_unknown_address_is_refused_and_nothing_is_lost(
    journey: Journey, services: Services, tenant_a: TenantAccess
) -> None:
    _people(services, tenant_a)
    officer = member(services, tenant_a, "dpo@example.test", "privacy_officer")
    journey.sign_in(officer.email, officer.password)
    journey.goto("/app/privacy")
    page = journey.page
    page.select_option("#f-type", "erasure")
    page.fill("#f-email", "nobody@gmail.test")
    with journey.expecting(422):
        page.click("text=Record the request")
    journey.check()
    assert "no contact has this address" in page.locator("#f-email-note").inner_text()
    assert page.input_value("#f-email") == "nobody@gmail.test"
    assert page.input_value("#f-type") == "erasure"
    journey.snap("privacy-request-unknown-address")
    # An objection needs its ground.
    page.select_option("#f-type", "objection")
    page.fill("#f-email", ANA)
    with journey.expecting(422):
        page.click("text=Record the request")
    assert page.locator("#f-ground-note.error").count() == 1
    assert page.locator("tbody tr").count() == 0  # nothing recorded


def test_an_admin_sets_the_retention_rules_of_a_list(
    journey: Journey, services: Services, tenant_a: TenantAccess, admin: Member
) -> None:
    _people(services, tenant_a)
    journey.sign_in(admin.email, admin.password, admin.totp_secret)
    journey.goto("/app/privacy/retention")
    page = journey.page
    page.click("text=Set the rules of Café news")
    journey.check()
    page.fill("#f-inactive_months", "999")
    with journey.expecting(422):
        page.click("main button:has-text('Save')")
    assert "from 1 to 120" in page.locator("#f-inactive_months-note").inner_text()
    journey.snap("privacy-retention-list-refused")
    page.fill("#f-inactive_months", "12")
    page.fill("#f-recipients", "Courriel (processor)")
    page.click("main button:has-text('Save')")
    page.wait_for_url("**/app/privacy/retention?saved=true")
    journey.snap("privacy-retention-saved")
    assert "12 months" in page.locator("table").inner_text()
    lists = services.audience.list_lists(tenant_a.operator, None, 10).items
    assert services.governance.get(tenant_a.operator, lists[0].id).inactive_months == 12


FR_SUBJECT = "Confirmez votre inscription à {{ list_name }} — {{ organisation }}"
FR_BODY = (
    "Bonjour,\n\nMerci de votre intérêt pour {{ list_name }}.\n\n"
    "{{ confirm_url }}\n\nÀ très bientôt !"
)
FR_THANKS = "Merci ! Vous recevrez désormais {{ list_name }}."


def test_an_admin_brands_the_pages_and_the_french_confirmation_a_french_person_receives(
    journey: Journey,
    services: Services,
    tenant_a: TenantAccess,
    admin: Member,
    sandbox: Sandbox,
) -> None:
    who = tenant_a.operator
    services.sender_domains.add(who, "news-a.test")
    services.sender_domains.verify(who, "news-a.test")
    news = services.audience.create_list(who, "Café news", "Our monthly letter")
    form = services.signups.create_form(who, news.id, "Join us", "I agree to the monthly letter")
    journey.sign_in(admin.email, admin.password, admin.totp_secret)
    page = journey.page
    journey.goto("/app/settings")
    journey.snap("settings-branding")

    # A colour that is not a colour: refused, the rest of the input kept.
    page.fill("#f-organisation", "Café Lumière")
    page.fill("#f-colour", "blue")
    with journey.expecting(422):
        page.click("main button:has-text('Save')")
    journey.check()
    assert "#rrggbb" in page.locator("#f-colour-note").inner_text()
    assert page.input_value("#f-organisation") == "Café Lumière"
    journey.snap("settings-branding-bad-colour")
    assert services.branding.get(who).organisation == ""

    page.fill("#f-colour", "#aa3300")
    page.fill("#f-background", "#fdf6ec")
    page.fill("#f-logo_url", journey.base + "/static/app/favicon.svg")
    page.fill("#f-footer", "Café Lumière, 1 rue du Port, Nantes")
    page.check("input[name=languages][value=fr]")
    page.select_option("#f-sender_domain", "news-a.test")
    page.click("main button:has-text('Save')")
    page.wait_for_url("**/app/settings?saved=true")
    journey.check()
    assert services.branding.get(who).languages == ("en", "fr")

    # The French confirmation: a syntax error is refused with the text kept.
    journey.goto("/app/settings/confirmation/fr")
    page.fill("#f-subject", FR_SUBJECT)
    page.fill("#f-body", "Bonjour {{ list_name \n{{ confirm_url }}")
    with journey.expecting(422):
        page.click("main button:has-text('Save')")
    journey.check()
    assert "line 2: expected token" in page.locator("#f-body-note").inner_text()
    assert page.input_value("#f-body").startswith("Bonjour {{ list_name")
    journey.snap("settings-confirmation-syntax-error")
    assert services.branding.get(who).confirmations == {}
    page.fill("#f-body", FR_BODY)
    page.fill("#f-thanks", FR_THANKS)
    page.click("main button:has-text('Preview')")
    journey.check()
    assert page.locator("#preview-subject").inner_text() == (
        "Confirmez votre inscription à Monthly news — Café Lumière"
    )
    journey.snap("settings-confirmation-preview")
    page.click("main button:has-text('Save')")
    page.wait_for_url("**/app/settings/confirmation/fr?saved=true")
    journey.snap("settings-confirmation-saved")

    # A French-speaking person signs up on the public form.
    journey.goto(f"/f/{tenant_a.tenant.id}/{form.id}?lang=fr")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert "Café Lumière" in page.locator("header.brand").inner_text()
    journey.snap("public-signup-fr")
    page.fill("#email", "amelie@gmail.test")
    page.check("input[name=consent]")
    page.click('button:has-text("S\'inscrire")')
    page.wait_for_load_state()
    journey.check()
    assert "Consultez votre boîte" in page.locator("h1").inner_text()
    journey.snap("public-signup-sent-fr")

    # Playwright's own loop runs in this thread; the delivery workers need theirs.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(deliver_all, services).result()
    (mail,) = sandbox.store.inbox("amelie@gmail.test")
    parsed = mail.as_email()
    assert mail.subject == "Confirmez votre inscription à Café news — Café Lumière"
    assert str(parsed["From"]).endswith("<confirm@news-a.test>")
    assert "d=news-a.test" in str(parsed["DKIM-Signature"])
    assert "Merci de votre intérêt pour Café news." in mail.text
    html = parsed.get_body(preferencelist=("html",))
    assert html is not None
    assert "Confirmer mon inscription" in html.get_content()
    assert "#aa3300" in html.get_content()
    link = re.search(r"https?://\S+/f/confirm\?token=\S+", mail.text)
    assert link is not None

    # The link, then the thank-you page, in French and in the tenant's look.
    journey.goto(re.sub(r"^https?://[^/]+", "", link.group(0)))
    assert "Confirmez votre inscription" in page.locator("h1").inner_text()
    journey.snap("public-confirm-fr")
    page.click("button:has-text('Confirmer mon inscription')")
    page.wait_for_load_state()
    journey.check()
    assert page.locator("h1").inner_text() == "Vous êtes inscrit"
    assert "Merci ! Vous recevrez désormais Café news." in page.locator("main").inner_text()
    assert "Café Lumière, 1 rue du Port" in page.locator("footer").inner_text()
    assert page.locator("header.brand img").evaluate("img => img.naturalWidth > 0")
    colour = page.locator("button, .brand p").first.evaluate("e => getComputedStyle(e).color")
    assert colour == "rgb(170, 51, 0)"
    journey.snap("public-thanks-fr")
    (amelie,) = services.audience.list_contacts(who, None, 5).items
    assert amelie.language == "fr"
    assert services.audience.subscriptions_of(who, amelie.id) == {news.id: "subscribed"}
