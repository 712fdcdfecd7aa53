"""The tenant turns link checking on from a campaign's checks; each bad link is then
shown on its own line, and the send stays off."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from courriel.config import Settings
from courriel.sandbox.server import Sandbox
from courriel.sandbox.web import BLOCKLIST_ZONE
from courriel.services import Services
from tests.support.journey import Journey
from tests.support.seeds.campaigns import make_campaign, seed_list
from tests.support.tenants import TenantAccess
from tests.web.ui.conftest import Member

SITE = "http://www.example.test"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.link_check_blocklist_zones = [BLOCKLIST_ZONE]
    settings.link_check_timeout_seconds = 2.0
    return settings


def test_the_check_page_lists_each_bad_link(
    journey: Journey,
    services: Services,
    tenant_a: TenantAccess,
    admin: Member,
    sandbox: Sandbox,
) -> None:
    list_id = seed_list(services, tenant_a, ["ann@gmail.test"])
    campaign = make_campaign(
        services,
        tenant_a,
        [list_id],
        html=(
            f'<p>Spring news.</p><a href="{SITE}/offer">Offer</a>'
            f'<a href="{SITE}/missing">Old page</a><a href="{SITE}/to-listed">Win</a>'
            '<a href="http://shop.other.test/landing">www.example.test/account</a>'
        ),
    )
    journey.sign_in(admin.email, admin.password, admin.totp_secret)
    journey.goto(f"/app/campaigns/{campaign}")
    page = journey.page
    expect(page.locator('#checks tr[data-check="link_check"]')).to_have_count(0)
    page.get_by_role("button", name="Fetch every link before sending").click()
    journey.check()
    expect(
        page.get_by_text("Every link will be fetched before a campaign is sent.")
    ).to_be_visible()
    row = page.locator('#checks tr[data-check="link_check"]')
    expect(row.locator(".badge.error")).to_be_visible()
    expect(row.locator("li")).to_have_text(
        [
            f"{SITE}/missing: dead link (HTTP 404)",
            (
                f"{SITE}/to-listed: redirects to http://www.listed.test/win, on another domain; "
                f"listed.test is listed on {BLOCKLIST_ZONE} (127.0.1.2)"
            ),
            (
                "http://shop.other.test/landing: phishing sign: the link shows www.example.test "
                "but leads to shop.other.test"
            ),
        ]
    )
    expect(page.locator("#send")).to_be_disabled()
    expect(page.get_by_role("button", name="Stop checking links")).to_be_visible()
    journey.snap("campaign-link-check")
