"""A passkey registered and then used as the second factor, in Debian's chromium
with its virtual authenticator (DevTools WebAuthn domain), against a real server.

WebAuthn needs a secure context: http://localhost is one, so the installation's
public URL here is http://localhost:<port>, its RP ID "localhost".
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from courriel.config import Settings
from courriel.core.clock import FrozenClock
from courriel.services import Services
from tests.support.databases import Templates, build_services
from tests.support.http import serve_app
from tests.support.people import PASSWORD, make_user
from tests.support.tenants import TenantAccess

TIMEOUT_MS = 15_000


@pytest.fixture
def services(
    settings: Settings, templates: Templates, clock: FrozenClock, http_port: int
) -> Iterator[Services]:
    local = settings.model_copy(update={"public_url": f"http://localhost:{http_port}"})
    built = build_services(local, templates, clock)
    yield built
    built.close()


def sign_in(page: Page, base: str) -> None:
    page.goto(f"{base}/app/sign-in")
    page.fill("#email", "ana@example.test")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")


def test_a_passkey_is_registered_and_used_as_the_second_factor(
    chromium: Browser, services: Services, tenant_a: TenantAccess, http_port: int
) -> None:
    user = make_user(services, tenant_a)
    base = f"http://localhost:{http_port}"
    with serve_app(services, http_port):
        context = chromium.new_context()
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        cdp = context.new_cdp_session(page)
        cdp.send("WebAuthn.enable")
        cdp.send(
            "WebAuthn.addVirtualAuthenticator",
            {
                "options": {
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": True,
                    "hasUserVerification": True,
                    "isUserVerified": True,
                    "automaticPresenceSimulation": True,
                }
            },
        )
        sign_in(page, base)
        page.wait_for_url(f"{base}/app")
        page.goto(f"{base}/app/security")
        page.click("#add-passkey")
        page.wait_for_url(f"{base}/app")
        passkeys = services.passkeys.list(user.id)
        assert len(passkeys) == 1
        assert passkeys[0].sign_count >= 0
        page.click("text=Sign out")
        page.wait_for_url(f"{base}/app/sign-in")

        # Next sign-in: the password, then the passkey.
        sign_in(page, base)
        page.wait_for_url(f"{base}/app/sign-in/second-factor")
        assert page.locator("#use-passkey").is_visible()
        page.click("#use-passkey")
        page.wait_for_url(f"{base}/app")
        assert "ana@example.test" in page.content()
        context.close()
    entries = services.audit.entries(tenant_a.operator).items
    assert entries[-1].action == "auth.signed_in"
    assert '"factor":"password+passkey"' in entries[-1].detail
    assert services.passkeys.list(user.id)[0].last_used_at is not None


def test_a_passkey_from_another_authenticator_is_refused(
    chromium: Browser, services: Services, tenant_a: TenantAccess, http_port: int
) -> None:
    user = make_user(services, tenant_a)
    base = f"http://localhost:{http_port}"
    with serve_app(services, http_port):
        context = chromium.new_context()
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        cdp = context.new_cdp_session(page)
        cdp.send("WebAuthn.enable")
        options = {
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": True,
            "hasUserVerification": True,
            "isUserVerified": True,
            "automaticPresenceSimulation": True,
        }
        first = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})
        sign_in(page, base)
        page.wait_for_url(f"{base}/app")
        page.goto(f"{base}/app/security")
        page.click("#add-passkey")
        page.wait_for_url(f"{base}/app")
        page.click("text=Sign out")
        page.wait_for_url(f"{base}/app/sign-in")
        # The device with the passkey is gone; another one has no such credential.
        cdp.send(
            "WebAuthn.removeVirtualAuthenticator", {"authenticatorId": first["authenticatorId"]}
        )
        cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})
        sign_in(page, base)
        page.wait_for_url(f"{base}/app/sign-in/second-factor")
        page.click("#use-passkey")
        page.locator("#passkey-error").wait_for(state="visible")
        assert page.url == f"{base}/app/sign-in/second-factor"
        context.close()
    assert services.passkeys.list(user.id)[0].last_used_at is None
