"""Public sign-up with double opt-in, end to end through the sandbox internet."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from courriel.audience.models import ConsentRecord
from courriel.core.errors import NotFoundError
from courriel.delivery.models import SpoolMessage
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from tests.support.delivery import deliver_all
from tests.support.tenants import TenantAccess

PERSON = "ines@gmail.test"
UA = "Mozilla/5.0 (sign-up test)"


def _form(client: TestClient, who: TenantAccess, double_opt_in: bool = True) -> dict[str, str]:
    list_id = client.post(
        "/v1/lists",
        json={"name": "Café news", "purpose": "Our monthly letter", "double_opt_in": double_opt_in},
        headers=who.headers,
    ).json()["id"]
    response = client.post(
        f"/v1/lists/{list_id}/forms",
        json={"title": "Join us & more", "consent_text": "I agree to receive the monthly letter"},
        headers=who.headers,
    )
    assert response.status_code == 201, response.text
    form: dict[str, str] = response.json()
    return form


def _path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def _sign_up(client: TestClient, form: dict[str, str], email: str, **extra: str) -> str:
    path = _path(form["hosted_url"])
    page = client.get(path)
    assert page.status_code == 200
    fields = {"email": email, "consent": "yes", "csrf": _csrf(page.text), **extra}
    response = client.post(path, data=fields, headers={"User-Agent": UA})
    return str(response.text)


def test_double_opt_in_end_to_end_through_the_sandbox(
    client: TestClient, services: Services, tenant_a: TenantAccess, sandbox: Sandbox
) -> None:
    form = _form(client, tenant_a)
    page = client.get(_path(form["hosted_url"]))
    assert "Join us &amp; more" in page.text  # escaped
    assert 'type="checkbox" name="consent" value="yes" required>' in page.text  # unticked
    assert "Our monthly letter" in page.text
    assert "I agree to receive" in page.text
    assert "<iframe" in form["snippet"]
    assert form["hosted_url"] in form["snippet"]
    assert "Check your inbox" in _sign_up(client, form, PERSON)
    contact = client.get("/v1/contacts", headers=tenant_a.headers).json()["data"][0]
    subs = f"/v1/contacts/{contact['id']}/subscriptions"
    assert client.get(subs, headers=tenant_a.headers).json() == {form["list_id"]: "pending"}

    deliver_all(services)
    inbox = sandbox.store.inbox(PERSON)
    assert len(inbox) == 1
    assert "confirm" in inbox[0].subject.lower()
    link = re.search(r"https?://\S+/f/confirm\?token=\S+", inbox[0].text)
    assert link is not None
    shown = client.get(_path(link.group(0)))
    assert shown.status_code == 200
    token = re.search(r'name="token" value="([^"]+)"', shown.text)
    assert token is not None
    # Following the link alone (a mail scanner) confirms nothing.
    assert client.get(subs, headers=tenant_a.headers).json() == {form["list_id"]: "pending"}
    done = client.post(
        "/f/confirm", data={"token": token.group(1)}, headers={"User-Agent": "Confirming browser"}
    )
    assert done.status_code == 200
    assert "You are subscribed" in done.text
    assert client.get(subs, headers=tenant_a.headers).json() == {form["list_id"]: "subscribed"}
    ledger = client.get(f"/v1/contacts/{contact['id']}/consent", headers=tenant_a.headers).json()
    assert [r["action"] for r in ledger] == ["given", "confirmed"]
    assert ledger[0]["form_id"] == form["id"]
    assert ledger[0]["user_agent"] == UA
    assert "I agree to receive the monthly letter" in ledger[0]["purpose_text"]
    assert ledger[1]["ip"] == "testclient"
    assert ledger[1]["user_agent"] == "Confirming browser"


def test_same_answer_whatever_the_address_and_resend(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    form = _form(client, tenant_a)
    client.post(
        "/v1/suppressions", json={"address": "blocked@gmail.test"}, headers=tenant_a.headers
    )
    fresh = _sign_up(client, form, "new@gmail.test")
    # Asking again within 10 minutes: the same answer, no second email (the
    # first link stays valid; tests/audience/test_signup_bombing.py).
    again = _sign_up(client, form, "new@gmail.test")
    blocked = _sign_up(client, form, "blocked@gmail.test")
    body = re.compile(r"<main>.*</main>", re.DOTALL)
    assert body.findall(fresh) == body.findall(again) == body.findall(blocked)
    with services.storage.spool() as session:
        rcpts = list(session.scalars(select(SpoolMessage.rcpt_to)))
    assert rcpts == ["new@gmail.test"]


def test_bad_submissions(client: TestClient, services: Services, tenant_a: TenantAccess) -> None:
    form = _form(client, tenant_a)
    path = _path(form["hosted_url"])
    csrf = _csrf(client.get(path).text)
    unticked = client.post(path, data={"email": "a@gmail.test", "csrf": csrf})
    assert unticked.status_code == 422
    assert "Tick the box" in unticked.text
    bad = client.post(path, data={"email": "<script>@x", "consent": "yes", "csrf": csrf})
    assert bad.status_code == 422
    assert "valid email" in bad.text
    assert "<script>@x" not in bad.text
    assert "&lt;script&gt;@x" in bad.text
    forged = client.post(path, data={"email": "a@gmail.test", "consent": "yes", "csrf": "x.y"})
    assert forged.status_code == 403
    client.cookies.clear()
    no_cookie = client.post(path, data={"email": "a@gmail.test", "consent": "yes", "csrf": csrf})
    assert no_cookie.status_code == 403
    bot = _sign_up(client, form, "bot@gmail.test", website="http://spam.test")
    assert "Check your inbox" in bot
    assert client.get("/v1/contacts", headers=tenant_a.headers).json()["data"] == []
    with services.storage.tenant(tenant_a.tenant.id)() as session:
        assert session.scalar(select(func.count()).select_from(ConsentRecord)) == 0
    invalid = client.post("/f/confirm", data={"token": "forged.token"})
    assert invalid.status_code == 400
    assert client.get(f"/f/{tenant_a.tenant.id}/frm_nope").status_code == 404
    assert client.get("/f/tnt_nope/frm_nope").status_code == 404


def test_rate_limit_per_ip(client: TestClient, tenant_a: TenantAccess) -> None:
    form = _form(client, tenant_a)
    path = _path(form["hosted_url"])
    codes = [client.post(path, data={"email": "x@gmail.test"}).status_code for _ in range(12)]
    assert codes[:10] == [403] * 10
    assert codes[10:] == [429, 429]


def test_forms_are_per_tenant(
    client: TestClient, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    form = _form(client, tenant_a)
    assert client.get(f"/v1/forms/{form['id']}", headers=tenant_b.headers).status_code == 404
    other = client.post(
        f"/v1/lists/{form['list_id']}/forms",
        json={"title": "x", "consent_text": "y"},
        headers=tenant_b.headers,
    )
    assert other.status_code == 404
    assert client.get(f"/f/{tenant_b.tenant.id}/{form['id']}").status_code == 404


def test_operator_resends_the_confirmation(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    form = _form(client, tenant_a)
    _sign_up(client, form, "late@gmail.test")
    contact = client.get("/v1/contacts", headers=tenant_a.headers).json()["data"][0]
    path = f"/v1/lists/{form['list_id']}/contacts/{contact['id']}/confirmation"
    assert client.post(path, headers=tenant_a.headers).status_code == 202
    with services.storage.spool() as session:
        rcpts = list(session.scalars(select(SpoolMessage.rcpt_to)))
    assert rcpts == ["late@gmail.test", "late@gmail.test"]
    client.delete(f"/v1/lists/{form['list_id']}/contacts/{contact['id']}", headers=tenant_a.headers)
    refused = client.post(path, headers=tenant_a.headers)
    assert refused.status_code == 409
    assert client.post(path).status_code == 401


def test_a_lists_forms_are_listed_only_to_who_sees_the_list(
    client: TestClient, services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    form = _form(client, tenant_a)
    other = services.audience.create_list(tenant_a.operator, "Other", "Elsewhere")
    services.signups.create_form(tenant_a.operator, other.id, "Other form", "I agree")
    found = services.signups.list_forms(tenant_a.operator, form["list_id"])
    assert [f.id for f in found] == [form["id"]]
    with pytest.raises(NotFoundError):
        services.signups.list_forms(tenant_b.operator, form["list_id"])
    limited = replace(tenant_a.operator, lists=frozenset({other.id}))
    with pytest.raises(NotFoundError):
        services.signups.list_forms(limited, form["list_id"])
    with pytest.raises(NotFoundError):
        services.signups.create_form(limited, form["list_id"], "Sneaky", "I agree")
    assert len(services.signups.list_forms(limited, other.id)) == 1
