"""The password policy: length, common passwords, the user's address, history, expiry."""

from __future__ import annotations

import itertools

import pytest
from fastapi.testclient import TestClient

from courriel.accounts.passwords import MAX_LENGTH, common_count, is_common, policy_problems
from courriel.core.clock import FrozenClock
from courriel.core.errors import AuthenticationError, InvalidInputError
from courriel.services import Services
from courriel.web.app import create_app
from tests.support.people import PASSWORD, csrf_of, make_user, sign_in
from tests.support.tenants import TenantAccess


def problems(password: str, email: str = "ana@example.test", **policy: object) -> list[str]:
    options: dict[str, object] = {"min_length": 12, "composition": False, "previous_hashes": []}
    options.update(policy)
    return policy_problems(password, email=email, **options)  # type: ignore[arg-type]


def test_the_shipped_list_holds_over_100000_common_passwords() -> None:
    assert common_count() >= 100_000
    for common in ("password1234", "Qwertyuiop123", "iloveyou1234"):
        assert is_common(common), common
    assert not is_common(PASSWORD)


def test_length_common_and_address_rules() -> None:
    assert problems("short pass") == ["must be at least 12 characters long"]
    assert problems("x" * (MAX_LENGTH + 1)) == [f"must be at most {MAX_LENGTH} characters long"]
    assert problems("Password1234") == ["is one of the most common passwords; choose another"]
    assert problems("my ana@example.test pass") == ["must not contain your email address"]
    assert problems("ANA.smith rules the world", email="ana.smith@example.test") == [
        "must not contain your email address"
    ]
    # No composition rules unless the tenant asks: a long lower-case phrase is fine.
    assert problems(PASSWORD) == []
    assert problems(PASSWORD, composition=True) == [
        "must mix upper- and lower-case letters, digits and a symbol"
    ]
    assert problems("Violet staircase hums at 5!", composition=True) == []
    assert problems("ten chars!", min_length=8) == []
    # Long passphrases are welcome, up to 128 characters.
    assert problems("river stones " * 9) == []


def test_the_last_five_passwords_cannot_be_chosen_again(
    services: Services, tenant_a: TenantAccess, clock: FrozenClock
) -> None:
    names = ["zero", "one", "two", "three", "four", "five"]
    user = make_user(services, tenant_a, password="passphrase number zero")
    for before, after in itertools.pairwise(names):
        clock.advance(days=1)
        services.credentials.change(
            user.id, f"passphrase number {before}", f"passphrase number {after}"
        )
    # Now "five"; it and the four before it are refused.
    for old in ("five", "four", "one"):
        with pytest.raises(InvalidInputError, match="was used recently"):
            services.credentials.change(
                user.id, "passphrase number five", f"passphrase number {old}"
            )
    # The sixth one back is allowed again.
    services.credentials.change(user.id, "passphrase number five", "passphrase number zero")


def test_a_change_needs_the_current_password_and_a_policy_pass(
    services: Services, tenant_a: TenantAccess
) -> None:
    user = make_user(services, tenant_a)
    with pytest.raises(AuthenticationError):
        services.credentials.change(user.id, "not it at all", "a perfectly fine new one")
    with pytest.raises(InvalidInputError, match=r"^password: must be at least 12"):
        services.credentials.change(user.id, PASSWORD, "tiny")
    services.credentials.update_policy(tenant_a.operator, min_password_length=20)
    with pytest.raises(InvalidInputError, match="at least 20"):
        services.credentials.change(user.id, PASSWORD, "nineteen characters")
    with pytest.raises(InvalidInputError, match=r"^min_password_length"):
        services.credentials.update_policy(tenant_a.operator, min_password_length=6)


def test_an_expired_password_must_be_changed_at_sign_in(
    browser: TestClient, services: Services, tenant_a: TenantAccess, clock: FrozenClock
) -> None:
    user = make_user(services, tenant_a)
    # Off by default: a year later the password still works as is.
    clock.advance(days=365)
    assert sign_in(browser, "ana@example.test", PASSWORD).headers["location"] == "/app"
    services.credentials.set_max_age(tenant_a.operator, user.id, 90)
    clock.advance(days=1)
    assert sign_in(browser, "ana@example.test", PASSWORD).headers["location"] == "/app/password"
    assert browser.get("/v1/lists").status_code == 401
    services.credentials.change(user.id, PASSWORD, "a fresh spring passphrase")
    assert (
        sign_in(browser, "ana@example.test", "a fresh spring passphrase").headers["location"]
        == "/app"
    )
    clock.advance(days=89)
    assert (
        sign_in(browser, "ana@example.test", "a fresh spring passphrase").headers["location"]
        == "/app"
    )


def test_a_password_change_ends_the_other_sessions(
    services: Services, tenant_a: TenantAccess
) -> None:
    make_user(services, tenant_a)
    app = create_app(services)
    with (
        TestClient(app, base_url="https://testserver") as laptop,
        TestClient(app, base_url="https://testserver") as phone,
    ):
        sign_in(laptop, "ana@example.test", PASSWORD)
        sign_in(phone, "ana@example.test", PASSWORD)
        page = laptop.get("/app/password")
        done = laptop.post(
            "/app/password",
            data={"csrf": csrf_of(page.text), "current": PASSWORD, "new": "another good phrase"},
            follow_redirects=False,
        )
        assert done.headers["location"] == "/app/password?done=1"
        assert laptop.get("/app").status_code == 200
        assert phone.get("/app", follow_redirects=False).headers["location"] == "/app/sign-in"
