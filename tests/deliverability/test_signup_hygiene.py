"""List hygiene on the public sign-up form: refusals in the visitor's words, "Did you mean …?"."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient
from playwright.sync_api import Browser

from courriel.audience.branding import BrandInput
from courriel.config import Settings
from courriel.services import Services
from tests.deliverability.zone import write_hygiene_zone
from tests.support.tenants import TenantAccess


def _form(services: Services, who: TenantAccess, **list_options: str) -> str:
    lst = services.audience.create_list(who.operator, "Café news", "Our letter", **list_options)  # type: ignore[arg-type]
    form = services.signups.create_form(who.operator, lst.id, "Join", "I agree to the letter")
    return f"/f/{who.tenant.id}/{form.id}"


def _submit(client: TestClient, path: str, email: str, lang: str = "en") -> tuple[int, str]:
    page = client.get(f"{path}?lang={lang}")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    fields = {"email": email, "consent": "yes", "csrf": csrf.group(1), "language": lang}
    response = client.post(path, data=fields)
    found = re.search(r'<p class="error" role="alert">(.*?)</p>', response.text)
    return response.status_code, html.unescape(found.group(1)) if found else ""


def test_the_form_refuses_what_hygiene_refuses_and_keeps_nothing(
    client: TestClient, services: Services, settings: Settings, tenant_a: TenantAccess
) -> None:
    write_hygiene_zone(settings)
    path = _form(services, tenant_a, role_addresses="refuse")
    for email, said in (
        ("zoe@yopmail.com", "Addresses at throwaway email services cannot subscribe"),
        ("zoe@gmial.com", "Did you mean zoe@gmail.com?"),
        ("zoe@nullmx.test", "This address's domain cannot receive email"),
        ("zoe@nomail.test", "This address's domain cannot receive email"),
        ("contact@live.test", "Use your own address rather than a shared one"),
    ):
        status, error = _submit(client, path, email)
        assert status == 422
        assert said in error
    # In French for a tenant whose forms speak French.
    services.branding.set(tenant_a.operator, BrandInput(languages=["fr", "en"]))
    status, error = _submit(client, path, "zoe@hotmial.fr", "fr")
    assert (status, error) == (422, "Vouliez-vous dire zoe@hotmail.fr ?")
    assert services.audience.list_contacts(tenant_a.operator, None, 10).items == []
    status, _ = _submit(client, path, "zoe@live.test")
    assert status == 200
    assert [
        c.email for c in services.audience.list_contacts(tenant_a.operator, None, 10).items
    ] == ["zoe@live.test"]


def test_a_flagging_list_lets_a_role_address_sign_up(
    client: TestClient, services: Services, settings: Settings, tenant_a: TenantAccess
) -> None:
    write_hygiene_zone(settings)
    status, _ = _submit(client, _form(services, tenant_a), "contact@live.test")
    assert status == 200


def test_the_visitor_sees_did_you_mean_in_a_browser(
    live_http: str,
    chromium: Browser,
    services: Services,
    settings: Settings,
    tenant_a: TenantAccess,
) -> None:
    write_hygiene_zone(settings)
    path = _form(services, tenant_a)
    page = chromium.new_page()
    page.goto(f"{live_http}{path}")
    page.fill("input[name=email]", "ines@yopmail.com")
    page.check("input[name=consent]")
    page.click("button[type=submit]")
    page.wait_for_selector("text=throwaway email services")
    page.fill("input[name=email]", "ines@gmial.com")
    page.check("input[name=consent]")
    page.click("button[type=submit]")
    page.wait_for_selector("text=Did you mean ines@gmail.com?")
    # What was typed stays in the field, to correct.
    assert page.input_value("input[name=email]") == "ines@gmial.com"
    assert services.audience.list_contacts(tenant_a.operator, None, 10).items == []
