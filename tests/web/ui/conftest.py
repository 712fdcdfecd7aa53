"""The web application's journeys: a live server, a signed-up team, a watched browser.

Journeys run on SQLite only: they test what a person sees through the pages;
the services under them run on both backends in their own tests. One chromium
per pytest worker, a fresh context (cookies, storage) per test.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Browser, sync_playwright

from courriel.accounts.models import User
from courriel.config import Settings
from courriel.services import Services
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.databases import Templates, build_services
from tests.support.http import serve_app
from tests.support.journey import Journey, screenshots_dir
from tests.support.people import PASSWORD, make_user
from tests.support.tenants import TenantAccess


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def shared_chromium() -> Iterator[Browser]:
    """One headless chromium for the journeys of a module.

    Not for the whole session: Playwright's sync API keeps an event loop
    running on the main thread while it is open, and a later test of the same
    worker that calls asyncio.run (a delivery) would find it there.
    """
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def services(settings: Settings, templates: Templates, http_port: int) -> Iterator[Services]:
    """The services, with the public URL of the live server (links in mail resolve)."""
    local = settings.model_copy(update={"public_url": f"http://127.0.0.1:{http_port}"})
    built = build_services(local, templates)
    yield built
    built.close()


@pytest.fixture
def site(services: Services, http_port: int) -> Iterator[str]:
    """The application on a real socket; its base URL."""
    with serve_app(services, http_port) as base:
        yield base


@dataclass(frozen=True)
class Member:
    """A user of the team, with what a person needs to sign in."""

    user: User
    email: str
    password: str
    totp_secret: str | None = None


def member(
    services: Services,
    tenant: TenantAccess,
    email: str,
    role: str = "admin",
    totp: bool = False,
) -> Member:
    """A user of `tenant` with `role`, their password known, TOTP set up if asked."""
    user = make_user(services, tenant, email=email, role=role)
    secret = None
    if totp:
        enrolment = services.totp.begin(user.id)
        secret = enrolment.secret
        # Confirmed with the previous step's code (accepted: clocks drift), so the
        # current one is still unused for the sign-in (a code works once).
        services.totp.confirm(user.id, pyotp.TOTP(secret).at(time.time() - 30))
    return Member(user=user, email=email, password=PASSWORD, totp_secret=secret)


@pytest.fixture
def admin(services: Services, tenant_a: TenantAccess) -> Member:
    """The tenant's admin, who has a second factor."""
    return member(services, tenant_a, "admin@example.test", "admin", totp=True)


@pytest.fixture
def journey(shared_chromium: Browser, site: str, tmp_path: Path) -> Iterator[Journey]:
    """A watched page in a fresh context; fails the test on anything wrong seen."""
    context = shared_chromium.new_context(viewport={"width": 1280, "height": 860})
    walk = Journey.start(context, site, screenshots_dir(tmp_path / "shots"))
    try:
        yield walk
        walk.assert_clean()
    finally:
        context.close()
