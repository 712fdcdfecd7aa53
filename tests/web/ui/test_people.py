"""People: a forgotten password reset through the mailbox, the team (users, roles,
list limits) and the signed-in user's own security pages in the layout."""

from __future__ import annotations

import datetime as dt
import re
import time
from concurrent.futures import ThreadPoolExecutor

from courriel.accounts.reset import reset_token
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from tests.support.delivery import deliver_all
from tests.support.journey import Journey
from tests.support.tenants import TenantAccess
from tests.web.ui.conftest import Member, member

NEW = "a brand new passphrase for spring"
MAIL_WAIT_S = 20


def reset_link(services: Services, sandbox: Sandbox, address: str) -> str:
    """The path of the reset link mailed to `address`, once delivered to its mailbox."""
    deadline = time.monotonic() + MAIL_WAIT_S
    # The mail is queued after the page answered (a background task).
    while not sandbox.store.inbox(address):
        assert time.monotonic() < deadline, "no reset mail arrived"
        # Playwright's loop runs in this thread: the delivery gets its own.
        with ThreadPoolExecutor(1) as thread:
            thread.submit(deliver_all, services).result()
        time.sleep(0.1)
    [mail] = sandbox.store.inbox(address)
    assert "reset" in mail.subject.lower()
    found = re.search(r"https?://[^/\s]+(/app/password-reset/new\?token=\S+)", mail.text)
    assert found, mail.text
    return found.group(1)


def test_a_forgotten_password_is_reset_from_the_mailbox_and_the_second_factor_stays(
    journey: Journey, services: Services, sandbox: Sandbox, admin: Member
) -> None:
    page = journey.page
    journey.goto("/app/sign-in")
    page.click("text=Forgot your password?")
    page.wait_for_url("**/app/password-reset")
    journey.snap("password-reset-ask")
    page.fill("#email", admin.email)
    page.click("button[type=submit]")
    page.wait_for_url("**/app/password-reset?sent=1")
    journey.snap("password-reset-sent")
    # An unknown address gets the very same page.
    sent_text = page.locator("main").inner_text()
    journey.goto("/app/password-reset")
    page.fill("#email", "nobody@example.test")
    page.click("button[type=submit]")
    page.wait_for_url("**/app/password-reset?sent=1")
    assert page.locator("main").inner_text() == sent_text

    link = reset_link(services, sandbox, admin.email)
    assert not sandbox.store.inbox("nobody@example.test")
    journey.goto(link)
    assert admin.email in page.locator("main").inner_text()
    journey.snap("password-reset-choose")
    page.fill("#password", "password1234")
    with journey.expecting(422):
        page.click("button[type=submit]")
    assert "most common" in page.locator("#password-error").inner_text()
    journey.snap("password-reset-weak")
    page.fill("#password", NEW)
    page.click("button[type=submit]")
    page.wait_for_url("**/app/sign-in?reset=1")
    journey.snap("sign-in-after-reset")

    # The new password signs in, and the second factor is still asked.
    journey.sign_in(admin.email, NEW, admin.totp_secret)
    assert page.locator("h1").inner_text() == "Dashboard"

    # The link worked once.
    with journey.expecting(404):
        journey.goto(link)
    assert page.locator("h1").inner_text() == "Link not valid"
    journey.snap("password-reset-link-used")


def test_an_expired_reset_link_is_refused(
    journey: Journey, services: Services, tenant_a: TenantAccess, admin: Member
) -> None:
    user = services.users.get(tenant_a.operator, admin.user.id)
    expired = reset_token(services.secret_key, user, services.clock.now() - dt.timedelta(minutes=1))
    with journey.expecting(404):
        journey.goto(f"/app/password-reset/new?token={expired}")
    assert journey.page.locator("h1").inner_text() == "Link not valid"
    journey.snap("password-reset-link-expired")


def test_the_team_invites_a_user_with_a_custom_role_and_one_list(
    journey: Journey, services: Services, tenant_a: TenantAccess, admin: Member
) -> None:
    owner = tenant_a.operator
    news = services.audience.create_list(owner, "Newsletter", purpose="News", double_opt_in=False)
    services.audience.create_list(owner, "Offers", purpose="Offers", double_opt_in=False)
    page = journey.page
    journey.sign_in(admin.email, admin.password, admin.totp_secret)
    page.click("nav.side >> text=Team")
    page.wait_for_url("**/app/team")
    journey.snap("team")

    # Invite someone.
    page.fill("#f-email", "new.person@example.test")
    page.fill("#f-name", "New Person")
    page.select_option("#f-role", "marketer")
    page.click("text=Send the invitation")
    page.wait_for_url("**/app/team?invited=*")
    journey.check()
    assert "new.person@example.test" in page.locator("table").first.inner_text()
    journey.snap("team-invited")

    # A role name that is not one is refused, the input kept.
    page.click("text=New role")
    page.wait_for_url("**/app/team/roles/new")
    page.fill("#f-name", "Readers!")
    page.check("input[value='contacts:read']")
    with journey.expecting(422):
        page.click("text=Save the role")
    assert page.locator("#f-name").input_value() == "Readers!"
    assert page.locator("#f-name-note").is_visible()
    assert page.locator("input[value='contacts:read']").is_checked()
    journey.snap("team-role-invalid")

    # A custom role that hides the email field.
    page.fill("#f-name", "reader")
    page.check("input[value='lists:read']")
    page.select_option("#f-field_default", "visible")
    page.select_option("#f-field-email", "hidden")
    page.click("text=Save the role")
    page.wait_for_url("**/app/team?role=reader")
    journey.snap("team-role-saved")
    journey.goto("/app/team/roles/reader")
    assert page.locator("#f-field-email").input_value() == "hidden"
    journey.snap("team-role-edit")

    # Give the invited user that role and one list.
    invited = services.users.find(owner, "new.person@example.test")
    journey.goto("/app/team")
    page.click(f"a[href='/app/team/users/{invited.id}']")
    page.wait_for_url(f"**/app/team/users/{invited.id}")
    journey.snap("team-user")
    page.select_option("#f-role", "reader")
    page.click("text=Change the role")
    page.wait_for_url("**?saved=role")
    page.check("input[name=scope][value=some]")
    page.check(f"input[name=lists][value='{news.id}']")
    page.click("text=Save the lists")
    page.wait_for_url("**?saved=lists")
    journey.snap("team-user-limited")

    assert services.users.find(owner, "new.person@example.test").role == "reader"
    role = services.roles.role(tenant_a.tenant.id, "reader")
    assert role.fields.access("email").value == "hidden"
    rights = services.roles.rights_of(owner, invited.id)
    assert rights is not None
    assert rights.lists == [news.id]


def test_the_security_and_sessions_pages_are_in_the_layout(journey: Journey, admin: Member) -> None:
    page = journey.page
    journey.sign_in(admin.email, admin.password, admin.totp_secret)
    page.click("header >> text=Security")
    page.wait_for_url("**/app/security")
    journey.check()
    assert page.locator("nav.side").is_visible()
    assert page.locator("h1").inner_text() == "Two-factor authentication"
    journey.snap("security")
    page.click("main >> text=Sessions")
    page.wait_for_url("**/app/sessions")
    assert page.locator("nav.side").is_visible()
    assert page.locator("tbody tr").count() == 1
    journey.snap("sessions")
    page.click("main >> text=Change password")
    page.wait_for_url("**/app/password")
    page.fill("#f-current", admin.password)
    page.fill("#f-new", "password1234")
    with journey.expecting(422):
        page.click("main button[type=submit]")
    assert "most common" in page.locator("#f-new-note").inner_text()
    journey.snap("password-change-refused")


def test_the_first_password_change_stays_in_the_bare_layout(
    journey: Journey, services: Services, tenant_a: TenantAccess
) -> None:
    created = services.users.create(tenant_a.operator, "first@example.test", "marketer")
    assert created.one_time_password is not None
    page = journey.page
    journey.goto("/app/sign-in")
    page.fill("#email", "first@example.test")
    page.fill("#password", created.one_time_password)
    page.click("button[type=submit]")
    page.wait_for_url("**/app/password")
    journey.check()
    assert page.locator("nav.side").count() == 0
    journey.snap("password-first-change")


def test_an_admin_resets_a_second_factor_disables_and_enables_a_user(
    journey: Journey, services: Services, tenant_a: TenantAccess, admin: Member
) -> None:
    mia = member(services, tenant_a, "mia@example.test", "marketer", totp=True)
    page = journey.page
    journey.sign_in(admin.email, admin.password, admin.totp_secret)
    journey.goto(f"/app/team/users/{mia.user.id}")
    page.click("text=Reset the second factor")
    page.wait_for_url("**?saved=second-factor")
    assert services.users.get(tenant_a.operator, mia.user.id).totp_enabled_at is None
    page.click("main >> text=Disable")
    page.wait_for_url("**?saved=status")
    journey.check()
    assert services.users.get(tenant_a.operator, mia.user.id).status.value == "disabled"
    journey.snap("team-user-disabled")
    page.click("main >> text=Enable")
    page.wait_for_url("**?saved=status")
    assert services.users.get(tenant_a.operator, mia.user.id).status.value == "active"
