"""`/metrics`: what an operator alerts on, counted from real deliveries."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from courriel.config import Settings
from courriel.engine.metrics import expose_metrics
from courriel.services import Services
from tests.support.delivery import deliver_all
from tests.support.http import free_port
from tests.support.sandbox import SandboxThread
from tests.support.seeds.campaigns import make_campaign, seed_list
from tests.support.tenants import TenantAccess

PEOPLE = [f"metric{n}@gmail.test" for n in range(4)] + ["metric@yahoo.test"]


def _value(text: str, name: str, **labels: str) -> float:
    """One sample of the exposition, 0 when absent."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}(?:\{{(.*)\}})? (\S+)", line)
        if match and ",".join(sorted((match.group(1) or "").split(","))).strip(",") == wanted:
            return float(match.group(2))
    return 0.0


def _scrape(port: int) -> str:
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert response.status_code == 200
    return response.text


def test_deliveries_queue_and_http_timings_are_exposed_without_personal_data(
    services: Services, settings: Settings, tenant_a: TenantAccess, client: TestClient
) -> None:
    port = free_port()
    services.settings = settings.model_copy(update={"metrics_port": port})
    stop = expose_metrics(services)
    assert stop is not None
    try:
        before = _scrape(port)
        list_id = seed_list(services, tenant_a, PEOPLE)
        campaign = make_campaign(services, tenant_a, [list_id])
        services.campaigns.send(tenant_a.operator, campaign)
        with SandboxThread(Path(settings.data_dir)):
            deliver_all(services)
        assert client.get("/v1/lists", headers=tenant_a.headers).status_code == 200
        missing = client.get("/v1/lists/lst_metric0gmail", headers=tenant_a.headers)
        assert missing.status_code == 404
        after = _scrape(port)
    finally:
        stop()

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert grew("courriel_deliveries_total", outcome="delivered", provider="google") == 4
    assert grew("courriel_deliveries_total", outcome="delivered", provider="yahoo") == 1
    assert grew("courriel_delivery_seconds_count", outcome="delivered") == 5
    assert (
        grew("courriel_http_request_seconds_count", method="GET", route="/v1/lists", status="2xx")
        == 1
    )
    # Labelled by the route's template: the id in the path stays out.
    assert (
        grew(
            "courriel_http_request_seconds_count",
            method="GET",
            route="/v1/lists/{list_id}",
            status="4xx",
        )
        == 1
    )
    assert _value(after, "courriel_spool_due_messages") == 0
    assert "courriel_policy_tenants" in after
    assert "courriel_webhook_backlog 0.0" in after
    assert "metric0" not in after, "no address in the metrics"
    assert tenant_a.tenant.id not in after, "no tenant in the metrics"


def test_metrics_are_off_unless_a_port_is_set(services: Services) -> None:
    assert services.settings.metrics_port == 0
    assert expose_metrics(services) is None
