"""The privacy center in a real browser (Debian's chromium) against a real server:
leave a list, stop tracking, then delete me."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi.testclient import TestClient
from playwright.sync_api import Browser
from sqlalchemy import select

from courriel.audience.models import Contact
from courriel.content.links import preferences_token
from courriel.services import Services
from tests.support.seeds.rights import add_person, make_campaign, make_list, message_of, send
from tests.support.tenants import TenantAccess

SHOT = os.environ.get("COURRIEL_CENTER_SCREENSHOT")
ADA = "ada@gmail.test"


def test_a_person_uses_the_privacy_center_in_a_browser(
    live_http: str,
    chromium: Browser,
    client: TestClient,
    services: Services,
    tenant_a: TenantAccess,
    tmp_path: Path,
) -> None:
    news = make_list(client, tenant_a, "Café news")
    offers = make_list(client, tenant_a, "Offers")
    ada = add_person(client, tenant_a, news, ADA, "Ada")
    add_person(client, tenant_a, offers, ADA, "Ada")
    campaign = make_campaign(client, tenant_a, news)
    send(client, tenant_a, campaign)
    message = message_of(services, tenant_a, campaign, ada)
    url = f"{live_http}/p/{preferences_token(services.secret_key, tenant_a.tenant.id, message)}"

    page = chromium.new_page()
    page.goto(url)
    assert page.is_checked(f"input[name=keep][value={offers}]")
    page.uncheck(f"input[name=keep][value={offers}]")
    page.click("text=Save my lists")
    page.wait_for_selector("text=Your lists are updated.")
    assert not page.is_checked(f"input[name=keep][value={offers}]") or page.is_disabled(
        f"input[name=keep][value={offers}]"
    )
    page.click("text=Stop tracking me")
    page.wait_for_selector("text=We do not track your opens and clicks.")
    page.screenshot(path=str(SHOT or tmp_path / "center.png"), full_page=True)
    # The required box stops the deletion in the browser itself.
    page.click("text=Delete my data")
    assert page.url.startswith(url)
    assert "Your data is erased" not in page.content()
    page.check("input[name=confirm]")
    page.click("text=Delete my data")
    page.wait_for_selector("text=Your data is erased")

    with services.storage.tenant(tenant_a.tenant.id)() as session:
        assert session.scalar(select(Contact.id).where(Contact.email == ADA)) is None
    kinds = sorted(
        (r["type"], r["status"])
        for r in client.get("/v1/privacy/requests", headers=tenant_a.headers).json()["data"]
    )
    assert kinds == [("erasure", "fulfilled"), ("objection", "fulfilled")]
