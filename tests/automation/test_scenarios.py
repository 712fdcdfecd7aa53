"""Workflows a customer builds, end to end on a frozen clock through the sandbox internet:
a birthday in three time zones, a click followed up unless the person bought, a goal
that takes people out mid-way, an unsubscribe that stops the rest."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from courriel.core.clock import FrozenClock
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from tests.automation.helpers import (
    OFFER,
    add_contact,
    click,
    make_list,
    make_template,
    make_workflow,
    run,
    stats,
    subjects,
)
from tests.support.tenants import TenantAccess


def test_birthday_mail_arrives_at_nine_in_each_persons_time_zone(
    client: TestClient,
    services: Services,
    tenant_a: TenantAccess,
    sandbox: Sandbox,
    clock: FrozenClock,
) -> None:
    h = tenant_a.headers
    news = make_list(client, h)
    assert (
        client.post(
            "/v1/properties", json={"name": "birthday", "kind": "date"}, headers=h
        ).status_code
        == 201
    )
    people = {
        "kenji@gmail.test": "Asia/Tokyo",  # 09:00 JST = 00:00 UTC
        "amelie@yahoo.test": "Europe/Paris",  # 09:00 CEST = 07:00 UTC
        "joe@outlook.test": "America/New_York",  # 09:00 EDT = 13:00 UTC
    }
    for email, zone in people.items():
        add_contact(client, h, email, [news], timezone=zone, properties={"birthday": "1990-05-12"})
    add_contact(client, h, "other@gmail.test", [news], properties={"birthday": "1990-06-01"})
    template = make_template(client, h, "Happy birthday")
    workflow = make_workflow(
        client,
        h,
        {
            "trigger": {"kind": "date_property", "property": "birthday", "time": "09:00"},
            "entry": {"rule": "every_time"},
            "consent_list_id": news,
            "steps": [{"key": "wish", "kind": "send", "template_id": template}],
        },
    )
    # 2026-05-11 08:00 UTC: the day before in every zone.
    run(services)
    assert all(subjects(sandbox, e) == [] for e in people)
    due = {
        "kenji@gmail.test": dt.datetime(2026, 5, 12, 0, 0, tzinfo=dt.UTC),
        "amelie@yahoo.test": dt.datetime(2026, 5, 12, 7, 0, tzinfo=dt.UTC),
        "joe@outlook.test": dt.datetime(2026, 5, 12, 13, 0, tzinfo=dt.UTC),
    }
    for email, at in sorted(due.items(), key=lambda item: item[1]):
        clock.advance(seconds=(at - clock.now()).total_seconds() - 60)
        run(services)
        assert subjects(sandbox, email) == [], f"{email} a minute early"
        clock.advance(minutes=1)
        run(services)
        assert subjects(sandbox, email) == ["Happy birthday"], email
    clock.advance(days=2)
    run(services)
    assert all(subjects(sandbox, e) == ["Happy birthday"] for e in people)
    assert subjects(sandbox, "other@gmail.test") == []
    assert stats(client, h, workflow)["by_step"]["wish"]["sent"] == 3


def _purchase(client: TestClient, h: dict[str, str], email: str) -> None:
    response = client.post(
        "/v1/events/custom",
        json={"name": "purchased", "email": email, "payload": {"order": "A-17", "total": 42}},
        headers=h,
    )
    assert response.status_code == 201, response.text


def test_clicked_link_then_two_days_then_a_reminder_unless_purchased(
    client: TestClient,
    services: Services,
    tenant_a: TenantAccess,
    sandbox: Sandbox,
    clock: FrozenClock,
) -> None:
    h = tenant_a.headers
    news = make_list(client, h)
    first = make_template(client, h, "Our offer")
    reminder = make_template(client, h, "Still thinking?")
    # A welcome that carries the offer link.
    make_workflow(
        client,
        h,
        {
            "trigger": {"kind": "list_subscribed", "list_id": news},
            "steps": [{"key": "offer", "kind": "send", "template_id": first}],
        },
        name="Offer",
    )
    follow_up = make_workflow(
        client,
        h,
        {
            "trigger": {"kind": "clicked", "url": OFFER},
            "consent_list_id": news,
            "steps": [
                {"key": "two-days", "kind": "wait", "days": 2, "next": "bought"},
                {
                    "key": "bought",
                    "kind": "condition",
                    "event": "purchased",
                    "yes": None,
                    "no": "remind",
                },
                {"key": "remind", "kind": "send", "template_id": reminder},
            ],
        },
        name="Follow-up",
    )
    for email in ("buyer@gmail.test", "browser@yahoo.test", "idle@outlook.test"):
        add_contact(client, h, email, [news])
    run(services)
    clock.advance(minutes=30)
    click(client, services, sandbox, "buyer@gmail.test", "Our offer", OFFER)
    click(client, services, sandbox, "browser@yahoo.test", "Our offer", OFFER)
    run(services)
    clock.advance(days=1)
    _purchase(client, h, "buyer@gmail.test")
    run(services)
    clock.advance(days=1)
    run(services)
    assert subjects(sandbox, "browser@yahoo.test") == ["Our offer", "Still thinking?"]
    assert subjects(sandbox, "buyer@gmail.test") == ["Our offer"]
    assert subjects(sandbox, "idle@outlook.test") == ["Our offer"]
    figures = stats(client, h, follow_up)
    assert figures["totals"]["entered"] == 2
    assert figures["by_step"]["remind"]["sent"] == 1
    assert figures["by_step"]["bought"]["done"] == 2


def test_a_goal_takes_people_out_mid_way(
    client: TestClient,
    services: Services,
    tenant_a: TenantAccess,
    sandbox: Sandbox,
    clock: FrozenClock,
) -> None:
    h = tenant_a.headers
    news = make_list(client, h)
    one, two, three = (make_template(client, h, f"Nudge {n}") for n in (1, 2, 3))
    workflow = make_workflow(
        client,
        h,
        {
            "trigger": {"kind": "list_subscribed", "list_id": news},
            "goal": {"event": "purchased"},
            "steps": [
                {"key": "n1", "kind": "send", "template_id": one, "next": "w1"},
                {"key": "w1", "kind": "wait", "days": 1, "next": "n2"},
                {"key": "n2", "kind": "send", "template_id": two, "next": "w2"},
                {"key": "w2", "kind": "wait", "days": 1, "next": "n3"},
                {"key": "n3", "kind": "send", "template_id": three},
            ],
        },
    )
    add_contact(client, h, "keen@gmail.test", [news])
    add_contact(client, h, "slow@yahoo.test", [news])
    run(services)
    clock.advance(days=1)
    run(services)
    _purchase(client, h, "keen@gmail.test")
    run(services)
    clock.advance(days=1)
    run(services)
    assert subjects(sandbox, "keen@gmail.test") == ["Nudge 1", "Nudge 2"]
    assert subjects(sandbox, "slow@yahoo.test") == ["Nudge 1", "Nudge 2", "Nudge 3"]
    figures = stats(client, h, workflow)
    assert figures["totals"]["converted"] == 1
    assert figures["by_step"]["w2"]["converted"] == 1
    assert figures["totals"]["completed"] == 1
    contact = client.get("/v1/contacts", params={"email": "keen@gmail.test"}, headers=h).json()
    contact_id = contact["data"][0]["id"]
    (enrollment,) = client.get(f"/v1/contacts/{contact_id}/workflows", headers=h).json()
    assert enrollment["state"] == "converted"
    assert enrollment["step_key"] == "w2"


def test_an_unsubscribe_between_two_steps_stops_the_rest(
    client: TestClient,
    services: Services,
    tenant_a: TenantAccess,
    sandbox: Sandbox,
    clock: FrozenClock,
) -> None:
    h = tenant_a.headers
    news = make_list(client, h)
    one, two = (make_template(client, h, f"Part {n}") for n in (1, 2))
    workflow = make_workflow(
        client,
        h,
        {
            "trigger": {"kind": "list_subscribed", "list_id": news},
            "steps": [
                {"key": "p1", "kind": "send", "template_id": one, "next": "wait"},
                {"key": "wait", "kind": "wait", "hours": 6, "next": "p2"},
                {"key": "p2", "kind": "send", "template_id": two},
            ],
        },
    )
    add_contact(client, h, "leaving@gmail.test", [news])
    add_contact(client, h, "staying@yahoo.test", [news])
    run(services)
    # The person uses the unsubscribe link of the first mail (RFC 8058 one-click POST).
    (message,) = sandbox.store.inbox("leaving@gmail.test")
    header = message.as_email()["List-Unsubscribe"]
    url = next(p.strip("<> ") for p in header.split(",") if "http" in p)
    path = url.split("://", 1)[1].partition("/")[2]
    response = client.post(f"/{path}", data={"List-Unsubscribe": "One-Click"})
    assert response.status_code in (200, 202, 204), response.text
    clock.advance(hours=6)
    run(services)
    assert subjects(sandbox, "leaving@gmail.test") == ["Part 1"]
    assert subjects(sandbox, "staying@yahoo.test") == ["Part 1", "Part 2"]
    figures = stats(client, h, workflow)
    assert figures["by_step"]["wait"]["left"] == 1
    assert figures["by_step"]["p2"]["sent"] == 1
