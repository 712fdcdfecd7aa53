"""The `mailto:` of List-Unsubscribe (RFC 2369): a mail to it unsubscribes, as a mail
client that prefers mail to HTTP would send it, over SMTP to the return-path server."""

from __future__ import annotations

import re
import smtplib
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from fastapi.testclient import TestClient

from courriel.services import Services
from tests.support.delivery import deliver_all
from tests.support.sandbox import Internet
from tests.support.tenants import TenantAccess

CONSENT = {"source": "api", "purpose_text": "Yes, send me the newsletter"}


def _sent_to(client: TestClient, services: Services, access: TenantAccess) -> tuple[str, str]:
    h = access.headers
    list_id = client.post(
        "/v1/lists", json={"name": "News", "double_opt_in": False}, headers=h
    ).json()["id"]
    contact = client.post(
        "/v1/contacts",
        json={"email": "ada@gmail.test", "lists": [list_id], "consent": CONSENT},
        headers=h,
    ).json()["contact"]["id"]
    template = client.post(
        "/v1/templates",
        json={"name": "T", "subject": "News", "html": '<a href="{{ unsubscribe_url }}">Stop</a>'},
        headers=h,
    ).json()["id"]
    campaign = client.post(
        "/v1/campaigns",
        json={
            "name": "N",
            "template_id": template,
            "lists": [list_id],
            "from_email": "n@shop.test",
        },
        headers=h,
    ).json()["id"]
    assert client.post(f"/v1/campaigns/{campaign}/send", headers=h).status_code == 202
    deliver_all(services)
    return contact, list_id


def _mail(internet: Internet, to: str, subject: str) -> dict[str, tuple[int, bytes]]:
    message = EmailMessage()
    message["From"] = "ada@gmail.test"
    message["To"] = to
    message["Subject"] = subject
    message.set_content("Please take me off this list.")
    with smtplib.SMTP(*internet.return_path) as smtp:
        return smtp.send_message(message, from_addr="ada@gmail.test", to_addrs=[to])


def test_a_mail_to_the_list_unsubscribe_address_unsubscribes(
    client: TestClient, services: Services, tenant_a: TenantAccess, internet: Internet
) -> None:
    contact, list_id = _sent_to(client, services, tenant_a)
    (received,) = internet.sandbox.store.inbox("ada@gmail.test")
    header = str(received.as_email()["List-Unsubscribe"])
    match = re.search(r"<(mailto:[^>]+)>", header)
    assert match is not None, header
    mailto = urlsplit(match.group(1))
    to = unquote(mailto.path)
    subject = parse_qs(mailto.query)["subject"][0]
    assert to == f"unsubscribe@{services.settings.return_path_domain}"

    # A forged token is accepted (no oracle) but changes nothing.
    assert _mail(internet, to, "unsubscribe " + "A" * 40) == {}
    subscriptions = f"/v1/contacts/{contact}/subscriptions"
    assert client.get(subscriptions, headers=tenant_a.headers).json() == {list_id: "subscribed"}

    assert _mail(internet, to, subject) == {}
    assert client.get(subscriptions, headers=tenant_a.headers).json() == {list_id: "unsubscribed"}
    events = client.get("/v1/events", params={"type": "unsubscribed"}, headers=tenant_a.headers)
    assert events.status_code == 200, events.text
    (event,) = [e for e in events.json()["data"] if e["type"] == "unsubscribed"]
    assert event["detail"]["method"] == "mailto"
    # Twice is harmless.
    assert _mail(internet, to, subject) == {}


def test_other_addresses_are_still_refused(services: Services, internet: Internet) -> None:
    domain = services.settings.return_path_domain
    for address in (f"postmaster@{domain}", "unsubscribe@elsewhere.test"):
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            _mail(internet, address, "unsubscribe x")
        assert refused.value.recipients[address][0] == 550
