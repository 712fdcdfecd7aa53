"""After an erasure, a new explicit opt-in through a sign-up form may bring the
address back — only once confirmed from the mailbox, even on a single opt-in list."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from courriel.audience.models import Suppression, SuppressionReason
from courriel.core.addresses import tenant_address_hash
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from tests.support.delivery import deliver_all
from tests.support.seeds.rights import add_person, fulfil, make_list, new_request
from tests.support.tenants import TenantAccess

ADA = "ada@gmail.test"


def _suppression(services: Services, who: TenantAccess) -> SuppressionReason | None:
    digest = tenant_address_hash(services.secret_key, who.tenant.id, ADA)
    with services.storage.tenant(who.tenant.id)() as session:
        return session.scalar(select(Suppression.reason).where(Suppression.address_hash == digest))


def test_a_confirmed_sign_up_brings_an_erased_address_back(
    client: TestClient, services: Services, tenant_a: TenantAccess, sandbox: Sandbox
) -> None:
    news = make_list(client, tenant_a)  # single opt-in
    ada = add_person(client, tenant_a, news, ADA, "Ada")
    fulfil(client, tenant_a, new_request(client, tenant_a, "erasure", ada)["id"])
    assert _suppression(services, tenant_a) is SuppressionReason.ERASURE
    form = client.post(
        f"/v1/lists/{news}/forms",
        json={"title": "Join", "consent_text": "I want the news"},
        headers=tenant_a.headers,
    ).json()
    path = re.sub(r"^https?://[^/]+", "", form["hosted_url"])
    page = client.get(path).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None

    client.post(path, data={"email": ADA, "consent": "yes", "csrf": csrf.group(1)})

    contacts = client.get("/v1/contacts", headers=tenant_a.headers).json()["data"]
    assert [c["email"] for c in contacts] == [ADA]
    subs = f"/v1/contacts/{contacts[0]['id']}/subscriptions"
    # Pending, although the list is single opt-in, and still suppressed.
    assert client.get(subs, headers=tenant_a.headers).json() == {news: "pending"}
    assert _suppression(services, tenant_a) is SuppressionReason.ERASURE
    deliver_all(services)
    mail = sandbox.store.inbox(ADA)[-1]
    link = re.search(r"/f/confirm\?token=([A-Za-z0-9_.=-]+)", html.unescape(mail.text))
    assert link is not None

    client.post("/f/confirm", data={"token": link.group(1)})

    assert client.get(subs, headers=tenant_a.headers).json() == {news: "subscribed"}
    assert _suppression(services, tenant_a) is None
