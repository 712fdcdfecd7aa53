"""The privacy center shows the person's data, lets them correct their address
and name, turns tracking back on, and names the controller, the DPO and the
complaint route, in the contact's language."""

from __future__ import annotations

from fastapi.testclient import TestClient

from courriel.content.links import preferences_token
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from tests.privacy.test_center_pages import _post
from tests.support.delivery import deliver_all
from tests.support.seeds.rights import add_person, make_campaign, make_list, message_of, send
from tests.support.tenants import TenantAccess


def _center(
    client: TestClient, services: Services, who: TenantAccess, email: str, **extra: object
) -> tuple[str, str, str]:
    news = make_list(client, who, "News")
    made = client.post("/v1/properties", json={"name": "city", "kind": "text"}, headers=who.headers)
    assert made.status_code == 201
    contact = add_person(client, who, news, email, "Zoé", properties={"city": "Lyon"}, **extra)
    campaign = make_campaign(client, who, news)
    send(client, who, campaign)
    message = message_of(services, who, campaign, contact)
    return contact, news, f"/p/{preferences_token(services.secret_key, who.tenant.id, message)}"


def test_the_center_shows_the_data_and_corrects_address_and_name(
    client: TestClient, services: Services, tenant_a: TenantAccess, sandbox: Sandbox
) -> None:
    zoe, news, path = _center(client, services, tenant_a, "zoe@gmail.test", last_name="Dupont")
    page = client.get(path).text
    for shown in ("zoe@gmail.test", "Zoé", "Dupont", "city", "Lyon"):
        assert shown in page
    assert "Controller" in page
    assert "Right to complain" in page
    assert "supervisory authority" in page

    moved = _post(
        client, path, "correct", email="zoe.new@yahoo.test", first_name="Zoé", last_name="Durand"
    )
    assert moved.status_code == 303  # type: ignore[attr-defined]
    contact = client.get(f"/v1/contacts/{zoe}", headers=tenant_a.headers).json()
    assert (contact["email"], contact["first_name"], contact["last_name"]) == (
        "zoe.new@yahoo.test",
        "Zoé",
        "Durand",
    )
    requests = client.get("/v1/privacy/requests", headers=tenant_a.headers).json()["data"]
    assert [(r["type"], r["channel"]) for r in requests] == [("rectification", "privacy-center")]
    bad = _post(client, path, "correct", email="not an address")
    assert bad.status_code == 422  # type: ignore[attr-defined]
    # The next mail goes to the new address.
    send(client, tenant_a, make_campaign(client, tenant_a, news, "Next"))
    deliver_all(services)
    assert len(sandbox.store.inbox("zoe.new@yahoo.test")) == 1


def test_tracking_can_be_turned_back_on(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    zoe, _news, path = _center(client, services, tenant_a, "zoe@gmail.test")
    assert _post(client, path, "tracking").status_code == 303  # type: ignore[attr-defined]
    assert services.audience.get_contact(tenant_a.operator, zoe).no_tracking is True
    assert "Track again" in client.get(path).text
    assert _post(client, path, "tracking").status_code == 303  # type: ignore[attr-defined]
    assert services.audience.get_contact(tenant_a.operator, zoe).no_tracking is False


def test_the_center_speaks_the_contacts_language(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    _zoe, _news, path = _center(client, services, tenant_a, "zoe@orange.test", language="fr")
    page = client.get(path).text
    assert "Vos données personnelles" in page
    assert "Droit de réclamation" in page
    assert "CNIL" in page
    assert "Your lists" not in page
