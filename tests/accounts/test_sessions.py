"""Sessions: timeouts, rotation, fixation, CSRF, the list and signing out everywhere,
and the one principal a session gives the API."""

from __future__ import annotations

from fastapi.testclient import TestClient

from courriel.accounts.models import UserSession
from courriel.accounts.sessions import token_id
from courriel.core.clock import FrozenClock
from courriel.services import Services
from courriel.web.app import create_app
from tests.support.people import COOKIE, PASSWORD, csrf_of, make_user, post_form, sign_in
from tests.support.tenants import TenantAccess, make_tenant


def signed_in(browser: TestClient, services: Services, tenant: TenantAccess) -> str:
    make_user(services, tenant)
    assert sign_in(browser, "ana@example.test", PASSWORD).status_code == 303
    token = browser.cookies.get(COOKIE)
    assert token
    return str(token)


def test_idle_timeout_ends_a_quiet_session(
    browser: TestClient, services: Services, tenant_a: TenantAccess, clock: FrozenClock
) -> None:
    signed_in(browser, services, tenant_a)
    clock.advance(minutes=29)
    assert browser.get("/app").status_code == 200
    # Each request keeps it alive: 29 more minutes are fine again.
    clock.advance(minutes=29)
    assert browser.get("/app").status_code == 200
    clock.advance(minutes=30)
    assert browser.get("/app", follow_redirects=False).headers["location"] == "/app/sign-in"


def test_absolute_timeout_ends_even_a_busy_session(
    browser: TestClient, services: Services, tenant_a: TenantAccess, clock: FrozenClock
) -> None:
    signed_in(browser, services, tenant_a)
    for _ in range(11 * 4):
        clock.advance(minutes=15)
        assert browser.get("/app").status_code == 200
    clock.advance(minutes=59)
    assert browser.get("/app").status_code == 200
    clock.advance(minutes=1)
    assert browser.get("/app", follow_redirects=False).status_code == 303


def test_a_planted_session_id_is_never_adopted(
    browser: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    make_user(services, tenant_a)
    make_user(services, tenant_a, "mallory@example.test", role="analyst")
    # The attacker signs in and plants their own genuine token in the victim's browser.
    with TestClient(create_app(services), base_url="https://testserver") as attacker:
        sign_in(attacker, "mallory@example.test", PASSWORD)
        planted = attacker.cookies.get(COOKIE)
    assert planted
    page = browser.get("/app/sign-in")
    answer = browser.post(
        "/app/sign-in",
        data={"email": "ana@example.test", "password": PASSWORD, "csrf": csrf_of(page.text)},
        headers={"cookie": f"{COOKIE}={planted}; {page.headers['set-cookie'].split(';')[0]}"},
        follow_redirects=False,
    )
    issued = answer.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    assert issued != planted
    # The planted token was ended, not upgraded to the victim's identity.
    assert services.sessions.resolve(planted) is None
    victim = services.sessions.resolve(issued)
    assert victim is not None
    assert victim.user.email == "ana@example.test"


def test_the_session_id_changes_at_each_privilege_change(
    browser: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    created = services.users.create(tenant_a.operator, "new@example.test", "analyst")
    assert created.one_time_password
    sign_in(browser, "new@example.test", created.one_time_password)
    first = browser.cookies.get(COOKIE)
    assert first
    answer = post_form(
        browser,
        "/app/password",
        "/app/password",
        current=created.one_time_password,
        new="a proper passphrase now",
    )
    assert answer.headers["location"] == "/app"
    second = browser.cookies.get(COOKIE)
    assert second
    assert second != first
    with services.storage.control() as session:
        assert session.get(UserSession, token_id(first)) is None
        assert session.get(UserSession, token_id(second)) is not None
    # The old token is worth nothing now.
    with TestClient(create_app(services), base_url="https://testserver") as stale:
        stale.cookies.set(COOKIE, first, domain="testserver")
        assert stale.get("/app", follow_redirects=False).status_code == 303


def test_state_changing_forms_refuse_a_missing_or_wrong_csrf_token(
    browser: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    signed_in(browser, services, tenant_a)
    # Every page of a session offers to sign out.
    for page in ("/app", "/app/security", "/app/password", "/app/sessions"):
        assert 'action="/app/sign-out"' in browser.get(page).text, page
    assert 'action="/app/sign-out"' not in browser.get("/app/sign-in").text
    for action in ("/app/sign-out", "/app/sessions/end-all", "/app/security/totp"):
        for data in ({}, {"csrf": "guessed"}):
            answer = browser.post(action, data=data, follow_redirects=False)
            assert answer.status_code == 403, (action, data)
            assert "CSRF" in answer.json()["detail"]
    assert browser.get("/app").status_code == 200


def test_the_api_takes_the_session_cookie_as_the_same_principal(
    browser: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    token = signed_in(browser, services, tenant_a)
    assert browser.get("/v1/lists").status_code == 200
    # A non-GET needs the CSRF token in a header, or another site could make the browser act.
    refused = browser.post("/v1/lists", json={"name": "News"})
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    csrf = csrf_of(browser.get("/app").text)
    made = browser.post("/v1/lists", json={"name": "News"}, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201, made.text
    listed = browser.get("/v1/lists", headers=tenant_a.headers).json()["data"]
    assert [item["name"] for item in listed] == ["News"]
    # The session is bound to its tenant: tenant B's key sees nothing of it.
    lists_b = browser.get("/v1/lists", headers=tenant_b_headers(services))
    assert lists_b.json()["data"] == []
    del token


def tenant_b_headers(services: Services) -> dict[str, str]:
    return make_tenant(services, "Tenant B").headers


def test_a_role_without_a_capability_is_refused_through_the_session(
    browser: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    make_user(services, tenant_a, "an@example.test", role="analyst")
    sign_in(browser, "an@example.test", PASSWORD)
    csrf = csrf_of(browser.get("/app").text)
    answer = browser.post("/v1/lists", json={"name": "News"}, headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 403


def test_sessions_are_listed_and_ended_one_by_one_or_everywhere(
    services: Services, tenant_a: TenantAccess
) -> None:
    make_user(services, tenant_a)
    app = create_app(services)
    with (
        TestClient(app, base_url="https://testserver") as laptop,
        TestClient(app, base_url="https://testserver") as phone,
        TestClient(app, base_url="https://testserver") as tablet,
    ):
        sign_in(laptop, "ana@example.test", PASSWORD, **{"user-agent": "Laptop browser"})
        sign_in(phone, "ana@example.test", PASSWORD, **{"user-agent": "Phone browser"})
        sign_in(tablet, "ana@example.test", PASSWORD, **{"user-agent": "Tablet browser"})
        page = laptop.get("/app/sessions")
        for agent in ("Laptop browser", "Phone browser", "Tablet browser"):
            assert agent in page.text
        phone_id = token_id(phone.cookies.get(COOKIE) or "")
        ended = laptop.post(
            "/app/sessions/end",
            data={"csrf": csrf_of(page.text), "session": phone_id},
            follow_redirects=False,
        )
        assert ended.status_code == 303
        assert phone.get("/app", follow_redirects=False).status_code == 303
        assert tablet.get("/app").status_code == 200
        everywhere = post_form(laptop, "/app/sessions", "/app/sessions/end-all")
        assert everywhere.headers["location"] == "/app/sign-in"
        assert tablet.get("/app", follow_redirects=False).status_code == 303
        assert laptop.get("/app", follow_redirects=False).status_code == 303


def test_plain_http_installations_use_a_cookie_without_the_host_prefix(
    services: Services, tenant_a: TenantAccess
) -> None:
    services.settings = services.settings.model_copy(update={"public_url": "http://testserver"})
    make_user(services, tenant_a)
    with TestClient(create_app(services)) as plain:
        answer = sign_in(plain, "ana@example.test", PASSWORD)
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith("courriel_session=")
        assert "secure" not in cookie.lower()
        assert "httponly" in cookie.lower()
        assert plain.get("/app").status_code == 200
