"""Tracking switched off per list and per campaign, through the API and the CLI:
the mail that reaches the mailbox then has no pixel and no rewritten link."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from courriel.cli.main import app
from courriel.config import Settings
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from tests.support.databases import Templates, build_services
from tests.support.delivery import deliver_all
from tests.support.seeds.campaigns import make_campaign as seed_campaign
from tests.support.seeds.campaigns import seed_list
from tests.support.seeds.rights import HTML, add_person, send
from tests.support.tenants import TenantAccess, make_tenant


def _list(client: TestClient, who: TenantAccess, name: str, **extra: object) -> str:
    body = {"name": name, "double_opt_in": False, **extra}
    response = client.post("/v1/lists", json=body, headers=who.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _campaign(client: TestClient, who: TenantAccess, list_id: str, **extra: object) -> str:
    template = client.post(
        "/v1/templates",
        json={"name": "T", "subject": "Hi", "html": HTML},
        headers=who.headers,
    ).json()["id"]
    body = {
        "name": "C",
        "template_id": template,
        "lists": [list_id],
        "from_email": "news@acme.test",
        **extra,
    }
    response = client.post("/v1/campaigns", json=body, headers=who.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _tracked(sandbox: Sandbox, address: str) -> bool:
    html = sandbox.store.inbox(address)[0].as_email().get_body(("html",))
    assert html is not None
    body = html.get_content()
    return "/t/o/" in body or "/t/c/" in body


def test_tracking_off_for_a_list_or_a_campaign_through_the_api(
    client: TestClient, services: Services, tenant_a: TenantAccess, sandbox: Sandbox
) -> None:
    quiet = _list(client, tenant_a, "Quiet", tracking=False)
    loud = _list(client, tenant_a, "Loud")
    other = _list(client, tenant_a, "Other")
    assert client.get("/v1/lists", headers=tenant_a.headers).status_code == 200
    add_person(client, tenant_a, quiet, "q@gmail.test", "Q")
    add_person(client, tenant_a, loud, "l@gmail.test", "L")
    add_person(client, tenant_a, other, "o@gmail.test", "O")
    send(client, tenant_a, _campaign(client, tenant_a, quiet))
    send(client, tenant_a, _campaign(client, tenant_a, loud))
    untracked = _campaign(client, tenant_a, other, tracking=False)
    shown = client.get(f"/v1/campaigns/{untracked}", headers=tenant_a.headers).json()
    assert shown["tracking"] is False
    send(client, tenant_a, untracked)
    deliver_all(services)
    assert _tracked(sandbox, "l@gmail.test") is True
    assert _tracked(sandbox, "q@gmail.test") is False
    assert _tracked(sandbox, "o@gmail.test") is False

    switched = client.put(
        f"/v1/lists/{loud}/tracking", json={"tracking": False}, headers=tenant_a.headers
    )
    assert switched.status_code == 200, switched.text
    assert switched.json()["tracking"] is False
    bad = client.put(
        f"/v1/lists/{loud}/tracking", json={"tracking": "maybe"}, headers=tenant_a.headers
    )
    assert bad.status_code == 422
    edited = client.patch(
        f"/v1/campaigns/{untracked}", json={"tracking": True}, headers=tenant_a.headers
    )
    assert edited.status_code in (200, 409), edited.text


def test_tracking_switched_from_the_cli(tmp_path: Path, templates: Templates) -> None:
    services = build_services(Settings(data_dir=tmp_path, resolver="sandbox"), templates)
    tenant = make_tenant(services, "Acme")
    list_id = seed_list(services, tenant, ["p@x.test"])
    campaign = seed_campaign(services, tenant, [list_id])
    services.close()
    where = ["--tenant", tenant.tenant.id, "--data-dir", str(tmp_path)]
    runner = CliRunner()

    done = runner.invoke(app, ["campaigns", "tracking", "--off", "--campaign", campaign, *where])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["tracking"] is False
    done = runner.invoke(app, ["campaigns", "tracking", "--off", "--list", list_id, *where])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["tracking"] is False
    both = runner.invoke(app, ["campaigns", "tracking", "--on", *where])
    assert both.exit_code != 0

    again = build_services(Settings(data_dir=tmp_path, resolver="sandbox"), templates)
    try:
        assert again.campaigns.get(tenant.operator, campaign).tracking is False
    finally:
        again.close()
