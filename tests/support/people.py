"""Users and browsers for the account tests: a frozen clock, an https test client,
a user with a known password, and the sign-in form filled in as a person would."""

from __future__ import annotations

import datetime as dt
import re

from fastapi.testclient import TestClient
from httpx import Response

from courriel.accounts.models import User
from courriel.services import Services
from tests.support.tenants import TenantAccess

START = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)
PASSWORD = "violet staircase hums at dawn"
COOKIE = "__Host-courriel_session"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_DATA_CSRF = re.compile(r'data-csrf="([^"]+)"')


def make_user(
    services: Services,
    tenant: TenantAccess,
    email: str = "ana@example.test",
    role: str = "admin",
    password: str = PASSWORD,
) -> User:
    """An active user who has already chosen `password`."""
    created = services.users.create(tenant.operator, email, role)
    assert created.one_time_password is not None
    services.credentials.change(created.user.id, created.one_time_password, password)
    return services.users.get(tenant.operator, created.user.id)


def csrf_of(html: str) -> str:
    """The CSRF token of the first form (or passkey button) on a page."""
    found = _CSRF.search(html) or _DATA_CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def sign_in(client: TestClient, email: str, password: str, **headers: str) -> Response:
    """Open the sign-in page and submit it; the answer (redirects not followed)."""
    page = client.get("/app/sign-in")
    answer: Response = client.post(
        "/app/sign-in",
        data={"email": email, "password": password, "csrf": csrf_of(page.text)},
        headers=headers,
        follow_redirects=False,
    )
    return answer


def post_form(client: TestClient, page: str, action: str, **data: str) -> Response:
    """GET `page`, then POST `data` with its CSRF token to `action`."""
    token = csrf_of(client.get(page).text)
    answer: Response = client.post(action, data={"csrf": token, **data}, follow_redirects=False)
    return answer
