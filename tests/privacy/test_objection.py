"""Objection (GDPR Art. 21): to direct marketing it stops all marketing to the
person (Art. 21(3)), tenant-wide; to profiling it stops tracking. The request
says which, and the privacy center offers both. Through the sandbox internet."""

from __future__ import annotations

from fastapi.testclient import TestClient

from courriel.content.links import preferences_token
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from tests.privacy.test_center_pages import _post
from tests.support.delivery import deliver_all
from tests.support.seeds.rights import (
    add_person,
    fulfil,
    make_campaign,
    make_list,
    message_of,
    new_request,
    send,
)
from tests.support.tenants import TenantAccess

ADA = "ada@gmail.test"
GRACE = "grace@yahoo.test"


def _campaign(
    client: TestClient, services: Services, who: TenantAccess, lst: str, name: str
) -> str:
    campaign = make_campaign(client, who, lst, name)
    send(client, who, campaign)
    deliver_all(services)
    return campaign


def test_objection_to_direct_marketing_stops_every_marketing_campaign(
    client: TestClient, services: Services, tenant_a: TenantAccess, sandbox: Sandbox
) -> None:
    news = make_list(client, tenant_a, "News")
    offers = make_list(client, tenant_a, "Offers")
    ada = add_person(client, tenant_a, news, ADA, "Ada")
    add_person(client, tenant_a, offers, ADA, "Ada")
    add_person(client, tenant_a, news, GRACE, "Grace")
    add_person(client, tenant_a, offers, GRACE, "Grace")
    _campaign(client, services, tenant_a, news, "Before")
    assert len(sandbox.store.inbox(ADA)) == 1

    done = fulfil(
        client,
        tenant_a,
        new_request(client, tenant_a, "objection", ada, ground="direct-marketing")["id"],
    )
    assert done["detail"]["ground"] == "direct-marketing"
    assert done["detail"]["marketing_suppressed"] is True

    for name, lst in (("One", news), ("Two", offers), ("Three", news)):
        _campaign(client, services, tenant_a, lst, name)
    assert len(sandbox.store.inbox(ADA)) == 1
    assert len(sandbox.store.inbox(GRACE)) == 4
    # The contact is kept; every list shows the objection, and the address is suppressed.
    assert set(
        client.get(f"/v1/contacts/{ada}/subscriptions", headers=tenant_a.headers).json().values()
    ) == {"suppressed"}
    suppressions = client.get("/v1/suppressions", headers=tenant_a.headers).json()["data"]
    assert [s["reason"] for s in suppressions] == ["objection"]
    # Tracking is a separate objection: this one did not touch it.
    assert services.audience.get_contact(tenant_a.operator, ada).no_tracking is False


def test_objection_to_profiling_stops_tracking_only_and_the_ground_is_required(
    client: TestClient, services: Services, tenant_a: TenantAccess, sandbox: Sandbox
) -> None:
    news = make_list(client, tenant_a, "News")
    ada = add_person(client, tenant_a, news, ADA, "Ada")
    missing = client.post(
        "/v1/privacy/requests",
        json={"type": "objection", "contact_id": ada},
        headers=tenant_a.headers,
    )
    assert missing.status_code == 422
    assert "ground" in missing.text
    wrong = client.post(
        "/v1/privacy/requests",
        json={"type": "access", "contact_id": ada, "ground": "profiling"},
        headers=tenant_a.headers,
    )
    assert wrong.status_code == 422
    assert "ground" in wrong.text

    done = fulfil(
        client, tenant_a, new_request(client, tenant_a, "objection", ada, ground="profiling")["id"]
    )
    assert done["detail"]["no_tracking"] is True
    _campaign(client, services, tenant_a, news, "After")
    assert len(sandbox.store.inbox(ADA)) == 1
    assert client.get("/v1/suppressions", headers=tenant_a.headers).json()["data"] == []


def test_the_privacy_center_offers_both_objections(
    client: TestClient, services: Services, tenant_a: TenantAccess, sandbox: Sandbox
) -> None:
    news = make_list(client, tenant_a, "News")
    ada = add_person(client, tenant_a, news, ADA, "Ada")
    campaign = make_campaign(client, tenant_a, news)
    send(client, tenant_a, campaign)
    message = message_of(services, tenant_a, campaign, ada)
    path = f"/p/{preferences_token(services.secret_key, tenant_a.tenant.id, message)}"
    deliver_all(services)

    assert _post(client, path, "tracking").status_code == 303  # type: ignore[attr-defined]
    assert _post(client, path, "marketing").status_code == 303  # type: ignore[attr-defined]
    requests = client.get("/v1/privacy/requests", headers=tenant_a.headers).json()["data"]
    assert sorted((r["type"], r["detail"]["ground"]) for r in requests) == [
        ("objection", "direct-marketing"),
        ("objection", "profiling"),
    ]
    page = client.get(path).text
    assert "You receive no marketing from us." in page
    _campaign(client, services, tenant_a, news, "After")
    assert len(sandbox.store.inbox(ADA)) == 1
