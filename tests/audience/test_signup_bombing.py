"""Issue 18 item 5: the sign-up form cannot mail-bomb an address.

12 posts for one address from rotating X-Forwarded-For values gave 12
confirmation emails. Now an address gets at most one confirmation per 10
minutes and a few per day, whoever asks, and X-Forwarded-For is believed
only from the configured trusted proxies.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from courriel.audience.models import ConsentRecord
from courriel.config import Settings
from courriel.core.clock import FrozenClock
from courriel.delivery.models import SpoolMessage
from courriel.services import Services
from courriel.web.app import create_app
from tests.support.databases import Templates, build_services
from tests.support.tenants import TenantAccess, make_tenant

VICTIM = "victim@gmail.test"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC))


@pytest.fixture
def timed(settings: Settings, templates: Templates, clock: FrozenClock) -> Iterator[Services]:
    settings.trusted_proxies = ["10.0.0.0/8"]
    built = build_services(settings, templates, clock)
    yield built
    built.close()


def _client(services: Services, peer: str) -> TestClient:
    return TestClient(create_app(services), client=(peer, 40000))


def _form(client: TestClient, who: TenantAccess) -> str:
    list_id = client.post(
        "/v1/lists",
        json={"name": "News", "purpose": "Monthly letter", "double_opt_in": True},
        headers=who.headers,
    ).json()["id"]
    form = client.post(
        f"/v1/lists/{list_id}/forms",
        json={"title": "Join", "consent_text": "I agree"},
        headers=who.headers,
    ).json()
    return re.sub(r"^https?://[^/]+", "", form["hosted_url"])


def _post(client: TestClient, path: str, email: str, forwarded: str) -> int:
    page = client.get(path, headers={"X-Forwarded-For": forwarded})
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    response = client.post(
        path,
        data={"email": email, "consent": "yes", "csrf": csrf.group(1)},
        headers={"X-Forwarded-For": forwarded},
    )
    return int(response.status_code)


def _sent_to(services: Services, address: str) -> int:
    with services.storage.spool() as session:
        return sum(1 for r in session.scalars(select(SpoolMessage.rcpt_to)) if r == address)


def test_one_address_gets_one_confirmation_per_ten_minutes_and_a_few_per_day(
    timed: Services, clock: FrozenClock
) -> None:
    tenant = make_tenant(timed, "Tenant A")
    with _client(timed, "10.0.0.1") as client:
        path = _form(client, tenant)
        # The attack: 12 posts for one address, each from another forwarded address.
        codes = [_post(client, path, VICTIM, f"203.0.113.{i}") for i in range(12)]
        # Same answer every time (no hint about the address), one email.
        assert codes == [200] * 12
        assert _sent_to(timed, VICTIM) == 1
        clock.advance(minutes=11)
        assert _post(client, path, VICTIM, "203.0.113.50") == 200
        assert _sent_to(timed, VICTIM) == 2
        for _ in range(5):
            clock.advance(minutes=11)
            _post(client, path, VICTIM, "203.0.113.51")
        # A few per day, however patient the attacker.
        assert _sent_to(timed, VICTIM) == 3
        clock.advance(hours=24)
        _post(client, path, VICTIM, "203.0.113.52")
        assert _sent_to(timed, VICTIM) == 4
        # Other addresses are not held back by the victim's limit.
        assert _post(client, path, "someone@gmail.test", "203.0.113.53") == 200
        assert _sent_to(timed, "someone@gmail.test") == 1


def test_forwarded_for_is_believed_only_from_trusted_proxies(
    timed: Services, clock: FrozenClock
) -> None:
    tenant = make_tenant(timed, "Tenant A")
    # Not a trusted proxy: rotating X-Forwarded-For does not escape the per-IP limit.
    with _client(timed, "198.51.100.7") as client:
        path = _form(client, tenant)
        codes = [_post(client, path, f"p{i}@gmail.test", f"203.0.113.{i}") for i in range(12)]
        assert codes[:10] == [200] * 10
        assert codes[10:] == [429, 429]
    with timed.storage.tenant(tenant.tenant.id)() as session:
        ips = set(session.scalars(select(ConsentRecord.ip)))
    assert ips == {"198.51.100.7"}
    # Behind a trusted proxy, each forwarded client is counted (and recorded) on its own.
    with _client(timed, "10.0.0.1") as client:
        codes = [_post(client, path, f"q{i}@gmail.test", f"192.0.2.{i}") for i in range(12)]
        assert codes == [200] * 12
    with timed.storage.tenant(tenant.tenant.id)() as session:
        recorded = set(session.scalars(select(ConsentRecord.ip)))
    assert "192.0.2.11" in recorded
