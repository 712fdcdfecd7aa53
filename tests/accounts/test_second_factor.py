"""TOTP on a frozen clock, single-use recovery codes, a team that requires 2FA."""

from __future__ import annotations

import re

import pyotp
from fastapi.testclient import TestClient
from sqlalchemy import text

from courriel.core.clock import FrozenClock
from courriel.services import Services
from courriel.web.app import create_app
from tests.support.people import PASSWORD, csrf_of, make_user, post_form, sign_in
from tests.support.tenants import TenantAccess


def enrol_totp(browser: TestClient, clock: FrozenClock) -> tuple[pyotp.TOTP, list[str]]:
    """Set up TOTP through the pages as a person would; the app and the recovery codes."""
    page = post_form(browser, "/app/security", "/app/security/totp")
    assert page.status_code == 200
    assert "<svg" in page.text  # the QR code, drawn inline
    assert "http" not in page.text.split("<svg", 1)[1].split("</svg>", 1)[0].replace(
        "http://www.w3.org/2000/svg", ""
    )
    secret = re.search(r"<code>([A-Z2-7]+)</code>", page.text)
    assert secret
    app = pyotp.TOTP(secret.group(1))
    done = browser.post(
        "/app/security/totp/confirm",
        data={"csrf": csrf_of(page.text), "code": app.at(clock.now())},
    )
    assert done.status_code == 200, done.text
    codes = re.findall(r"<li>([a-z2-9]{4}-[a-z2-9]{5}-[a-z2-9]{5})</li>", done.text)
    assert len(codes) == 10
    return app, codes


def test_totp_enrolment_then_sign_in_with_a_code(
    browser: TestClient, services: Services, tenant_a: TenantAccess, clock: FrozenClock
) -> None:
    make_user(services, tenant_a)
    sign_in(browser, "ana@example.test", PASSWORD)
    app, _ = enrol_totp(browser, clock)
    post_form(browser, "/app", "/app/sign-out")
    clock.advance(minutes=5)
    answer = sign_in(browser, "ana@example.test", PASSWORD)
    assert answer.headers["location"] == "/app/sign-in/second-factor"
    # The password alone opens nothing.
    assert browser.get("/app", follow_redirects=False).status_code == 303
    assert browser.get("/v1/lists").status_code == 401
    wrong = post_form(
        browser, "/app/sign-in/second-factor", "/app/sign-in/second-factor", code="000000"
    )
    assert wrong.status_code == 401
    # A code from 90 seconds ago is too old (one step of drift is allowed, not three).
    old = app.at(clock.now().timestamp() - 90)
    stale = post_form(browser, "/app/sign-in/second-factor", "/app/sign-in/second-factor", code=old)
    assert stale.status_code == 401
    code = app.at(clock.now())
    good = post_form(browser, "/app/sign-in/second-factor", "/app/sign-in/second-factor", code=code)
    assert good.headers["location"] == "/app"
    assert browser.get("/app").status_code == 200
    actions = [e.action for e in services.audit.entries(tenant_a.operator).items]
    assert actions[-1] == "auth.signed_in"
    assert actions.count("auth.second_factor_failed") == 2
    assert '"factor":"password+totp"' in services.audit.entries(tenant_a.operator).items[-1].detail


def test_a_totp_code_works_only_once(
    browser: TestClient, services: Services, tenant_a: TenantAccess, clock: FrozenClock
) -> None:
    user = make_user(services, tenant_a)
    sign_in(browser, "ana@example.test", PASSWORD)
    app, _ = enrol_totp(browser, clock)
    clock.advance(seconds=30)
    code = app.at(clock.now())
    assert services.totp.verify(user.id, code)
    assert not services.totp.verify(user.id, code)
    clock.advance(seconds=30)
    assert services.totp.verify(user.id, app.at(clock.now()))


def test_recovery_codes_work_once_each(
    browser: TestClient, services: Services, tenant_a: TenantAccess, clock: FrozenClock
) -> None:
    user = make_user(services, tenant_a)
    sign_in(browser, "ana@example.test", PASSWORD)
    _, codes = enrol_totp(browser, clock)
    post_form(browser, "/app", "/app/sign-out")
    sign_in(browser, "ana@example.test", PASSWORD)
    used = post_form(
        browser, "/app/sign-in/second-factor", "/app/sign-in/second-factor",
        code=codes[3].upper(),
    )  # fmt: skip
    assert used.headers["location"] == "/app"
    assert services.totp.remaining_codes(user.id) == 9
    post_form(browser, "/app", "/app/sign-out")
    sign_in(browser, "ana@example.test", PASSWORD)
    again = post_form(
        browser, "/app/sign-in/second-factor", "/app/sign-in/second-factor", code=codes[3]
    )
    assert again.status_code == 401
    # Stored hashed: no code appears in the database.
    with services.storage.control() as session:
        stored = " ".join(str(r) for r in session.execute(text("SELECT * FROM recovery_codes")))
    assert all(c not in stored and c.replace("-", "")[4:] not in stored for c in codes)
    assert stored.count("$argon2id$") == 10


def test_second_factor_failures_are_throttled(
    browser: TestClient, services: Services, tenant_a: TenantAccess, clock: FrozenClock
) -> None:
    make_user(services, tenant_a)
    sign_in(browser, "ana@example.test", PASSWORD)
    app, _ = enrol_totp(browser, clock)
    post_form(browser, "/app", "/app/sign-out")
    sign_in(browser, "ana@example.test", PASSWORD)
    page = "/app/sign-in/second-factor"
    for _ in range(4):
        assert post_form(browser, page, page, code="123456").status_code == 401
    clock.advance(seconds=1)
    assert post_form(browser, page, page, code="123456").status_code == 401
    # Locked: even the right code waits.
    locked = post_form(browser, page, page, code=app.at(clock.now()))
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) == 900


def test_a_team_that_requires_2fa_makes_members_enrol_first(
    browser: TestClient, services: Services, tenant_a: TenantAccess, clock: FrozenClock
) -> None:
    make_user(services, tenant_a)
    services.credentials.update_policy(tenant_a.operator, require_second_factor=True)
    answer = sign_in(browser, "ana@example.test", PASSWORD)
    assert answer.headers["location"] == "/app/security"
    assert browser.get("/app", follow_redirects=False).headers["location"] == "/app/security"
    assert browser.get("/v1/lists").status_code == 401
    assert "requires a second factor" in browser.get("/app/security").text
    enrol_totp(browser, clock)
    assert browser.get("/app").status_code == 200


def test_an_operator_reset_removes_the_second_factor(
    browser: TestClient, services: Services, tenant_a: TenantAccess, clock: FrozenClock
) -> None:
    user = make_user(services, tenant_a)
    sign_in(browser, "ana@example.test", PASSWORD)
    enrol_totp(browser, clock)
    services.users.reset_second_factor(tenant_a.operator, user.id)
    assert services.totp.remaining_codes(user.id) == 0
    post_form(browser, "/app", "/app/sign-out")
    assert sign_in(browser, "ana@example.test", PASSWORD).headers["location"] == "/app"


def test_adding_a_factor_ends_the_other_sessions(
    services: Services, tenant_a: TenantAccess, clock: FrozenClock
) -> None:
    make_user(services, tenant_a)
    app = create_app(services)
    with (
        TestClient(app, base_url="https://testserver") as laptop,
        TestClient(app, base_url="https://testserver") as phone,
    ):
        sign_in(laptop, "ana@example.test", PASSWORD)
        sign_in(phone, "ana@example.test", PASSWORD)
        enrol_totp(laptop, clock)
        assert laptop.get("/app").status_code == 200
        assert phone.get("/app", follow_redirects=False).headers["location"] == "/app/sign-in"
