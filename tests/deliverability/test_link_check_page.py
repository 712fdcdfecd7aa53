"""The campaign page's link-check switch: bad values and other tenants' campaigns refused."""

from __future__ import annotations

from fastapi.testclient import TestClient

from courriel.services import Services
from courriel.web.app import create_app
from tests.support.people import PASSWORD, make_user, post_form, sign_in
from tests.support.seeds.campaigns import make_campaign, seed_list
from tests.support.tenants import TenantAccess


def _campaign(services: Services, tenant: TenantAccess) -> str:
    list_id = seed_list(services, tenant, ["a@gmail.test"])
    return make_campaign(services, tenant, [list_id])


def test_the_switch_refuses_bad_values_and_other_tenants_campaigns(
    services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    make_user(services, tenant_a, email="mia@example.test", role="marketer")
    browser = TestClient(create_app(services), base_url="http://testserver")
    assert sign_in(browser, "mia@example.test", PASSWORD).status_code == 303
    ours, theirs = _campaign(services, tenant_a), _campaign(services, tenant_b)
    page = f"/app/campaigns/{ours}"
    choice = services.link_check_preferences.of_tenant

    bad = post_form(browser, page, f"{page}/link-check", on="2")
    assert bad.status_code == 422
    assert "must be 1 (check links) or 0 (do not)" in bad.text
    assert post_form(browser, page, f"{page}/link-check", on="yes").status_code == 422
    elsewhere = post_form(browser, page, f"/app/campaigns/{theirs}/link-check", on="1")
    assert elsewhere.status_code == 404
    assert (choice(tenant_a.tenant.id).campaigns, choice(tenant_b.tenant.id).campaigns) == (
        False,
        False,
    )

    on = post_form(browser, page, f"{page}/link-check", on="1")
    assert on.status_code == 303
    assert on.headers["location"] == f"{page}?done=link-check-on"
    assert choice(tenant_a.tenant.id).campaigns is True
    assert choice(tenant_b.tenant.id).campaigns is False
    shown = browser.get(on.headers["location"]).text
    assert "Every link will be fetched before a campaign is sent." in shown
    assert "Stop checking links" in shown
