"""`{{ view_online_url }}`: the message as its recipient saw it, tracked only if it was."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import update

from courriel.audience.models import Contact
from courriel.core.db import transaction
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from tests.support.delivery import deliver_all
from tests.support.tenants import TenantAccess

CONSENT = {"source": "api", "purpose_text": "Yes, send me the newsletter"}
HTML = (
    "<html><body><p>Bonjour {{ contact.first_name }}, "
    "vos points : {{ contact.points|default(0) }}</p>"
    '<a href="{{ view_online_url }}">View online</a>'
    '<a href="https://shop.test/sale">Sale</a>'
    '<a href="{{ unsubscribe_url }}">Unsubscribe</a></body></html>'
)


def _send(client: TestClient, services: Services, access: TenantAccess) -> None:
    h = access.headers
    list_id = client.post(
        "/v1/lists", json={"name": "News", "double_opt_in": False}, headers=h
    ).json()["id"]
    client.post("/v1/properties", json={"name": "points", "kind": "number"}, headers=h)
    for name, address, points in (("Ada", "ada@gmail.test", 12), ("Zoë", "zoe@yahoo.test", 7)):
        response = client.post(
            "/v1/contacts",
            json={
                "email": address,
                "first_name": name,
                "properties": {"points": points},
                "lists": [list_id],
                "consent": CONSENT,
            },
            headers=h,
        )
        assert response.status_code == 201, response.text
    with transaction(services.storage.tenant(access.tenant.id)) as session:
        session.execute(
            update(Contact).where(Contact.email == "zoe@yahoo.test").values(no_tracking=True)
        )
    template = client.post(
        "/v1/templates",
        json={"name": "T", "subject": "Hi {{ contact.first_name }}", "html": HTML},
        headers=h,
    ).json()["id"]
    campaign = client.post(
        "/v1/campaigns",
        json={
            "name": "Sale",
            "template_id": template,
            "lists": [list_id],
            "from_email": "news@shop.test",
        },
        headers=h,
    ).json()["id"]
    sent = client.post(f"/v1/campaigns/{campaign}/send", headers=h)
    assert sent.status_code == 202, sent.text
    deliver_all(services)


def _view_path(sandbox: Sandbox, address: str, base: str) -> str:
    (received,) = sandbox.store.inbox(address)
    part = received.as_email().get_body(preferencelist=("html",))
    assert part is not None
    match = re.search(r'href="([^"]*/v/[^"]+)"', str(part.get_content()))
    assert match is not None
    assert match.group(1).startswith(f"{base}/v/")
    return match.group(1)[len(base) :]


def test_view_online_shows_the_message_as_each_recipient_saw_it(
    client: TestClient,
    services: Services,
    tenant_a: TenantAccess,
    tenant_b: TenantAccess,
    sandbox: Sandbox,
) -> None:
    _send(client, services, tenant_a)
    base = services.settings.public_url

    ada = client.get(_view_path(sandbox, "ada@gmail.test", base))
    assert ada.status_code == 200, ada.text
    assert ada.headers["content-type"].startswith("text/html")
    assert "Bonjour Ada, vos points : 12" in ada.text
    assert "Zoë" not in ada.text
    # Ada's message was tracked: so is her page, with her own links.
    assert f"{base}/t/c/" in ada.text
    assert f"{base}/t/o/" in ada.text
    assert "script-src" not in ada.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in ada.headers["content-security-policy"]

    # Zoë refused tracking: her page carries no tracked link and no pixel.
    zoe = client.get(_view_path(sandbox, "zoe@yahoo.test", base))
    assert zoe.status_code == 200, zoe.text
    assert "Bonjour Zoë, vos points : 7" in zoe.text
    assert 'href="https://shop.test/sale"' in zoe.text
    assert "/t/c/" not in zoe.text
    assert "/t/o/" not in zoe.text

    path = _view_path(sandbox, "ada@gmail.test", base)
    for forged in (path[:-2], path + "A", "/v/x"):
        assert client.get(forged).status_code == 404


def test_an_erased_persons_page_is_gone(
    client: TestClient, services: Services, tenant_a: TenantAccess, sandbox: Sandbox
) -> None:
    _send(client, services, tenant_a)
    path = _view_path(sandbox, "ada@gmail.test", services.settings.public_url)
    assert client.get(path).status_code == 200
    contact = client.get("/v1/contacts", headers=tenant_a.headers).json()
    ada = next(c for c in contact["data"] if c["email"] == "ada@gmail.test")
    erased = client.delete(f"/v1/contacts/{ada['id']}", headers=tenant_a.headers)
    assert erased.status_code in (200, 202, 204), erased.text
    page = client.get(path)
    assert page.status_code == 404
    assert "Ada" not in page.text
