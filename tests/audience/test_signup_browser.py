"""The hosted sign-up page in a real browser (Debian's chromium) against a real server."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import Browser

from courriel.services import Services
from tests.support.tenants import TenantAccess

SHOT = os.environ.get("COURRIEL_SIGNUP_SCREENSHOT")


def test_a_person_signs_up_in_a_browser(
    live_http: str, chromium: Browser, services: Services, tenant_a: TenantAccess, tmp_path: Path
) -> None:
    lst = services.audience.create_list(tenant_a.operator, "Café news", "Our monthly letter")
    signup = services.signups.create_form(
        tenant_a.operator, lst.id, "Join the café", "I agree to receive the monthly letter"
    )
    page = chromium.new_page()
    page.goto(f"{live_http}/f/{tenant_a.tenant.id}/{signup.id}")
    assert not page.is_checked("input[name=consent]")
    page.fill("input[name=email]", "browser@gmail.test")
    page.click("button[type=submit]")
    # The required checkbox stops the submission in the browser itself.
    assert page.url.endswith(signup.id)
    assert "Check your inbox" not in page.content()
    page.check("input[name=consent]")
    page.screenshot(path=str(SHOT or tmp_path / "signup.png"))
    page.click("button[type=submit]")
    page.wait_for_selector("text=Check your inbox")
    contact = services.audience.list_contacts(tenant_a.operator, None, 10).items[0]
    assert contact.email == "browser@gmail.test"
    ledger = services.audience.consent_history(tenant_a.operator, contact.id)
    assert ledger[0].ip == "127.0.0.1"
    assert "Chrome" in (ledger[0].user_agent or "")
