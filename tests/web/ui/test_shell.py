"""The application's shell: sign-in with a second factor, the dashboard, the
navigation a role allows, the user's language, error pages."""

from __future__ import annotations

import pyotp

from courriel.services import Services
from tests.support.journey import Journey
from tests.support.tenants import TenantAccess
from tests.web.ui.conftest import Member, member


def test_sign_in_with_password_and_totp_lands_on_the_dashboard(
    journey: Journey, admin: Member
) -> None:
    journey.goto("/app/sign-in")
    journey.snap("sign-in")
    journey.page.fill("#email", admin.email)
    journey.page.fill("#password", admin.password)
    journey.page.click("button[type=submit]")
    journey.page.wait_for_url(f"{journey.base}/app/sign-in/second-factor")
    journey.snap("second-factor")
    assert admin.totp_secret is not None
    journey.page.fill("#code", pyotp.TOTP(admin.totp_secret).now())
    journey.page.click("button[type=submit]")
    journey.page.wait_for_url(f"{journey.base}/app")
    journey.check()
    page = journey.page
    assert page.locator("h1").inner_text() == "Dashboard"
    assert page.locator("#policy-title").is_visible()
    assert page.locator("figure.chart svg, figure.chart canvas").count() >= 1
    journey.snap("dashboard")
    # Every section an admin may open is in the navigation and answers.
    links = page.locator("nav.side a").evaluate_all("(as) => as.map(a => a.getAttribute('href'))")
    assert "/app/team" in links
    assert "/app/campaigns" in links


def test_the_navigation_shows_only_what_the_role_allows(
    journey: Journey, services: Services, tenant_a: TenantAccess
) -> None:
    analyst = member(services, tenant_a, "analyst@example.test", "analyst")
    journey.sign_in(analyst.email, analyst.password)
    journey.check()
    links = journey.page.locator("nav.side a").evaluate_all(
        "(as) => as.map(a => a.getAttribute('href'))"
    )
    assert "/app/statistics" in links
    for hidden in ("/app/team", "/app/keys", "/app/imports", "/app/webhooks"):
        assert hidden not in links, hidden
    # A page the role does not allow answers as a page, not as JSON.
    with journey.expecting(403, 404):
        journey.page.goto(journey.base + "/app/keys")
    assert journey.page.locator("h1").count() == 1


def test_a_user_chooses_french_and_the_application_speaks_it(
    journey: Journey, admin: Member
) -> None:
    journey.sign_in(admin.email, admin.password, admin.totp_secret)
    journey.goto("/app/preferences")
    journey.snap("preferences")
    journey.page.select_option("#language", "fr")
    journey.page.click("text=Save")
    journey.page.wait_for_url("**/app/preferences?saved=true")
    journey.check()
    assert journey.page.locator("html").get_attribute("lang") == "fr"
    assert journey.page.locator("h1").inner_text() == "Préférences"
    journey.goto("/app")
    assert journey.page.locator("h1").inner_text() == "Tableau de bord"
    journey.snap("dashboard-fr")


def test_without_a_session_every_page_leads_to_sign_in(journey: Journey) -> None:
    journey.goto("/app/preferences")
    assert journey.page.url.endswith("/app/sign-in")


def test_the_keyboard_reaches_the_content_and_every_section(
    journey: Journey, admin: Member
) -> None:
    journey.sign_in(admin.email, admin.password, admin.totp_secret)
    journey.check()
    page = journey.page
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "content"
    # From the top, Tab walks the header, then every section of the navigation.
    page.goto(journey.base + "/app")
    reached = []
    for _ in range(30):
        page.keyboard.press("Tab")
        href = page.evaluate("document.activeElement.getAttribute('href')")
        if href and href.startswith("/app/") and href not in reached:
            reached.append(href)
    sections = page.locator("nav.side a").evaluate_all(
        "(as) => as.map(a => a.getAttribute('href'))"
    )
    assert [h for h in sections if h != "/app"] == [h for h in reached if h in sections]
