"""A forgotten password: a signed, expiring, single-use link by email; the same answer
for any address; the policy, the other sessions and the second factor all hold."""

from __future__ import annotations

import datetime as dt
import email
import re

import pyotp
from fastapi.testclient import TestClient

from courriel.accounts.models import SessionStage
from courriel.accounts.reset import reset_token
from courriel.accounts.sessions import Client
from courriel.core.clock import FrozenClock
from courriel.services import Services
from tests.support.people import PASSWORD, csrf_of, make_user, sign_in
from tests.support.tenants import TenantAccess

NEW = "a brand new passphrase for spring"
UA = {"User-Agent": "Resetting browser"}


def ask(browser: TestClient, address: str) -> tuple[int, str]:
    page = browser.get("/app/password-reset")
    assert page.status_code == 200
    answer = browser.post(
        "/app/password-reset",
        data={"email": address, "csrf": csrf_of(page.text)},
        follow_redirects=False,
        headers=UA,
    )
    return answer.status_code, answer.headers.get("location", "")


def reset_links(services: Services, clock: FrozenClock) -> list[str]:
    claimed = services.spool.claim("test", 10, clock.now(), dt.timedelta(minutes=1))
    links = []
    for message in claimed:
        body = email.message_from_bytes(message.transfer).get_payload(decode=True)
        assert isinstance(body, bytes)
        found = re.search(r"https://testserver(/app/password-reset/new\?token=\S+)", body.decode())
        assert found, body
        links.append(found.group(1))
    return links


def test_a_reset_link_sets_a_new_password_once_and_ends_other_sessions(
    browser: TestClient, services: Services, tenant_a: TenantAccess, clock: FrozenClock
) -> None:
    user = make_user(services, tenant_a, "reset@example.test")
    assert sign_in(browser, "reset@example.test", PASSWORD).status_code == 303
    assert len(services.sessions.list(user.id)) == 1
    assert "Forgot your password?" in browser.get("/app/sign-in").text

    assert ask(browser, "Reset@Example.test") == (303, "/app/password-reset?sent=1")
    [path] = reset_links(services, clock)
    form = browser.get(path)
    assert form.status_code == 200
    assert "reset@example.test" in form.text
    token = path.split("token=", 1)[1]
    weak = browser.post(
        "/app/password-reset/new", data={"token": token, "password": "password1234"}
    )
    assert weak.status_code == 422
    assert "most common" in weak.text
    # The password in use now is in the history: refused too.
    again = browser.post("/app/password-reset/new", data={"token": token, "password": PASSWORD})
    assert again.status_code == 422
    assert "used recently" in again.text
    done = browser.post(
        "/app/password-reset/new", data={"token": token, "password": NEW}, follow_redirects=False
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/app/sign-in?reset=1"
    assert services.sessions.list(user.id) == []
    # Single use: the page and the form refuse the same link now.
    assert browser.get(path).status_code == 404
    reused = browser.post("/app/password-reset/new", data={"token": token, "password": NEW + "!"})
    assert reused.status_code == 404
    assert sign_in(browser, "reset@example.test", PASSWORD).status_code == 401
    assert sign_in(browser, "reset@example.test", NEW).status_code == 303
    actions = [
        e.action
        for e in services.audit.entries(tenant_a.operator).items
        if e.action.startswith("auth.password_reset")
    ]
    assert sorted(actions) == ["auth.password_reset", "auth.password_reset_requested"]


def test_the_second_factor_is_still_asked_after_a_reset(
    browser: TestClient, services: Services, tenant_a: TenantAccess, clock: FrozenClock
) -> None:
    user = make_user(services, tenant_a, "totp@example.test")
    enrolment = services.totp.begin(user.id)
    services.totp.confirm(user.id, pyotp.TOTP(enrolment.secret).at(clock.now()))
    services.password_resets.deliver("totp@example.test", Client("203.0.113.5"))
    [path] = reset_links(services, clock)
    token = path.split("token=", 1)[1]
    services.password_resets.reset(token, NEW, Client("203.0.113.5"))
    started = services.sign_in.password("totp@example.test", NEW, Client("203.0.113.5"))
    assert started.stage is SessionStage.SECOND_FACTOR


def test_an_unknown_address_gets_the_same_answer_and_no_mail(
    browser: TestClient, services: Services, tenant_a: TenantAccess, clock: FrozenClock
) -> None:
    make_user(services, tenant_a, "known@example.test")
    assert ask(browser, "nobody@example.test") == ask(browser, "known@example.test")
    assert len(reset_links(services, clock)) == 1


def test_an_expired_or_forged_link_is_refused(
    browser: TestClient, services: Services, tenant_a: TenantAccess, clock: FrozenClock
) -> None:
    user = make_user(services, tenant_a, "late@example.test")
    services.password_resets.deliver("late@example.test", Client("203.0.113.5"))
    [path] = reset_links(services, clock)
    clock.advance(hours=1, seconds=1)
    assert browser.get(path).status_code == 404
    forged = reset_token(b"another installation's key", user, clock.now() + dt.timedelta(hours=1))
    assert browser.get(f"/app/password-reset/new?token={forged}").status_code == 404


def test_requests_are_throttled_per_address(
    browser: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    make_user(services, tenant_a, "flood@example.test")
    statuses = [ask(browser, "flood@example.test")[0] for _ in range(6)]
    assert statuses[:3] == [303, 303, 303]
    assert 429 in statuses
