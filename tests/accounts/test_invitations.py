"""Invitations by email: a signed, expiring, single-use link that sets the password."""

from __future__ import annotations

import datetime as dt
import email
import re
from email.message import Message

from fastapi.testclient import TestClient

from courriel.accounts.models import UserStatus
from courriel.core.clock import FrozenClock
from courriel.services import Services
from tests.support.people import sign_in
from tests.support.tenants import TenantAccess

CHOSEN = "my own chosen passphrase"


def invitation_mail(services: Services, clock: FrozenClock) -> Message:
    """The one message in the spool, as its recipient would read it."""
    claimed = services.spool.claim("test", 10, clock.now(), dt.timedelta(minutes=1))
    assert len(claimed) == 1
    return email.message_from_bytes(claimed[0].transfer)


def link_path(message: Message) -> str:
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    found = re.search(r"https://testserver(/app/invitation\?token=\S+)", body.decode())
    assert found, body
    return found.group(1)


def test_an_invited_user_sets_a_password_once_then_signs_in(
    browser: TestClient, services: Services, tenant_a: TenantAccess, clock: FrozenClock
) -> None:
    sent = services.invitations.invite(tenant_a.operator, "new@example.test", "marketer")
    assert sent.user.status is UserStatus.INVITED
    message = invitation_mail(services, clock)
    assert message["To"] == "new@example.test"
    path = link_path(message)
    # Invited users cannot sign in before they accept.
    assert sign_in(browser, "new@example.test", "anything at all here").status_code == 401
    page = browser.get(path)
    assert page.status_code == 200
    assert "new@example.test" in page.text
    token = path.split("token=", 1)[1]
    weak = browser.post("/app/invitation", data={"token": token, "password": "password1234"})
    assert weak.status_code == 422
    assert "most common" in weak.text
    done = browser.post("/app/invitation", data={"token": token, "password": CHOSEN})
    assert done.status_code == 200
    assert "Your password is set" in done.text
    assert sign_in(browser, "new@example.test", CHOSEN).headers["location"] == "/app"
    # Single use: the same link is now refused, page and form alike.
    assert browser.get(path).status_code == 404
    again = browser.post("/app/invitation", data={"token": token, "password": "another chosen one"})
    assert again.status_code == 404
    actions = [e.action for e in services.audit.entries(tenant_a.operator).items]
    assert "user.invited" in actions
    assert "user.invitation_accepted" in actions


def test_an_invitation_expires(
    browser: TestClient, services: Services, tenant_a: TenantAccess, clock: FrozenClock
) -> None:
    services.invitations.invite(tenant_a.operator, "late@example.test", "analyst")
    path = link_path(invitation_mail(services, clock))
    clock.advance(hours=71)
    assert browser.get(path).status_code == 200
    clock.advance(hours=1)
    assert browser.get(path).status_code == 404
    token = path.split("token=", 1)[1]
    refused = browser.post("/app/invitation", data={"token": token, "password": CHOSEN})
    assert refused.status_code == 404


def test_a_forged_or_altered_link_is_refused(
    browser: TestClient, services: Services, tenant_a: TenantAccess, clock: FrozenClock
) -> None:
    services.invitations.invite(tenant_a.operator, "new@example.test", "analyst")
    token = link_path(invitation_mail(services, clock)).split("token=", 1)[1]
    body, _, mac = token.partition(".")
    for bad in (f"{body}.{mac[:-2]}AA", "garbage", ""):
        answer = browser.post("/app/invitation", data={"token": bad, "password": CHOSEN})
        assert answer.status_code in {404, 422}
    assert services.users.list(tenant_a.operator)[0].status is UserStatus.INVITED
