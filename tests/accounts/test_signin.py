"""Signing in through the pages: the flows, throttling, unknown users, the trail."""

from __future__ import annotations

import json
import time

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from courriel.accounts.models import User
from courriel.accounts.passwords import hash_password
from courriel.accounts.sessions import Client
from courriel.core.clock import FrozenClock
from courriel.core.errors import AuthenticationError
from courriel.services import Services
from tests.support.people import COOKIE, PASSWORD, csrf_of, make_user, sign_in
from tests.support.tenants import TenantAccess


def test_sign_in_with_a_password_opens_the_app(
    browser: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    make_user(services, tenant_a)
    form = browser.get("/app/sign-in").text
    assert 'type="password"' in form
    assert 'autocomplete="current-password"' in form
    answer = sign_in(browser, "ANA@example.test", PASSWORD, **{"user-agent": "Firefox/140"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/app"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    for attribute in ("HttpOnly", "Secure", "Path=/", "SameSite=lax"):
        assert attribute.lower() in cookie.lower()
    assert "domain=" not in cookie.lower()
    home = browser.get("/app")
    assert home.status_code == 200
    assert "ana@example.test" in home.text
    assert "frame-ancestors 'none'" in home.headers["content-security-policy"]
    entry = services.audit.entries(tenant_a.operator).items[-1]
    assert entry.action == "auth.signed_in"
    assert entry.actor.startswith("user:usr_")
    assert json.loads(entry.detail) == {"factor": "password", "user_agent": "Firefox/140"}
    assert entry.source_ip == "testclient"


def test_a_wrong_password_is_refused_and_recorded(
    browser: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    make_user(services, tenant_a)
    answer = sign_in(browser, "ana@example.test", "not the password at all")
    assert answer.status_code == 401
    assert "wrong email or password" in answer.text
    assert COOKIE not in answer.headers.get("set-cookie", "")
    assert browser.get("/app", follow_redirects=False).headers["location"] == "/app/sign-in"
    entry = services.audit.entries(tenant_a.operator).items[-1]
    assert entry.action == "auth.sign_in_failed"
    assert "not the password" not in entry.detail


def test_unknown_users_get_the_same_answer_and_time(
    browser: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    make_user(services, tenant_a)
    known = sign_in(browser, "ana@example.test", "wrong password here")
    unknown = sign_in(browser, "nobody@example.test", "wrong password here")
    assert (known.status_code, known.text.replace("ana@", "X"), sorted(known.headers)) == (
        unknown.status_code,
        unknown.text.replace("nobody@", "X"),
        sorted(unknown.headers),
    )

    # An unknown address still costs one full password verification. The two are
    # timed in turns, so a busy machine (a browser in the same worker) slows both.
    times: dict[str, list[float]] = {"ana@example.test": [], "nobody@example.test": []}
    for i in range(3):  # (a fourth failure of the account would meet its throttle)
        for email, seen in times.items():
            started = time.perf_counter()
            with pytest.raises(AuthenticationError):
                services.sign_in.password(email, "wrong password", Client(f"192.0.2.{i}"))
            seen.append(time.perf_counter() - started)
    known_s, unknown_s = (min(seen) for seen in times.values())
    assert 0.5 < unknown_s / known_s < 2, (known_s, unknown_s)


def test_the_sign_in_form_refuses_a_post_without_its_token(
    browser: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    make_user(services, tenant_a)
    answer = browser.post(
        "/app/sign-in", data={"email": "ana@example.test", "password": PASSWORD, "csrf": "x"}
    )
    assert answer.status_code == 403
    assert "CSRF" in answer.text or "form expired" in answer.text


def test_failures_delay_then_lock_per_account_and_unlock_with_time(
    browser: TestClient, services: Services, tenant_a: TenantAccess, clock: FrozenClock
) -> None:
    make_user(services, tenant_a)
    codes = [
        sign_in(browser, "ana@example.test", f"wrong {i} password!").status_code for i in range(4)
    ]
    assert codes == [401, 401, 401, 401]
    # The 4th failure makes the next attempt wait a second, even with the right password.
    delayed = sign_in(browser, "ana@example.test", PASSWORD)
    assert delayed.status_code == 429
    assert delayed.headers["retry-after"] == "1"
    assert "wrong email or password" in delayed.text
    clock.advance(seconds=1)
    assert sign_in(browser, "ana@example.test", "wrong 5 password!").status_code == 401
    # Five failures: locked for 15 minutes.
    locked = sign_in(browser, "ana@example.test", PASSWORD)
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) == 15 * 60
    clock.advance(minutes=14, seconds=59)
    assert sign_in(browser, "ana@example.test", PASSWORD).status_code == 429
    clock.advance(seconds=1)
    assert sign_in(browser, "ana@example.test", PASSWORD).status_code == 303


def test_an_unknown_address_locks_the_same_way(
    browser: TestClient, services: Services, tenant_a: TenantAccess, clock: FrozenClock
) -> None:
    make_user(services, tenant_a)
    for email in ("ana@example.test", "nobody@example.test"):
        for i in range(5):
            sign_in(browser, email, f"wrong {i} password!", **{"x-test": email})
            clock.advance(seconds=10)
        answer = sign_in(browser, email, PASSWORD)
        assert answer.status_code == 429, email
        assert 800 < int(answer.headers["retry-after"]) <= 900


def test_failures_are_counted_per_source_address_across_accounts(
    browser: TestClient, services: Services, tenant_a: TenantAccess, clock: FrozenClock
) -> None:
    make_user(services, tenant_a)
    # One address trying many accounts is slowed down too (credential stuffing).
    for i in range(5):
        sign_in(browser, f"victim{i}@example.test", "guess guess guess")
        clock.advance(seconds=10)
    assert sign_in(browser, "ana@example.test", PASSWORD).status_code == 429


def test_a_hash_with_old_parameters_is_replaced_at_sign_in(
    browser: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    user = make_user(services, tenant_a)
    weak = hash_password(PASSWORD, PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))
    with services.storage.control() as session, session.begin():
        row = session.get(User, user.id)
        assert row is not None
        row.password_hash = weak
    assert sign_in(browser, "ana@example.test", PASSWORD).status_code == 303
    stored = services.users.get(tenant_a.operator, user.id).password_hash
    assert stored is not None
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_a_disabled_user_cannot_sign_in_and_loses_their_sessions(
    browser: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    user = make_user(services, tenant_a)
    assert sign_in(browser, "ana@example.test", PASSWORD).status_code == 303
    services.users.disable(tenant_a.operator, user.id)
    assert browser.get("/app", follow_redirects=False).status_code == 303
    assert sign_in(browser, "ana@example.test", PASSWORD).status_code == 401


def test_a_one_time_password_must_be_changed_first(
    browser: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    created = services.users.create(tenant_a.operator, "new@example.test", "marketer")
    assert created.one_time_password is not None
    answer = sign_in(browser, "new@example.test", created.one_time_password)
    assert answer.headers["location"] == "/app/password"
    # Nothing else opens until then, the API included.
    assert browser.get("/app", follow_redirects=False).headers["location"] == "/app/password"
    assert browser.get("/v1/lists").status_code == 401
    page = browser.get("/app/password")
    assert "Choose a new password" in page.text
    changed = browser.post(
        "/app/password",
        data={
            "csrf": csrf_of(page.text),
            "current": created.one_time_password,
            "new": "an entirely fresh passphrase 42",
        },
        follow_redirects=False,
    )
    assert changed.headers["location"] == "/app"
    assert browser.get("/app").status_code == 200
    assert browser.get("/v1/lists").status_code == 200


def test_the_sign_in_pages_speak_the_browsers_language(
    browser: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    make_user(services, tenant_a)
    french = {"accept-language": "fr-FR,fr;q=0.9,en;q=0.5"}
    page = browser.get("/app/sign-in", headers=french)
    assert '<html lang="fr">' in page.text
    assert "Se connecter" in page.text
    assert "Mot de passe oublié ?" in page.text
    refused = sign_in(browser, "ana@example.test", "wrong password here", **french)
    assert refused.status_code == 401
    assert "adresse ou mot de passe incorrect" in refused.text
    assert "Sign in" in browser.get("/app/sign-in").text  # English by default
    assert "Réinitialiser" in browser.get("/app/password-reset", headers=french).text
