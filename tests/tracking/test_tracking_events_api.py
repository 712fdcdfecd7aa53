"""The event query API: filters, keyset pages, bad input, tenant isolation."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from courriel.core.db import transaction
from courriel.events.models import EventType
from courriel.events.recorder import NewEvent, record_events
from courriel.services import Services
from tests.support.seeds.tracking import seed_campaign
from tests.support.tenants import TenantAccess

T0 = dt.datetime(2026, 4, 1, 12, tzinfo=dt.UTC)


def _seed_events(services: Services, tenant: TenantAccess) -> tuple[str, dict[str, str]]:
    seeded = seed_campaign(services, tenant, ["a@gmail.test", "b@yahoo.test"])
    events = []
    for minute, (email, kind) in enumerate(
        [
            ("a@gmail.test", EventType.QUEUED),
            ("b@yahoo.test", EventType.QUEUED),
            ("a@gmail.test", EventType.DELIVERED),
            ("b@yahoo.test", EventType.BOUNCED),
            ("a@gmail.test", EventType.OPENED),
            ("a@gmail.test", EventType.CLICKED),
        ]
    ):
        events.append(
            NewEvent(
                type=kind,
                occurred_at=T0 + dt.timedelta(minutes=minute),
                campaign_id=seeded.campaign_id,
                message_id=seeded.messages[email],
                contact_id=seeded.contacts[email],
                detail={"link": 0} if kind is EventType.CLICKED else {},
            )
        )
    with transaction(services.storage.tenant(tenant.tenant.id)) as session:
        record_events(session, events)
    return seeded.campaign_id, seeded.contacts


def _seed_late_event(services: Services, tenant: TenantAccess) -> None:
    late = NewEvent(type=EventType.POLICY_CHANGED, occurred_at=T0, dedupe_key="late")
    with transaction(services.storage.tenant(tenant.tenant.id)) as session:
        record_events(session, [late])


def test_events_filtered_by_type_campaign_contact_and_time(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    campaign_id, contacts = _seed_events(services, tenant_a)
    h = tenant_a.headers

    def types(query: str) -> list[str]:
        response = client.get(f"/v1/events?{query}", headers=h)
        assert response.status_code == 200, response.text
        return [e["type"] for e in response.json()["data"]]

    assert types("") == ["queued", "queued", "delivered", "bounced", "opened", "clicked"]
    assert types("type=queued") == ["queued", "queued"]
    assert types(f"campaign_id={campaign_id}&type=clicked") == ["clicked"]
    assert types(f"contact_id={contacts['b@yahoo.test']}") == ["queued", "bounced"]
    assert types("since=2026-04-01T12:02:00Z&until=2026-04-01T12:04:00Z") == [
        "delivered",
        "bounced",
    ]
    assert types("campaign_id=cmp_other") == []


def test_events_are_paginated_with_a_stable_cursor(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    _seed_events(services, tenant_a)
    whole = client.get("/v1/events?limit=500", headers=tenant_a.headers).json()
    assert whole["next_cursor"] is None
    everything = [e["id"] for e in whole["data"]]
    seen: list[str] = []
    sizes: list[int] = []
    cursor = None
    while True:
        query = "limit=4" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(f"/v1/events?{query}", headers=tenant_a.headers).json()
        seen.extend(e["id"] for e in body["data"])
        sizes.append(len(body["data"]))
        cursor = body["next_cursor"]
        if cursor is None:
            break
        # An event recorded between two pages lands after the cursor, never
        # shifting what the next page holds.
        if len(sizes) == 1:
            _seed_late_event(services, tenant_a)
    # Pages of the asked size, in the order of the whole listing, each event once.
    assert sizes == [4, 3]
    assert seen[:6] == everything
    assert len(seen) == len(set(seen)) == 7


def test_bad_event_queries_name_the_field(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    h = tenant_a.headers
    for query, field in [
        ("type=opened-twice", "type"),
        ("cursor=abc", "cursor"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("since=yesterday", "since"),
        ("since=2026-04-01T12:00:00", "since"),
        ("since=2026-04-02T00:00:00Z&until=2026-04-01T00:00:00Z", "until"),
    ]:
        response = client.get(f"/v1/events?{query}", headers=h)
        assert response.status_code == 422, query
        assert response.json()["errors"][0]["field"] == field, query


def test_another_tenants_events_are_out_of_reach(
    client: TestClient, services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    campaign_id, contacts = _seed_events(services, tenant_a)
    for query in ("", f"campaign_id={campaign_id}", f"contact_id={contacts['a@gmail.test']}"):
        body = client.get(f"/v1/events?{query}", headers=tenant_b.headers).json()
        assert body["data"] == []
    assert client.get("/v1/events").status_code == 401
