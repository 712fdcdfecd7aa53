"""The workflows API: bad definitions refused with the field at fault (nothing stored),
versions, lifecycle, tenant isolation, and people's rights taking effect inside."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from courriel.automation.models import Enrollment, Workflow
from courriel.core.clock import FrozenClock
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from tests.automation.helpers import (
    FROM,
    add_contact,
    make_list,
    make_template,
    make_workflow,
    run,
    stats,
    subjects,
)
from tests.support.tenants import TenantAccess


def _workflows(services: Services, tenant: TenantAccess) -> int:
    with services.storage.tenant(tenant.tenant.id)() as session:
        return int(session.scalar(select(func.count()).select_from(Workflow)) or 0)


def _post(client: TestClient, h: dict[str, str], definition: dict[str, Any]) -> Any:
    return client.post(
        "/v1/workflows",
        json={"name": "Bad", "definition": {"from_email": FROM, **definition}},
        headers=h,
    )


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"steps": [{"kind": "teleport"}]}, "steps[0].kind", "unknown step kind"),
        (
            {
                "steps": [
                    {"key": "a", "kind": "wait", "days": 1, "next": "b"},
                    {"key": "b", "kind": "wait", "days": 1, "next": "a"},
                ]
            },
            "steps",
            "cycle: a → b → a",
        ),
        ({"steps": [{"kind": "wait", "days": 1, "next": "nowhere"}]}, "steps.step-1", "no step"),
        (
            {"steps": [{"kind": "send", "template_id": "tpl_missing"}]},
            "steps.step-1.template_id",
            "no template",
        ),
        ({"default_timezone": "Mars/Olympus"}, "default_timezone", "not a known time zone"),
        ({"trigger": {"kind": "moon-phase"}}, "trigger.kind", "unknown trigger"),
        ({"steps": []}, "steps", "non-empty"),
        (
            {"steps": [{"kind": "wait_until", "weekdays": ["mon"], "time": "25:00"}]},
            "steps[0].time",
            "HH:MM",
        ),
        (
            {"steps": [{"kind": "condition", "segment": "first_name = ", "yes": None}]},
            "steps.step-1.segment",
            "position",
        ),
        (
            {"steps": [{"kind": "split", "branches": [{"percent": 30}, {"percent": 30}]}]},
            "steps[0].branches",
            "add up to 100",
        ),
        ({"entry": {"rule": "twice"}}, "entry.rule", "must be one of"),
    ],
)
def test_bad_definitions_are_refused_naming_the_field_and_nothing_is_stored(
    client: TestClient,
    services: Services,
    tenant_a: TenantAccess,
    change: dict[str, Any],
    field: str,
    words: str,
) -> None:
    h = tenant_a.headers
    news = make_list(client, h)
    definition: dict[str, Any] = {
        "trigger": {"kind": "list_subscribed", "list_id": news},
        "steps": [{"kind": "wait", "days": 1}],
        **change,
    }
    response = _post(client, h, definition)
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert errors[0]["field"] == field
    assert words in errors[0]["detail"]
    assert _workflows(services, tenant_a) == 0


def test_marketing_needs_a_consent_list_and_a_missing_list_is_named(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    h = tenant_a.headers
    template = make_template(client, h, "Hi")
    no_list = _post(
        client,
        h,
        {
            "trigger": {"kind": "custom_event", "name": "signed-up"},
            "steps": [{"kind": "send", "template_id": template}],
        },
    )
    assert no_list.status_code == 422
    assert no_list.json()["errors"][0]["field"] == "consent_list_id"
    unknown = _post(
        client,
        h,
        {
            "trigger": {"kind": "list_subscribed", "list_id": "lst_nope"},
            "steps": [{"kind": "exit"}],
        },
    )
    assert unknown.status_code == 422
    assert "no list" in unknown.json()["errors"][0]["detail"]
    assert _workflows(services, tenant_a) == 0


def test_lifecycle_follows_its_table_and_edits_make_versions(
    client: TestClient,
    services: Services,
    tenant_a: TenantAccess,
    sandbox: Sandbox,
    clock: FrozenClock,
) -> None:
    h = tenant_a.headers
    news = make_list(client, h)
    old, new = make_template(client, h, "Old"), make_template(client, h, "New")

    def definition(template: str) -> dict[str, Any]:
        return {
            "from_email": FROM,
            "trigger": {"kind": "list_subscribed", "list_id": news},
            "steps": [
                {"key": "wait", "kind": "wait", "hours": 1, "next": "mail"},
                {"key": "mail", "kind": "send", "template_id": template},
            ],
        }

    workflow = make_workflow(client, h, definition(old))
    assert client.post(f"/v1/workflows/{workflow}/activate", headers=h).status_code == 409
    add_contact(client, h, "first@gmail.test", [news])
    run(services)
    edited = client.patch(
        f"/v1/workflows/{workflow}", json={"definition": definition(new)}, headers=h
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["version"] == 2
    add_contact(client, h, "second@gmail.test", [news])
    run(services)
    clock.advance(hours=1)
    run(services)
    # Each finishes the version they entered.
    assert subjects(sandbox, "first@gmail.test") == ["Old"]
    assert subjects(sandbox, "second@gmail.test") == ["New"]
    assert client.post(f"/v1/workflows/{workflow}/pause", headers=h).json()["status"] == "paused"
    add_contact(client, h, "paused@gmail.test", [news])
    assert (
        client.post(f"/v1/workflows/{workflow}/archive", headers=h).json()["status"] == "archived"
    )
    refused = client.post(f"/v1/workflows/{workflow}/activate", headers=h)
    assert refused.status_code == 409
    assert "an archived workflow cannot become active" in refused.text
    listed = client.get("/v1/workflows", headers=h).json()["data"]
    assert [w["id"] for w in listed] == [workflow]


def test_another_tenant_reaches_none_of_it(
    client: TestClient,
    services: Services,
    tenant_a: TenantAccess,
    tenant_b: TenantAccess,
) -> None:
    h = tenant_a.headers
    news = make_list(client, h)
    workflow = make_workflow(
        client,
        h,
        {"trigger": {"kind": "list_subscribed", "list_id": news}, "steps": [{"kind": "exit"}]},
    )
    contact = add_contact(client, h, "ada@gmail.test", [news])
    other = tenant_b.headers
    assert client.get("/v1/workflows", headers=other).json()["data"] == []
    for method, path in (
        ("get", f"/v1/workflows/{workflow}"),
        ("get", f"/v1/workflows/{workflow}/stats"),
        ("patch", f"/v1/workflows/{workflow}"),
        ("post", f"/v1/workflows/{workflow}/pause"),
        ("post", f"/v1/workflows/{workflow}/archive"),
        ("get", f"/v1/contacts/{contact}/workflows"),
    ):
        kwargs: dict[str, Any] = {"json": {"name": "Mine"}} if method == "patch" else {}
        response = getattr(client, method)(path, headers=other, **kwargs)
        assert response.status_code == 404, (path, response.text)
    # Tenant B's event about tenant A's contact finds no such contact.
    event = client.post(
        "/v1/events/custom", json={"name": "signed-up", "contact_id": contact}, headers=other
    )
    assert event.status_code == 404
    # Tenant B cannot point a workflow at tenant A's list.
    stolen = _post(
        client,
        other,
        {"trigger": {"kind": "list_subscribed", "list_id": news}, "steps": [{"kind": "exit"}]},
    )
    assert stolen.status_code == 422
    assert client.get(f"/v1/workflows/{workflow}", headers=h).json()["status"] == "active"


def test_erasure_restriction_and_suppression_take_effect_inside_at_once(
    client: TestClient,
    services: Services,
    tenant_a: TenantAccess,
    sandbox: Sandbox,
    clock: FrozenClock,
) -> None:
    h = tenant_a.headers
    news = make_list(client, h)
    one, two = make_template(client, h, "One"), make_template(client, h, "Two")
    workflow = make_workflow(
        client,
        h,
        {
            "trigger": {"kind": "list_subscribed", "list_id": news},
            "steps": [
                {"key": "one", "kind": "send", "template_id": one, "next": "wait"},
                {"key": "wait", "kind": "wait", "days": 1, "next": "two"},
                {"key": "two", "kind": "send", "template_id": two, "mail_class": "transactional"},
            ],
        },
    )
    erased = add_contact(client, h, "erased@gmail.test", [news])
    add_contact(client, h, "bounced@yahoo.test", [news])
    add_contact(client, h, "fine@outlook.test", [news])
    run(services)
    assert client.delete(f"/v1/contacts/{erased}", headers=h).status_code == 204
    with services.storage.tenant(tenant_a.tenant.id)() as session:
        left = session.scalar(
            select(func.count()).select_from(Enrollment).where(Enrollment.contact_id == erased)
        )
    assert left == 0
    suppressed = client.post(
        "/v1/suppressions",
        json={"address": "bounced@yahoo.test", "reason": "manual"},
        headers=h,
    )
    assert suppressed.status_code == 201, suppressed.text
    clock.advance(days=1)
    run(services)
    assert subjects(sandbox, "bounced@yahoo.test") == ["One"]
    assert subjects(sandbox, "fine@outlook.test") == ["One", "Two"]
    figures = stats(client, h, workflow)
    assert figures["by_step"]["wait"]["left"] == 1
    assert figures["totals"]["completed"] == 1


def test_custom_event_inputs_are_checked(client: TestClient, tenant_a: TenantAccess) -> None:
    h = tenant_a.headers
    news = make_list(client, h)
    contact = add_contact(client, h, "ada@gmail.test", [news])
    for body, field in (
        ({"name": "bad name!", "contact_id": contact}, "name"),
        ({"name": "ok"}, "contact_id"),
        ({"name": "ok", "contact_id": contact, "email": "ada@gmail.test"}, "contact_id"),
        ({"name": "ok", "contact_id": contact, "payload": {"x": "y" * 20_000}}, "payload"),
    ):
        response = client.post("/v1/events/custom", json=body, headers=h)
        assert response.status_code == 422, body
        assert response.json()["errors"][0]["field"] == field
    ok = client.post(
        "/v1/events/custom",
        json={"name": "ok", "contact_id": contact, "payload": {"a": 1}},
        headers=h,
    )
    assert ok.status_code == 201
