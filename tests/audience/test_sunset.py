"""The sunset policy with a frozen clock: a list's subscribers without an open or click
in its months are left out of a marketing campaign (counted in the campaign check), a
campaign may include them (re-engagement) and a segment holds them; lists made before
the policy keep their behaviour; another tenant's list out of reach; bad months refused."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from courriel.audience.models import Contact, MailingList, Subscription
from courriel.config import Settings
from courriel.core.clock import FrozenClock
from courriel.core.db import transaction
from courriel.core.errors import InvalidInputError
from courriel.events.models import EventType
from courriel.events.recorder import NewEvent, record_events
from courriel.services import Services
from tests.support.databases import Templates, build_services
from tests.support.people import PASSWORD, make_user, post_form, sign_in
from tests.support.seeds.campaigns import UNSUBSCRIBE, make_campaign, recipients, seed_list
from tests.support.tenants import TenantAccess

NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
# who: (subscribed days ago, days since the last open or click (None: never), tracking refused)
PEOPLE = {
    "quiet@example.test": (700, None, False),
    "opened@example.test": (700, 90, False),
    "clicked@example.test": (700, 355, False),
    "long-ago@example.test": (700, 400, False),
    "newcomer@example.test": (60, None, False),
    "untracked@example.test": (700, None, True),
}
SUNSET = {"quiet@example.test", "long-ago@example.test"}


@pytest.fixture
def services(settings: Settings, templates: Templates) -> Iterator[Services]:
    built = build_services(settings, templates, FrozenClock(NOW))
    yield built
    built.close()


def _seed(services: Services, tenant: TenantAccess, list_id: str) -> None:
    seed_list(services, tenant, list(PEOPLE), list_id=list_id)
    with transaction(services.storage.tenant(tenant.tenant.id)) as session:
        events = []
        for email, (subscribed, engaged, untracked) in PEOPLE.items():
            contact_id = session.query(Contact.id).filter(Contact.email == email).scalar()
            session.execute(
                update(Subscription)
                .where(Subscription.contact_id == contact_id)
                .values(updated_at=NOW - dt.timedelta(days=subscribed))
            )
            session.execute(
                update(Contact).where(Contact.id == contact_id).values(no_tracking=untracked)
            )
            if engaged is not None:
                kind = EventType.CLICKED if email.startswith("clicked") else EventType.OPENED
                events.append(
                    NewEvent(
                        type=kind,
                        occurred_at=NOW - dt.timedelta(days=engaged),
                        contact_id=contact_id,
                        message_id=f"msg_{email}",
                    )
                )
        record_events(session, events)


@pytest.fixture
def news(services: Services, tenant_a: TenantAccess) -> str:
    created = services.audience.create_list(tenant_a.operator, "News", double_opt_in=False)
    assert created.sunset_months == 12  # new lists: on, 12 months
    _seed(services, tenant_a, created.id)
    return created.id


def test_sunset_contacts_are_left_out_and_counted_in_the_check(
    services: Services, tenant_a: TenantAccess, news: str, client: TestClient
) -> None:
    campaign = make_campaign(services, tenant_a, [news])

    check = client.get(f"/v1/campaigns/{campaign}/check", headers=tenant_a.headers).json()
    [sunset] = [i for i in check["items"] if i["check"] == "sunset"]
    assert sunset["data"]["left_out_by_sunset"] == len(SUNSET)
    assert f"{len(SUNSET)} contacts are left out by the sunset policy" in sunset["detail"]
    assert check["sendable"]

    services.campaign_control.send(tenant_a.operator, campaign)
    assert set(recipients(services, tenant_a, campaign)) == set(PEOPLE) - SUNSET


def test_a_campaign_may_include_them_to_re_engage(
    services: Services, tenant_a: TenantAccess, news: str, client: TestClient
) -> None:
    made = client.post(f"/v1/lists/{news}/sunset/re-engagement", headers=tenant_a.headers)
    assert made.status_code == 201, made.text
    segment = made.json()
    assert (segment["expression"], segment["count"]) == (f'sunset "{news}"', len(SUNSET))
    assert segment["name"] == "Re-engagement: News"
    campaign = make_campaign(services, tenant_a, [news])

    plan = client.put(
        f"/v1/campaigns/{campaign}/plan",
        json={"segment_id": segment["segment_id"], "include_sunset": True},
        headers=tenant_a.headers,
    )
    assert plan.status_code == 200, plan.text
    assert plan.json()["include_sunset"] is True
    check = client.get(f"/v1/campaigns/{campaign}/check", headers=tenant_a.headers).json()
    [sunset] = [i for i in check["items"] if i["check"] == "sunset"]
    assert sunset["data"] == {
        "left_out_by_sunset": 0,
        "sunset_contacts": len(SUNSET),
        "include_sunset": True,
    }

    services.campaign_control.send(tenant_a.operator, campaign)
    assert set(recipients(services, tenant_a, campaign)) == SUNSET


def test_the_summary_and_turning_it_off(
    services: Services, tenant_a: TenantAccess, news: str, client: TestClient
) -> None:
    summary = client.get(f"/v1/lists/{news}/sunset", headers=tenant_a.headers).json()
    assert (summary["sunset_months"], summary["sunset"], summary["subscribed"]) == (
        12,
        len(SUNSET),
        len(PEOPLE),
    )
    # 24 months: only who never engaged nor subscribed within 720 days… none here.
    longer = client.put(
        f"/v1/lists/{news}/sunset", json={"sunset_months": 24}, headers=tenant_a.headers
    )
    assert longer.json()["sunset"] == 0
    off = client.put(
        f"/v1/lists/{news}/sunset", json={"sunset_months": None}, headers=tenant_a.headers
    )
    assert (off.json()["sunset_months"], off.json()["sunset"]) == (None, 0)
    assert client.get(f"/v1/lists/{news}", headers=tenant_a.headers).json()["sunset_months"] is None
    campaign = make_campaign(services, tenant_a, [news])
    services.campaign_control.send(tenant_a.operator, campaign)
    assert set(recipients(services, tenant_a, campaign)) == set(PEOPLE)


def test_a_list_from_before_the_policy_keeps_its_behaviour(
    services: Services, tenant_a: TenantAccess
) -> None:
    # Lists that existed when the policy came have no months (the migration adds NULL).
    legacy = seed_list(services, tenant_a, [], name="Legacy")
    _seed(services, tenant_a, legacy)
    with services.storage.tenant(tenant_a.tenant.id)() as session:
        assert session.get(MailingList, legacy).sunset_months is None  # type: ignore[union-attr]
    campaign = make_campaign(services, tenant_a, [legacy])
    services.campaign_control.send(tenant_a.operator, campaign)
    assert set(recipients(services, tenant_a, campaign)) == set(PEOPLE)


def test_another_tenants_list_is_out_of_reach(
    services: Services,
    tenant_a: TenantAccess,
    tenant_b: TenantAccess,
    news: str,
    client: TestClient,
) -> None:
    assert client.get(f"/v1/lists/{news}/sunset", headers=tenant_b.headers).status_code == 404
    changed = client.put(
        f"/v1/lists/{news}/sunset", json={"sunset_months": 1}, headers=tenant_b.headers
    )
    assert changed.status_code == 404
    made = client.post(f"/v1/lists/{news}/sunset/re-engagement", headers=tenant_b.headers)
    assert made.status_code == 404
    assert services.sunset.summary(tenant_a.operator, news).months == 12


@pytest.mark.parametrize("months", [0, 121, -3])
def test_bad_months_are_refused_and_nothing_changes(
    services: Services, tenant_a: TenantAccess, news: str, client: TestClient, months: int
) -> None:
    answer = client.put(
        f"/v1/lists/{news}/sunset", json={"sunset_months": months}, headers=tenant_a.headers
    )
    assert answer.status_code == 422
    assert "sunset_months" in answer.text
    assert services.sunset.summary(tenant_a.operator, news).months == 12
    with pytest.raises(InvalidInputError, match="between 1 and 120"):
        services.audience.create_list(tenant_a.operator, "Bad", sunset_months=months)


def test_no_re_engagement_segment_when_the_policy_is_off(
    services: Services, tenant_a: TenantAccess, news: str
) -> None:
    services.sunset.set_months(tenant_a.operator, news, None)
    with pytest.raises(InvalidInputError, match="sunset policy of this list is off"):
        services.sunset.reengagement_segment(tenant_a.operator, news)


def test_the_list_page_shows_and_changes_the_policy(
    services: Services,
    tenant_a: TenantAccess,
    tenant_b: TenantAccess,
    news: str,
    client: TestClient,
) -> None:
    make_user(services, tenant_a, email="ana@example.test")
    assert sign_in(client, "ana@example.test", PASSWORD).status_code == 303
    assert f"/app/contacts/lists/{news}/sunset" in client.get(f"/app/contacts/lists/{news}").text
    page = f"/app/contacts/lists/{news}/sunset"
    assert f'data-sunset="{len(SUNSET)}"' in client.get(page).text

    refused = post_form(client, page, page, months="a year")
    assert refused.status_code == 422
    assert "whole number of months" in refused.text
    refused = post_form(client, page, page, months="0")
    assert refused.status_code == 422
    assert "between 1 and 120" in refused.text
    assert services.sunset.summary(tenant_a.operator, news).months == 12

    made = post_form(client, page, f"{page}/re-engagement")
    assert made.status_code == 303
    assert made.headers["location"].startswith("/app/segments/seg_")
    assert post_form(client, page, page, months="").status_code == 303
    assert services.sunset.summary(tenant_a.operator, news).months is None

    other = TestClient(client.app, base_url=str(client.base_url))
    make_user(services, tenant_b, email="bob@example.test")
    assert sign_in(other, "bob@example.test", PASSWORD).status_code == 303
    assert other.get(page, headers={"accept": "text/html"}).status_code == 404


def test_a_campaign_made_in_the_application_may_include_sunset_contacts(
    services: Services, tenant_a: TenantAccess, news: str, client: TestClient
) -> None:
    template, _ = services.templates.create(
        tenant_a.operator, "Still there?", "Still there?", "<p>Hello</p>" + UNSUBSCRIBE
    )
    make_user(services, tenant_a, email="ana@example.test")
    assert sign_in(client, "ana@example.test", PASSWORD).status_code == 303
    made = post_form(
        client,
        "/app/campaigns/new",
        "/app/campaigns/new",
        name="Still there?",
        template_id=template.id,
        from_email="news@acme.test",
        lists=news,
        include_sunset="yes",
    )
    assert made.status_code == 303, made.text
    campaign_id = made.headers["location"].split("/")[-1].split("?")[0]
    assert services.campaign_control.plan(tenant_a.operator, campaign_id).include_sunset
    detail = client.get(f"/app/campaigns/{campaign_id}").text
    assert 'data-check="sunset"' in detail
    assert f"{len(SUNSET)} contacts without an open or click" in detail
