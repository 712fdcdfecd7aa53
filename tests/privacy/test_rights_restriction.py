"""Restriction of processing (Art. 18) and objection to tracking (Art. 21): the
contact is kept, but no campaign, segment or tracking touches it."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from courriel.campaigns.models import CampaignRecipient, RecipientState
from courriel.content.links import open_token
from courriel.events.models import Event, EventType
from courriel.services import Services
from tests.support.seeds.campaigns import spooled
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


def _count(client: TestClient, who: TenantAccess, expression: str) -> int:
    response = client.post(
        "/v1/segments/count", json={"expression": expression}, headers=who.headers
    )
    assert response.status_code == 200, response.text
    return int(response.json()["count"])


def test_a_restricted_contact_is_skipped_by_campaigns_and_segments(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    news = make_list(client, tenant_a)
    ada = add_person(client, tenant_a, news, ADA, "Ada")
    add_person(client, tenant_a, news, GRACE, "Grace")
    expressions = [f'list "{news}"', 'email contains "a"', "created within 1 days"]
    assert [_count(client, tenant_a, e) for e in expressions] == [2, 2, 2]

    done = fulfil(client, tenant_a, new_request(client, tenant_a, "restriction", ada)["id"])
    assert done["detail"]["restricted"] is True

    assert [_count(client, tenant_a, e) for e in expressions] == [1, 1, 1]
    segment = client.post(
        "/v1/segments",
        json={"name": "All", "expression": 'email contains "@"'},
        headers=tenant_a.headers,
    )
    assert segment.json()["count"] == 1
    campaign = make_campaign(client, tenant_a, news)
    send(client, tenant_a, campaign)
    assert spooled(services, campaign) == [GRACE]
    # The contact is kept, with everything it had.
    contact = client.get(f"/v1/contacts/{ada}", headers=tenant_a.headers)
    assert contact.status_code == 200
    assert client.get(f"/v1/contacts/{ada}/subscriptions", headers=tenant_a.headers).json() == {
        news: "subscribed"
    }

    # Lifted: the next campaign reaches Ada again.
    lifted = new_request(client, tenant_a, "restriction", ada, lift=True)
    assert fulfil(client, tenant_a, lifted["id"])["detail"]["restricted"] is False
    assert [_count(client, tenant_a, e) for e in expressions] == [2, 2, 2]
    again = make_campaign(client, tenant_a, news, "Again")
    send(client, tenant_a, again)
    assert sorted(spooled(services, again)) == [ADA, GRACE]


def test_restricting_withdraws_the_persons_waiting_messages(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    news = make_list(client, tenant_a)
    ada = add_person(client, tenant_a, news, ADA, "Ada")
    add_person(client, tenant_a, news, GRACE, "Grace")
    campaign = make_campaign(client, tenant_a, news)
    send(client, tenant_a, campaign)
    assert sorted(spooled(services, campaign)) == [ADA, GRACE]
    waiting = message_of(services, tenant_a, campaign, ada)

    done = fulfil(client, tenant_a, new_request(client, tenant_a, "restriction", ada)["id"])

    assert done["detail"]["spool_messages_withdrawn"] == 1
    assert spooled(services, campaign) == [GRACE]
    with services.storage.tenant(tenant_a.tenant.id)() as session:
        row = session.get(CampaignRecipient, waiting)
        assert row is not None
        assert (row.state, row.reason) == (RecipientState.SKIPPED, "restricted")


def test_objection_stops_tracking_of_the_person_only(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    tid = tenant_a.tenant.id
    news = make_list(client, tenant_a)
    ada = add_person(client, tenant_a, news, ADA, "Ada")
    grace = add_person(client, tenant_a, news, GRACE, "Grace")
    campaign = make_campaign(client, tenant_a, news)
    send(client, tenant_a, campaign)

    done = fulfil(
        client, tenant_a, new_request(client, tenant_a, "objection", ada, ground="profiling")["id"]
    )
    assert done["detail"]["no_tracking"] is True

    for contact in (ada, grace):
        message = message_of(services, tenant_a, campaign, contact)
        assert (
            client.get(f"/t/o/{open_token(services.secret_key, tid, message)}.gif").status_code
            == 200
        )
    services.tracker.flush()
    with services.storage.tenant(tid)() as session:
        opened = dict(
            session.execute(
                select(Event.contact_id, func.count())
                .where(Event.type == EventType.OPENED)
                .group_by(Event.contact_id)
            ).all()
        )
    assert opened == {grace: 1}
    assert services.audience.get_contact(tenant_a.operator, ada).no_tracking is True
