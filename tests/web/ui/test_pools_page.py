"""Settings, IP pools: a platform administrator sees every pool and how its warm-up
stands, and resumes a paused plan; a user of another account sees only the pools
of their own account's mail, in their language."""

from __future__ import annotations

from fastapi.testclient import TestClient
from playwright.sync_api import expect

from courriel.operations.pools.service import OPERATOR
from courriel.services import Services
from courriel.web.app import create_app
from tests.support.journey import Journey
from tests.support.people import PASSWORD, csrf_of, make_user
from tests.support.tenants import TenantAccess
from tests.web.ui.conftest import Member


def signed_in(services: Services, email: str) -> TestClient:
    browser = TestClient(create_app(services), base_url="http://testserver")
    page = browser.get("/app/sign-in")
    answer = browser.post(
        "/app/sign-in",
        data={"email": email, "password": PASSWORD, "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return browser


def test_an_administrator_sees_pools_and_warmup_and_resumes_a_paused_plan(
    services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    services.settings.platform_admin_tenant = tenant_a.tenant.id
    pools = services.pools
    pools.create(OPERATOR, "fresh", "New dedicated addresses")
    pools.add_address(OPERATOR, "fresh", "127.0.0.2", "mta2.example.com")
    pools.assign(OPERATOR, "fresh", tenant_b.tenant.id, mail_class="marketing")
    pools.start_warmup(OPERATOR, "fresh", "google", [50, 100])
    pools.warmup.reserve("fresh", "google", 20, services.clock.now())
    pools.warmup.pause("fresh", "google", "deferred (rate-limit, 4.7.28)", services.clock.now())
    make_user(services, tenant_a, email="ops@example.test")
    make_user(services, tenant_b, email="marketer@example.test")

    browser = signed_in(services, "ops@example.test")
    page = browser.get("/app/settings/pools")
    assert page.status_code == 200
    for shown in ("127.0.0.2", "mta2.example.com", tenant_b.tenant.id, "1 of 2", "rate-limit"):
        assert shown in page.text
    resumed = browser.post(
        "/app/settings/pools/fresh/warmup/google/resume",
        data={"csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert resumed.status_code == 303
    assert not pools.warmup.status(services.clock.now(), "fresh")[0].paused
    assert (
        browser.post(
            "/app/settings/pools/fresh/warmup/google/resume", data={}, follow_redirects=False
        ).status_code
        == 403
    )  # no CSRF token

    other = signed_in(services, "marketer@example.test")
    mine = other.get("/app/settings/pools", headers={"accept-language": "fr"})
    assert mine.status_code == 200
    assert "Courrier de la catégorie marketing" in mine.text
    assert "127.0.0.2" not in mine.text  # nothing of the platform's pools
    assert tenant_a.tenant.id not in mine.text
    forbidden = other.post(
        "/app/settings/pools/fresh/warmup/google/resume",
        data={"csrf": csrf_of(mine.text)},
        follow_redirects=False,
    )
    assert forbidden.status_code == 403


def test_the_pools_page_in_the_browser_shows_warmup_progress_and_resumes(
    journey: Journey, services: Services, admin: Member, tenant_a: TenantAccess
) -> None:
    services.settings.platform_admin_tenant = tenant_a.tenant.id
    pools = services.pools
    pools.create(OPERATOR, "bulk", "Marketing, shared", default=True)
    pools.add_address(OPERATOR, "bulk", "127.0.0.2", "mta2.mail.example.com")
    pools.add_address(OPERATOR, "bulk", "127.0.0.3", "mta3.mail.example.com")
    pools.start_warmup(OPERATOR, "bulk", "google")
    pools.start_warmup(OPERATOR, "bulk", "yahoo", [20, 40, 80, 150, 300], day=3)
    now = services.clock.now()
    pools.warmup.reserve("bulk", "google", 32, now)
    pools.warmup.reserve("bulk", "yahoo", 80, now)
    pools.warmup.pause("bulk", "yahoo", "deferred (rate-limit, 4.7.0)", now)
    page = journey.page

    journey.sign_in(admin.email, admin.password, admin.totp_secret)
    journey.goto("/app/settings/pools")
    expect(page.locator("#warmup-bulk-yahoo")).to_contain_text("rate-limit")
    journey.snap("settings-pools")
    page.click("text=Resume")
    page.wait_for_url("**/app/settings/pools?done=resumed")
    journey.check()
    expect(page.locator("#warmup-bulk-yahoo")).to_contain_text("running")
    journey.assert_clean()
