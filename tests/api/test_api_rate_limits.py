"""Issue 18 item 12: rate limits on the authenticated API.

Per API key and per source address, answered `429` with `Retry-After` as
problem+json; wrong API keys are throttled per source address (a growing
delay, then a lock), so guessing keys cannot run at full speed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from courriel.config import Settings
from courriel.core.clock import FrozenClock
from courriel.services import Services
from courriel.web.app import create_app
from tests.support.databases import Templates, build_services
from tests.support.tenants import make_tenant


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC))


@pytest.fixture
def limited(settings: Settings, templates: Templates, clock: FrozenClock) -> Iterator[Services]:
    settings.api_rate_limit_per_key = 5
    settings.api_rate_limit_per_address = 8
    built = build_services(settings, templates, clock)
    yield built
    built.close()


def _clients(services: Services, *peers: str) -> list[TestClient]:
    """Clients of one application, each connecting from its own address."""
    app = create_app(services)
    return [TestClient(app, client=(peer, 40000)) for peer in peers]


def _is_429(response: Response) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json()["status"] == 429


def test_each_key_and_each_source_address_has_a_limit(limited: Services) -> None:
    a = make_tenant(limited, "Tenant A")
    b = make_tenant(limited, "Tenant B")
    client, other = _clients(limited, "198.51.100.1", "198.51.100.2")
    codes = [client.get("/v1/lists", headers=a.headers).status_code for _ in range(5)]
    assert codes == [200] * 5
    _is_429(client.get("/v1/lists", headers=a.headers))
    assert "API key" in client.get("/v1/lists", headers=a.headers).json()["detail"]
    # Another key from the same address still has its own allowance...
    assert client.get("/v1/lists", headers=b.headers).status_code == 200
    assert client.get("/v1/lists", headers=b.headers).status_code == 429  # address: 8 used
    _is_429(client.get("/v1/lists", headers=b.headers))
    # ...and the address limit is per address.
    assert other.get("/v1/lists", headers=b.headers).status_code == 200


def test_wrong_api_keys_are_throttled_per_source_address(limited: Services) -> None:
    a = make_tenant(limited, "Tenant A")
    limited.settings.api_rate_limit_per_address = 1000
    client, other = _clients(limited, "203.0.113.9", "203.0.113.10")
    codes = [
        client.get(
            "/v1/lists", headers={"Authorization": f"Bearer ck_live_guess{i:04d}"}
        ).status_code
        for i in range(60)
    ]
    # Not 60 plain 401s at full speed: after a few, the address must wait.
    assert codes.count(401) <= 11
    assert codes[-1] == 429
    throttled = client.get("/v1/lists", headers={"Authorization": "Bearer ck_live_x"})
    _is_429(throttled)
    assert "wrong API keys" in throttled.json()["detail"]
    # While it waits, even a valid key is not looked at from that address.
    assert client.get("/v1/lists", headers=a.headers).status_code == 429
    # Another address is not affected.
    assert other.get("/v1/lists", headers=a.headers).status_code == 200
