"""A three-mail welcome series through the sandbox internet, on a frozen clock."""

from __future__ import annotations

from fastapi.testclient import TestClient

from courriel.core.clock import FrozenClock
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from tests.automation.helpers import (
    add_contact,
    make_list,
    make_template,
    make_workflow,
    run,
    stats,
    subjects,
)
from tests.support.tenants import TenantAccess


def test_three_mail_welcome_series_arrives_one_by_one(
    client: TestClient,
    services: Services,
    tenant_a: TenantAccess,
    sandbox: Sandbox,
    clock: FrozenClock,
) -> None:
    h = tenant_a.headers
    news = make_list(client, h)
    first, second, third = (make_template(client, h, f"Welcome {n}") for n in (1, 2, 3))
    workflow = make_workflow(
        client,
        h,
        {
            "trigger": {"kind": "list_subscribed", "list_id": news},
            "steps": [
                {"key": "hello", "kind": "send", "template_id": first, "next": "day-1"},
                {"key": "day-1", "kind": "wait", "days": 1, "next": "tips"},
                {"key": "tips", "kind": "send", "template_id": second, "next": "day-3"},
                {"key": "day-3", "kind": "wait", "days": 2, "next": "offer"},
                {"key": "offer", "kind": "send", "template_id": third},
            ],
        },
        activate=False,
    )
    # Subscribed before the activation: not new, not welcomed.
    add_contact(client, h, "early@gmail.test", [news])
    assert client.post(f"/v1/workflows/{workflow}/activate", headers=h).status_code == 200
    add_contact(client, h, "ada@gmail.test", [news])
    add_contact(client, h, "bob@yahoo.test", [news])

    run(services)
    assert subjects(sandbox, "ada@gmail.test") == ["Welcome 1"]
    assert subjects(sandbox, "bob@yahoo.test") == ["Welcome 1"]
    clock.advance(hours=23)
    run(services)
    assert subjects(sandbox, "ada@gmail.test") == ["Welcome 1"]
    clock.advance(hours=1)
    run(services)
    assert subjects(sandbox, "ada@gmail.test") == ["Welcome 1", "Welcome 2"]
    clock.advance(days=2)
    run(services)
    run(services)
    assert subjects(sandbox, "ada@gmail.test") == ["Welcome 1", "Welcome 2", "Welcome 3"]
    assert subjects(sandbox, "bob@yahoo.test") == ["Welcome 1", "Welcome 2", "Welcome 3"]
    assert subjects(sandbox, "early@gmail.test") == []
    texts = [m.text for m in sandbox.store.inbox("ada@gmail.test")]
    assert any("Welcome 1 for Ada" in t for t in texts)
    # Marketing: every message carries its unsubscribe link.
    assert all("/u/" in t for t in texts)

    figures = stats(client, h, workflow)
    assert figures["totals"]["entered"] == 2
    assert figures["totals"]["completed"] == 2
    assert figures["totals"]["waiting"] == 0
    for step in ("hello", "tips", "offer"):
        assert figures["by_step"][step]["sent"] == 2
        assert figures["by_step"][step]["delivered"] == 2
    assert figures["by_step"]["day-1"]["done"] == 2
