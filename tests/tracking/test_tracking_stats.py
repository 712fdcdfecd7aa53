"""Statistics are counters kept with the events: they must equal the events they summarize."""

from __future__ import annotations

import datetime as dt
import functools
import random
from collections import Counter

import pytest
from fastapi.testclient import TestClient

from courriel.core.db import transaction
from courriel.core.errors import InvalidInputError, NotFoundError
from courriel.events.metrics import provider_of
from courriel.events.models import Event, EventType
from courriel.events.recorder import NewEvent, record_events
from courriel.events.service import EventFilter
from courriel.services import Services
from tests.support.seeds.tracking import Seeded, seed_campaign
from tests.support.tenants import TenantAccess

LANES = [
    "gmail-smtp-in.l.google.com",
    "mta5.am0.yahoodns.net",
    "outlook-com.olc.protection.outlook.com",
]
DAY1 = dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC)


def _random_history(seeded: Seeded, seed: int) -> list[NewEvent]:
    """A plausible, random mix of what happens to the campaign's messages over two days."""
    rng = random.Random(seed)
    events: list[NewEvent] = []
    for index, (_email, message) in enumerate(sorted(seeded.messages.items())):
        make = functools.partial(
            NewEvent,
            occurred_at=DAY1 + dt.timedelta(hours=rng.randint(0, 40)),
            campaign_id=seeded.campaign_id,
            message_id=message,
            lane=LANES[index % 3],
        )
        events.append(make(type=EventType.QUEUED))
        fate = rng.choice(["delivered"] * 6 + ["hard", "soft", "blocked"])
        if fate == "blocked":
            events.append(make(type=EventType.BLOCKED))
            continue
        if fate != "delivered":
            events.append(make(type=EventType.BOUNCED, detail={"bounce": fate}))
            continue
        events.extend(make(type=EventType.DEFERRED) for _ in range(rng.randint(0, 2)))
        events.append(make(type=EventType.DELIVERED))
        events.extend(
            make(type=EventType.OPENED, detail={"machine": rng.random() < 0.4})
            for _ in range(rng.randint(0, 3))
        )
        events.extend(
            make(
                type=EventType.CLICKED,
                detail={"link": rng.randint(0, 2), "scanner": rng.random() < 0.2},
            )
            for _ in range(rng.randint(0, 3))
        )
        if rng.random() < 0.1:
            events.append(make(type=EventType.COMPLAINED))
        if rng.random() < 0.1:
            events.append(make(type=EventType.UNSUBSCRIBED))
    return events


def _expected(events: list[Event]) -> dict[str, int]:
    """The figures, computed the slow way: by reading every event."""
    figures: Counter[str] = Counter()
    opened: set[str] = set()
    human_opened: set[str] = set()
    clicked: set[str] = set()
    for e in events:
        assert e.message_id is not None
        name = {
            EventType.QUEUED: "queued",
            EventType.DELIVERED: "delivered",
            EventType.DEFERRED: "deferred",
            EventType.BLOCKED: "blocked",
            EventType.COMPLAINED: "complained",
            EventType.UNSUBSCRIBED: "unsubscribed",
        }.get(e.type)
        if name:
            figures[name] += 1
        if e.type is EventType.BOUNCED:
            figures["bounced"] += 1
            figures[f"bounced_{e.detail['bounce']}"] += 1
        if e.type is EventType.OPENED:
            figures["opens"] += 1
            figures["opens_machine" if e.detail["machine"] else "opens_human"] += 1
            opened.add(e.message_id)
            if not e.detail["machine"]:
                human_opened.add(e.message_id)
        if e.type is EventType.CLICKED:
            figures["clicks"] += 1
            figures["clicks_scanner" if e.detail["scanner"] else "clicks_human"] += 1
            if not e.detail["scanner"]:
                clicked.add(e.message_id)
    figures["unique_opens"] = len(opened)
    figures["unique_human_opens"] = len(human_opened)
    figures["unique_clicks"] = len(clicked)
    return dict(figures)


def _all_events(services: Services, tenant: TenantAccess) -> list[Event]:
    events: list[Event] = []
    cursor = None
    while True:
        page = services.events.query(tenant.operator, EventFilter(), cursor, 500)
        events.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return events


@pytest.mark.parametrize("seed", [1, 2])
def test_stats_equal_the_events_they_summarize(
    services: Services, tenant_a: TenantAccess, seed: int
) -> None:
    seeded = seed_campaign(services, tenant_a, [f"p{i}@example.test" for i in range(40)])
    history = _random_history(seeded, seed)
    # Recorded in several transactions, as the engine and the tracker would.
    with transaction(services.storage.tenant(tenant_a.tenant.id)) as session:
        record_events(session, history[: len(history) // 2])
    with transaction(services.storage.tenant(tenant_a.tenant.id)) as session:
        record_events(session, history[len(history) // 2 :])
    events = _all_events(services, tenant_a)
    assert len(events) == len(history)
    expected = _expected(events)
    stats = services.stats.campaign(tenant_a.operator, seeded.campaign_id)
    for name, value in stats.figures.items():
        assert value == expected.get(name, 0), name
    assert stats.recipients == 40
    assert stats.rates["delivery_rate"] == round(expected["delivered"] / 40, 4)
    if expected.get("unique_opens"):
        assert stats.rates["click_to_open_rate"] == round(
            expected.get("unique_clicks", 0) / expected["unique_opens"], 4
        )

    # Each breakdown adds up to the totals.
    for dimension in ("provider", "day"):
        rows = services.stats.campaign_breakdown(tenant_a.operator, seeded.campaign_id, dimension)
        for name in ("delivered", "opens", "clicks", "bounced_hard"):
            assert sum(r.figures[name] for r in rows) == stats.figures[name], (dimension, name)
    providers = {
        r.key: r.figures["delivered"]
        for r in services.stats.campaign_breakdown(
            tenant_a.operator, seeded.campaign_id, "provider"
        )
    }
    expected_providers = Counter(
        provider_of(e.lane) for e in events if e.type is EventType.DELIVERED
    )
    assert {k: v for k, v in providers.items() if v} == dict(expected_providers)
    assert set(providers) <= {"google", "yahoo", "microsoft"}
    links = services.stats.campaign_breakdown(tenant_a.operator, seeded.campaign_id, "link")
    per_link = Counter(str(e.detail["link"]) for e in events if e.type is EventType.CLICKED)
    assert {str(r.position): r.figures["clicks"] for r in links} == dict(per_link)
    days = services.stats.tenant_days(tenant_a.operator, DAY1.date(), DAY1.date() + dt.timedelta(2))
    assert [d.key for d in days] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert sum(d.figures["queued"] for d in days) == 40


def test_campaign_stats_endpoint_keeps_its_fields_and_adds_every_figure_and_rate(
    client: TestClient, services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    seeded = seed_campaign(services, tenant_a, ["a@gmail.test", "b@gmail.test"])
    with transaction(services.storage.tenant(tenant_a.tenant.id)) as session:
        record_events(session, _random_history(seeded, 3))
    body = client.get(f"/v1/campaigns/{seeded.campaign_id}/stats", headers=tenant_a.headers).json()
    for field in (
        "queued",
        "delivered",
        "bounced",
        "blocked",
        "deferred",
        "delivery_rate",
        "counts",
    ):
        assert field in body
    assert body["figures"]["queued"] == 2
    for rate in (
        "open_rate",
        "human_open_rate",
        "click_rate",
        "click_to_open_rate",
        "unsubscribe_rate",
        "complaint_rate",
        "hard_bounce_rate",
        "soft_bounce_rate",
    ):
        assert rate in body["rates"]
    for dimension in ("link", "provider", "day"):
        url = f"/v1/campaigns/{seeded.campaign_id}/stats/{dimension}"
        assert client.get(url, headers=tenant_a.headers).status_code == 200
        # Another tenant's campaign does not exist for tenant B.
        assert client.get(url, headers=tenant_b.headers).status_code == 404
    url = f"/v1/campaigns/{seeded.campaign_id}/stats"
    assert client.get(url, headers=tenant_b.headers).status_code == 404
    bad = client.get(f"/v1/campaigns/{seeded.campaign_id}/stats/weekday", headers=tenant_a.headers)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "dimension"
    days = client.get("/v1/stats/days?start=2026-03-01&end=2026-03-02", headers=tenant_b.headers)
    assert days.status_code == 200
    assert all(d["figures"]["queued"] == 0 for d in days.json()["data"])


def test_bad_day_ranges_are_refused(services: Services, tenant_a: TenantAccess) -> None:
    day = dt.date(2026, 3, 1)
    with pytest.raises(InvalidInputError) as exc:
        services.stats.tenant_days(tenant_a.operator, day, day - dt.timedelta(days=1))
    assert exc.value.field == "end"
    with pytest.raises(InvalidInputError):
        services.stats.tenant_days(tenant_a.operator, day, day + dt.timedelta(days=400))
    with pytest.raises(NotFoundError):
        services.stats.campaign_breakdown(tenant_a.operator, "cmp_unknown", "day")
